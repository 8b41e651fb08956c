// exp of 8 doubles with AVX-512F, for the vectorised F32 kernels that evaluate in double
// (gelu_cpu.cpp, softmax_cpu.cpp). Include only from code taken when cpu::has_avx512f().
#pragma once
#include <immintrin.h>

namespace nkd::ops::detail::avx512 {

// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 (two-part ln 2, |r| <= 0.347);
// exp(r) by its Taylor polynomial to r^13 (truncation < 5e-18 relative), 2^n by scalef, which
// also gives the subnormal and zero results below x = -708. x < -745 is clamped (the result is 0
// either way), x > 709.8 gives +inf, a NaN stays NaN.
[[gnu::target("avx512f")]] inline __m512d exp_pd(__m512d x) {
  x = _mm512_min_pd(_mm512_set1_pd(710.0), _mm512_max_pd(_mm512_set1_pd(-746.0), x));
  const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(1.4426950408889634)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(6.93147180369123816490e-01), x);
  r = _mm512_fnmadd_pd(n, _mm512_set1_pd(1.90821492927058770002e-10), r);
  // 1/k! for k = 13 .. 0, Horner.
  constexpr double kInvFactorial[] = {1.6059043836821613e-10, 2.08767569878681e-09, 2.505210838544172e-08,
                                      2.755731922398589e-07,  2.7557319223985893e-06, 2.48015873015873e-05,
                                      1.984126984126984e-04,  1.388888888888889e-03,  8.333333333333333e-03,
                                      4.1666666666666664e-02, 1.6666666666666666e-01, 0.5,
                                      1.0,                    1.0};
  __m512d p = _mm512_set1_pd(kInvFactorial[0]);
  for (int k = 1; k < 14; ++k) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kInvFactorial[k]));
  return _mm512_scalef_pd(p, n);
}

}  // namespace nkd::ops::detail::avx512
