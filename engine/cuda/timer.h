// Timing of GPU work with CUDA events on a device's compute stream, and NVTX ranges for profilers.
// CUDA-free header: benchmarks include it in every build; without CUDA (engine/cuda/no_cuda/)
// constructing a timer throws and a range does nothing.
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

// A named NVTX range for the scope: Nsight Systems shows it on the timeline and Nsight Compute
// profiles only the kernels inside it with `--nvtx --nvtx-include "NAME/"` (tools/gpu_check.sh,
// step profile). Costs next to nothing when no profiler is attached (NVTX 3, header-only).
class ProfileRange {
 public:
  explicit ProfileRange(const char* name);
  ~ProfileRange();
  ProfileRange(const ProfileRange&) = delete;
  ProfileRange& operator=(const ProfileRange&) = delete;
};

}  // namespace nkd::cuda
