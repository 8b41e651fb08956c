// Typed row-major GEMM over OpenBLAS's CBLAS (cblas_sgemm / cblas_dgemm), used by the matmul and
// conv CPU paths. OpenBLAS is kept single-threaded; gemm_parallel splits one product over the
// engine's OpenMP threads, so one thread pool serves every op (see blas_single_thread_once).
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "engine/check.h"
#include "engine/cpu/blas_core.h"
#include "engine/cpu/parallel.h"

namespace nkd::cpu {

namespace detail {
// Every call into OpenBLAS is single-threaded (set once, process-wide), so calls may come from
// several OpenMP threads at once. OpenBLAS's own pthread pool would otherwise busy-wait after each
// call (its default thread timeout, 2^28 cycles: ~0.1 s at 2.6 GHz) and compete with the OpenMP
// threads of the surrounding loops for the cores. The kernel set is checked first
// (upgrade_blas_core: OpenBLAS 0.3.21 runs SSE3 kernels on CPUs it does not know).
inline void blas_single_thread_once() {
  static const bool done = (upgrade_blas_core(), openblas_set_num_threads(1), true);
  (void)done;
}
inline int blas_int(int64_t v) {
  NKD_ASSERT(v >= 0 && v <= std::numeric_limits<int>::max(), "BLAS dimension ", v, " out of range");
  return static_cast<int>(v);
}
inline void blas_call(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                      const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void blas_call(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda,
                      const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace detail

// c [m, n] = alpha * op(a) [m, k] @ op(b) [k, n] + beta * c; op(x) = x^T when the flag is set.
// Leading dims in elements (row-major). beta == 0 overwrites c (NaNs in c do not propagate).
template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  using detail::blas_int;
  detail::blas_single_thread_once();
  detail::blas_call(ta, tb, blas_int(m), blas_int(n), blas_int(k), alpha, a,
                    blas_int(std::max<int64_t>(lda, 1)), b, blas_int(std::max<int64_t>(ldb, 1)), beta, c,
                    blas_int(std::max<int64_t>(ldc, 1)));
}

// gemm split into column (or row) blocks over the OpenMP threads; each element of c is computed by
// one single-threaded BLAS call whatever the thread count. Products under ~2 MFLOP stay serial.
template <typename T>
void gemm_parallel(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                   const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  constexpr int64_t kMinBlockWork = int64_t{1} << 20;  // multiply-adds per block
  const int64_t work = std::max<int64_t>(m * n * k, 1);
  if (n >= m) {
    const int64_t grain = std::max<int64_t>(16, n * kMinBlockWork / work);
    parallel_for(n, grain, [&](int64_t j0, int64_t j1) {
      gemm(ta, tb, m, j1 - j0, k, alpha, a, lda, tb ? b + j0 * ldb : b + j0, ldb, beta, c + j0, ldc);
    });
  } else {
    const int64_t grain = std::max<int64_t>(16, m * kMinBlockWork / work);
    parallel_for(m, grain, [&](int64_t i0, int64_t i1) {
      gemm(ta, tb, i1 - i0, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc);
    });
  }
}

}  // namespace nkd::cpu
