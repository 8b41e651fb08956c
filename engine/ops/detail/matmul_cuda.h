// Launchers of the matrix products on CUDA devices (defined in matmul_cublas.cpp: cuBLAS and
// cuBLASLt), called by matmul.cpp only under `if constexpr (kBuiltWithCuda)`: a CPU-only build
// needs no definition. Matrices are row-major views as BLAS reads them (see GemmOperand); T is in
// NKD_ALL_FLOAT_TYPES. F32 products are exact F32 (CUBLAS_COMPUTE_32F) unless cuda::allow_tf32()
// (engine/cuda/math_mode.h); BF16 products accumulate in F32 and round once.
// Each queues work on the device's compute stream and returns at once.
#pragma once
#include <cstdint>

#include "engine/device.h"

namespace nkd::ops::gpu {

// One operand: the first matrix at `data`, stored row-major (trans = false: element (i, j) at
// i * ld + j) or column-major (trans = true: at i + j * ld); matrix b of a batch at
// data + b * batch_stride (elements).
struct GemmOperand {
  const void* data = nullptr;
  bool trans = false;
  int64_t ld = 1;
  int64_t batch_stride = 0;
};

// c[b] = alpha * a[b] @ b[b] + beta * c[b] for b < batch, with a[b] [m, k], b[b] [k, n] and c[b]
// row-major [m, n] with leading dim n at c + b * m * n. m, n, k, batch > 0.
template <typename T>
void gemm(Device device, const GemmOperand& a, const GemmOperand& b, T* c, int64_t m, int64_t n,
          int64_t k, int64_t batch, double alpha, double beta);

// y [rows, out] = x [rows, in] (row-major, contiguous) @ w^T + bias, with w the operand [out, in]
// and bias [out], in one cuBLASLt call (CUBLASLT_EPILOGUE_BIAS). Returns false, doing nothing,
// where cuBLASLt offers no algorithm (e.g. F64): the caller then fills y with the bias and calls
// gemm with beta = 1. rows, in, out > 0.
template <typename T>
bool linear_bias(Device device, const T* x, const GemmOperand& w, const T* bias, T* y, int64_t rows,
                 int64_t in, int64_t out);

}  // namespace nkd::ops::gpu
