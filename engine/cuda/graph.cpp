// CUDA graph capture and replay on a device's compute stream (graph.h).
#include "engine/cuda/graph.h"

#include <exception>
#include <mutex>

#include "engine/cuda/allocator.h"
#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/cuda/math_mode.h"

namespace nkd::cuda {

std::recursive_mutex& capture_mutex() {
  static auto* m = new std::recursive_mutex();  // leaked: used by threads that may outlive statics
  return *m;
}

namespace gpu {

struct GraphExec {
  cudaGraphExec_t exec = nullptr;
};

namespace {

void destroy_exec(GraphExec* g) {
  if (g == nullptr) return;
  if (g->exec != nullptr) NKD_CUDA_WARN(cudaGraphExecDestroy(g->exec));
  delete g;
}

std::string error_text(const char* what, cudaError_t e) {
  return nkd::detail::cat(what, " returned ", static_cast<int>(e), " (", cudaGetErrorString(e), ")");
}

}  // namespace

std::string capture_graph(Device device, const std::function<void()>& fn,
                          std::unique_ptr<GraphExec, void (*)(GraphExec*)>* out) {
  *out = {nullptr, destroy_exec};
  // The two settings under which a capture cannot succeed, said plainly instead of as CUDA errors.
  if (sync_alloc_enabled()) return "NKD_CUDA_SYNC_ALLOC=1: plain cudaMalloc cannot be captured";
  if (detail::env_flag("NKD_CUDA_DEBUG_SYNC"))
    return "NKD_CUDA_DEBUG_SYNC=1: a device synchronisation after every launch cannot be captured";
  init(device);
  const DeviceGuard guard(device.index);
  const cudaStream_t stream = context(device.index).compute_stream();
  const std::lock_guard<std::recursive_mutex> capturing(capture_mutex());
  const size_t live_before = memory_stats(device.index).live_allocations;
  // Thread-local mode: this thread's unsafe calls (cudaMalloc, a synchronisation) fail the capture
  // instead of running; other threads (the loader's workers) are not affected.
  NKD_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  std::string reason;
  try {
    fn();
  } catch (const std::exception& e) {
    reason = e.what();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (reason.empty() && end != cudaSuccess) reason = error_text("cudaStreamEndCapture", end);
  if (!reason.empty()) {
    if (graph != nullptr) NKD_CUDA_WARN(cudaGraphDestroy(graph));
    (void)cudaGetLastError();  // a capture error is not sticky; clear it for the eager step that follows
    return reason;
  }
  const size_t live_after = memory_stats(device.index).live_allocations;
  if (live_after != live_before) {
    NKD_CUDA_WARN(cudaGraphDestroy(graph));
    NKD_FAIL("CUDA graph capture: ", live_after > live_before ? live_after - live_before : live_before - live_after,
             " device allocations ", live_after > live_before ? "made during the capture outlive it" : "made before the capture were freed during it",
             " (a bug of the captured step: see engine/cuda/graph.h); run without runner.cuda_graph / --cuda-graph");
  }
  auto exec = std::unique_ptr<GraphExec, void (*)(GraphExec*)>(new GraphExec, destroy_exec);
  const cudaError_t inst = cudaGraphInstantiateWithFlags(&exec->exec, graph, 0);
  NKD_CUDA_WARN(cudaGraphDestroy(graph));  // the instantiated graph is independent of it
  if (inst != cudaSuccess) {
    exec->exec = nullptr;
    (void)cudaGetLastError();
    return error_text("cudaGraphInstantiateWithFlags", inst);
  }
  NKD_CUDA_CHECK(cudaGraphUpload(exec->exec, stream));  // the first replay need not upload it
  *out = std::move(exec);
  return "";
}

void launch_graph(Device device, const GraphExec& exec) {
  const DeviceGuard guard(device.index);
  NKD_CUDA_CHECK(cudaGraphLaunch(exec.exec, context(device.index).compute_stream()));
  detail::sync_after_launch_if_debug(__FILE__, __LINE__);
}

}  // namespace gpu
}  // namespace nkd::cuda
