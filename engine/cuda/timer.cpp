// StreamTimer: two timing events around the work queued on the compute stream; ProfileRange: an
// NVTX push/pop pair.
#include "engine/cuda/timer.h"

#include <nvtx3/nvToolsExt.h>

#include "engine/cuda/context.h"
#include "engine/cuda/device.h"

namespace nkd::cuda {

struct StreamTimer::Events {
  Event start{true}, stop{true};
};

StreamTimer::StreamTimer(Device device) : device_(device), events_(std::make_unique<Events>()) {
  init(device);
  DeviceGuard guard(device.index);
  events_->start.record(context(device.index).compute_stream());
}

StreamTimer::~StreamTimer() = default;

double StreamTimer::stop_ms() {
  DeviceGuard guard(device_.index);
  events_->stop.record(context(device_.index).compute_stream());
  events_->stop.synchronize();  // SYNC: the caller asked for the elapsed time
  return events_->stop.elapsed_ms(events_->start);
}

ProfileRange::ProfileRange(const char* name) { nvtxRangePushA(name); }
ProfileRange::~ProfileRange() { nvtxRangePop(); }

}  // namespace nkd::cuda
