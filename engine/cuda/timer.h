// Timing of GPU work with CUDA events on a device's compute stream, and NVTX ranges for profilers.
// CUDA-free header: benchmarks include it in every build; without CUDA (if constexpr on
// kBuiltWithCuda) constructing a timer throws and a range does nothing.
#pragma once
#include <memory>

#include "engine/cuda/device.h"

namespace nkd::cuda {

namespace gpu {  // the CUDA build's definitions (timer.cpp)
struct TimerEvents;
std::shared_ptr<TimerEvents> start_timer(Device device);
double stop_timer(Device device, TimerEvents& events);
void push_range(const char* name);
void pop_range();
}  // namespace gpu

// Records a start event on the device's compute stream when constructed; stop_ms() records the
// end event and returns the milliseconds the stream took between the two.
class StreamTimer {
 public:
  explicit StreamTimer(Device device) : device_(device) {
    if constexpr (kBuiltWithCuda) {
      events_ = gpu::start_timer(device);
    } else {
      NKD_FAIL("cuda::StreamTimer on ", device.str(), ": nkd was ", kNoCudaReason);
    }
  }
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;
  // SYNC: waits for the end event.
  double stop_ms() {
    if constexpr (kBuiltWithCuda) return gpu::stop_timer(device_, *events_);
    return 0;  // not reached: no timer exists without CUDA
  }

 private:
  Device device_;
  std::shared_ptr<gpu::TimerEvents> events_;  // shared_ptr: the type stays incomplete here
};

// A named NVTX range for the scope: Nsight Systems shows it on the timeline and Nsight Compute
// profiles only the kernels inside it with `--nvtx --nvtx-include "NAME/"` (tools/gpu_check.sh,
// step profile). Costs next to nothing when no profiler is attached (NVTX 3, header-only).
class ProfileRange {
 public:
  explicit ProfileRange(const char* name) {
    if constexpr (kBuiltWithCuda) gpu::push_range(name);
  }
  ~ProfileRange() {
    if constexpr (kBuiltWithCuda) gpu::pop_range();
  }
  ProfileRange(const ProfileRange&) = delete;
  ProfileRange& operator=(const ProfileRange&) = delete;
};

}  // namespace nkd::cuda
