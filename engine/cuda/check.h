// Check macros for every CUDA, cuBLAS, cuDNN and NCCL call, and the launch check that follows every
// kernel launch. A failure throws nkd::CudaError naming the expression, the library's error string
// and file:line. Include only from GPU sources (engine/cuda/, *_cuda.cu, *_cudnn.cpp,
// *_cublas.cpp); each library's status-string function must be declared where its macro is used.
#pragma once
#include <cuda_runtime_api.h>

#include "engine/check.h"

namespace nkd::cuda::detail {
[[noreturn]] void throw_gpu_error(const char* expr, const char* lib, int code, const char* what,
                                  const char* file, int line);
// Prints "nkd: CUDA warning: ..." to stderr; for destructors and other no-throw paths.
void warn_gpu_error(const char* expr, int code, const char* what, const char* file, int line);
// After a launch: with NKD_CUDA_DEBUG_SYNC=1, synchronises the device and checks for errors.
void sync_after_launch_if_debug(const char* file, int line);
}  // namespace nkd::cuda::detail

#define NKD_GPU_CHECK_GEN(expr, success, lib, to_string)                                      \
  do {                                                                                        \
    const auto nkd_status_ = (expr);                                                          \
    if (nkd_status_ != (success))                                                             \
      ::nkd::cuda::detail::throw_gpu_error(#expr, lib, static_cast<int>(nkd_status_),         \
                                           to_string(nkd_status_), __FILE__, __LINE__);       \
  } while (0)

#define NKD_CUDA_CHECK(expr) NKD_GPU_CHECK_GEN(expr, cudaSuccess, "CUDA", cudaGetErrorString)
#define NKD_CUBLAS_CHECK(expr) \
  NKD_GPU_CHECK_GEN(expr, CUBLAS_STATUS_SUCCESS, "cuBLAS", cublasGetStatusString)
#define NKD_CUDNN_CHECK(expr) \
  NKD_GPU_CHECK_GEN(expr, CUDNN_STATUS_SUCCESS, "cuDNN", cudnnGetErrorString)
#define NKD_NCCL_CHECK(expr) NKD_GPU_CHECK_GEN(expr, ncclSuccess, "NCCL", ncclGetErrorString)

// After every <<<...>>>: reports a bad launch configuration at once, and with
// NKD_CUDA_DEBUG_SYNC=1 also an asynchronous fault at the kernel that caused it.
#define NKD_CUDA_CHECK_LAUNCH()                                          \
  do {                                                                   \
    NKD_CUDA_CHECK(cudaGetLastError());                                  \
    ::nkd::cuda::detail::sync_after_launch_if_debug(__FILE__, __LINE__); \
  } while (0)

// For destructors: logs a failed CUDA call and carries on (never throws).
#define NKD_CUDA_WARN(expr)                                                                   \
  do {                                                                                        \
    const cudaError_t nkd_status_ = (expr);                                                   \
    if (nkd_status_ != cudaSuccess)                                                           \
      ::nkd::cuda::detail::warn_gpu_error(#expr, static_cast<int>(nkd_status_),               \
                                          cudaGetErrorString(nkd_status_), __FILE__, __LINE__); \
  } while (0)
