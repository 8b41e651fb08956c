// Out-of-line helpers of the CUDA check macros (engine/cuda/check.h).
#include "engine/cuda/check.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nkd::cuda::detail {

void throw_gpu_error(const char* expr, const char* lib, int code, const char* what,
                     const char* file, int line) {
  throw CudaError(nkd::detail::cat(lib, " error ", code, " (", what ? what : "unknown", ") in ",
                                   expr, " at ", file, ":", line));
}

void warn_gpu_error(const char* expr, int code, const char* what, const char* file, int line) {
  std::fprintf(stderr, "nkd: CUDA warning: %s returned %d (%s) at %s:%d\n", expr, code,
               what ? what : "unknown", file, line);
}

void sync_after_launch_if_debug(const char* file, int line) {
  static const bool enabled = [] {
    const char* v = std::getenv("NKD_CUDA_DEBUG_SYNC");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  if (!enabled) return;
  // SYNC: NKD_CUDA_DEBUG_SYNC=1 asks for a fault to be reported at the launch that caused it.
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess)
    throw_gpu_error("cudaDeviceSynchronize() after kernel launch (NKD_CUDA_DEBUG_SYNC=1)", "CUDA",
                    static_cast<int>(e), cudaGetErrorString(e), file, line);
}

}  // namespace nkd::cuda::detail
