// Softmax rows of F32 CPU tensors with AVX-512F (detail/act_avx512.h): the same formula as
// math::softmax_row (y = exp(x - m) / sum exp(x - m), m the row maximum, exponentials and sum in
// double, one rounding to F32) with the exponential 8 doubles at a time (detail/exp_avx512.h)
// instead of a libm call per element. The sum runs in 8 lanes, then across them; a row's result
// does not depend on the thread count.
// GCC 12 reports the _mm512_undefined_* operands inside its own AVX-512 intrinsics as maybe
// uninitialised once they are inlined here (a known false positive of the headers).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <vector>

#include "engine/cpu/features.h"
#include "engine/ops/detail/act_avx512.h"
#include "engine/ops/detail/exp_avx512.h"
#include "engine/ops/detail/softmax_math.h"

namespace nkd::ops::detail {
namespace {

[[gnu::target("avx512f")]] inline __mmask8 lanes8(int64_t n) {
  return n >= 8 ? __mmask8(0xFF) : static_cast<__mmask8>((1u << n) - 1);
}

// False when the row holds a NaN or an infinity (x - x is then not 0); else its maximum.
[[gnu::target("avx512f")]] bool finite_max(const float* x, int64_t d, float& max) {
  __m512 m = _mm512_set1_ps(-__builtin_inff());
  __mmask16 bad = 0;
  for (int64_t j = 0; j < d; j += 16) {
    const __mmask16 k = d - j >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (d - j)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(k, x + j);
    bad |= _mm512_mask_cmp_ps_mask(k, _mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_NEQ_UQ);
    m = _mm512_mask_max_ps(m, k, m, v);
  }
  max = _mm512_reduce_max_ps(m);
  return bad == 0;
}

[[gnu::target("avx512f")]] void softmax_rows_impl(const float* x, float* y, int64_t d, int64_t begin,
                                                  int64_t end, double* e) {
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    float max = 0;
    if (!finite_max(xr, d, max)) {
      math::softmax_row<double>(xr, yr, d, 1);
      continue;
    }
    const __m512d m = _mm512_set1_pd(max);
    __m512d s = _mm512_setzero_pd();
    for (int64_t j = 0; j < d; j += 8) {
      const __mmask8 k = lanes8(d - j);
      const __m512d v = _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps(k, xr + j)));
      const __m512d ev = _mm512_maskz_mov_pd(k, avx512::exp_pd(_mm512_sub_pd(v, m)));
      _mm512_storeu_pd(e + j, ev);
      s = _mm512_add_pd(s, ev);
    }
    const __m512d inv = _mm512_set1_pd(1.0 / _mm512_reduce_add_pd(s));
    for (int64_t j = 0; j < d; j += 8) {
      const __m256 yv = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_loadu_pd(e + j), inv));
      _mm512_mask_storeu_ps(yr + j, lanes8(d - j), _mm512_castps256_ps512(yv));
    }
  }
}

}  // namespace

bool softmax_rows_avx512(const float* x, float* y, int64_t d, int64_t begin, int64_t end) {
  if (!cpu::has_avx512f()) return false;
  constexpr int64_t kStackRow = 1024;
  if (d <= kStackRow) {
    alignas(64) double e[kStackRow + 8];
    softmax_rows_impl(x, y, d, begin, end, e);
  } else {
    std::vector<double> e(d + 8);
    softmax_rows_impl(x, y, d, begin, end, e.data());
  }
  return true;
}

}  // namespace nkd::ops::detail
