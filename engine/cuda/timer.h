// Timing of GPU work with CUDA events on a device's compute stream. CUDA-free header: benchmarks
// include it in every build; without CUDA (engine/cuda/no_cuda/) constructing a timer throws.
#pragma once
#include <memory>

#include "engine/device.h"

namespace nkd::cuda {

// Records a start event on the device's compute stream when constructed; stop_ms() records the
// end event and returns the milliseconds the stream took between the two.
class StreamTimer {
 public:
  explicit StreamTimer(Device device);
  ~StreamTimer();
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;
  double stop_ms();  // SYNC: waits for the end event

 private:
  struct Events;
  Device device_;
  std::unique_ptr<Events> events_;
};

}  // namespace nkd::cuda
