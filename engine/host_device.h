// NKD_HD marks scalar math and kernel functors shared by the CPU loops and CUDA kernels.
// This header includes no CUDA header, so CPU-only code can use it.
#pragma once
#if defined(__CUDACC__)
#define NKD_HD __host__ __device__ __forceinline__
#else
#define NKD_HD inline
#endif
