// StreamTimer: two timing events around the work queued on the compute stream; ProfileRange: an
// NVTX push/pop pair.
#include "engine/cuda/timer.h"

#include <nvtx3/nvToolsExt.h>

#include "engine/cuda/context.h"
#include "engine/cuda/device.h"

namespace nkd::cuda::gpu {

struct TimerEvents {
  Event start{true}, stop{true};
};

std::shared_ptr<TimerEvents> start_timer(Device device) {
  init(device);
  auto events = std::make_shared<TimerEvents>();
  DeviceGuard guard(device.index);
  events->start.record(context(device.index).compute_stream());
  return events;
}

double stop_timer(Device device, TimerEvents& events) {
  DeviceGuard guard(device.index);
  events.stop.record(context(device.index).compute_stream());
  events.stop.synchronize();  // SYNC: the caller asked for the elapsed time
  return events.stop.elapsed_ms(events.start);
}

void push_range(const char* name) { nvtxRangePushA(name); }
void pop_range() { nvtxRangePop(); }

}  // namespace nkd::cuda::gpu
