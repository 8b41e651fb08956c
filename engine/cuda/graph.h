// CUDA graphs: a piece of host code's GPU work (a whole training step) captured once from the
// device's compute stream and replayed with one launch (docs/DECISIONS.md, "CUDA graphs for the
// training step"). CUDA-free header; the inline fronts compile in every build and without CUDA
// capture() reports "built without CUDA".
//
// What a captured function must respect (capture() checks the first two and reports a violation):
// - every device allocation it makes is freed before it returns (activations, gradients, scratch:
//   they become the graph's own memory nodes); what must outlive it (parameters, optimizer state,
//   static inputs and outputs) exists before the capture, and nothing that existed before is freed
//   during it;
// - no host synchronisation and no host<->device copy (item(), to(kCPU), from_vector(...).to(gpu)),
//   no cudaMalloc (NKD_CUDA_SYNC_ALLOC=1), no NKD_CUDA_DEBUG_SYNC: each makes the capture fail;
// - a value passed to a kernel as an argument is frozen at capture: what changes from step to step
//   (the learning rate) is read by the kernels from device memory written before each replay.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "engine/cuda/device.h"

namespace nkd::cuda {

namespace gpu {  // the CUDA build's definitions (graph.cpp)
struct GraphExec;
// Captures fn on device's compute stream; on success *out holds the instantiated graph and the
// result is empty, else it is the reason (the CUDA error, or the exception fn threw).
std::string capture_graph(Device device, const std::function<void()>& fn, std::unique_ptr<GraphExec, void (*)(GraphExec*)>* out);
void launch_graph(Device device, const GraphExec& exec);
}  // namespace gpu

class Graph {
 public:
  Graph() : exec_(nullptr, [](gpu::GraphExec*) {}) {}
  // Runs fn's host code once while its GPU work is recorded instead of executed (so the work of
  // that call still has to be replayed). Returns "" when the graph was captured and instantiated,
  // else why not (then captured() is false and the caller runs the step eagerly). fn must leave no
  // allocation behind (see the header comment); a violation is an nkd::Error, not a reason, since
  // the escaped tensors point at memory that only exists inside the failed graph.
  std::string capture(Device device, const std::function<void()>& fn) {
    device_ = device;
    if constexpr (kBuiltWithCuda) return gpu::capture_graph(device, fn, &exec_);
    return kNoCudaReason;
  }
  bool captured() const { return exec_ != nullptr; }
  // Queues the captured work on the device's compute stream (asynchronous, like the eager step).
  void replay() const {
    NKD_CHECK(captured(), "cuda::Graph::replay: nothing captured");
    if constexpr (kBuiltWithCuda) gpu::launch_graph(device_, *exec_);
  }
  void reset() { exec_.reset(); }

 private:
  Device device_ = kCPU;
  std::unique_ptr<gpu::GraphExec, void (*)(gpu::GraphExec*)> exec_;
};

}  // namespace nkd::cuda
