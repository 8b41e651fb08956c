// GELU on F32 CPU tensors, 16 elements at a time with AVX-512F (detail/act_avx512.h). Phi(x) is
// evaluated in double:
//   |z| < 0.5 (z = x / sqrt 2):  Phi = 1/2 + erf(z) / 2, erf by its Taylor series to z^17;
//   else:  Phi(-|x|) = erfc(|z|) / 2 = exp(-z^2) r(|z|) / 2, r(z) = erfc(z) exp(z^2) by a
//          degree-12 polynomial in t = 1 / (1 + z) fitted on z in [0.5, 10] (relative error
//          1.2e-9; tools/fit_erfc_scaled.py), z clamped at 10 (Phi(-14.1) is below F32's range).
// Phi(x) for x < 0 is that tail itself, not 1 minus something, so GELU's negative side keeps its
// relative precision (the scalar erf form rounds erf(z) to -1 first). phi(x) = exp(-z^2) / sqrt(2 pi)
// reuses the exponential.
// GCC 12 reports the _mm512_undefined_* operands inside its own AVX-512 intrinsics as maybe
// uninitialised once they are inlined here (a known false positive of the headers).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "engine/cpu/features.h"
#include "engine/ops/detail/act_avx512.h"
#include "engine/ops/detail/exp_avx512.h"

namespace nkd::ops::detail {
namespace {

// 2 / sqrt(pi) (-1)^n / (n! (2n + 1)) for n = 8 .. 0: erf(z) = z sum_n c_n z^(2n).
constexpr double kErfTaylor[] = {
    1.6462114365889246e-06,  -1.492565035840625e-05, 0.00012055332981789664, -0.0008548327023450852,
    0.005223977625442188,    -0.026866170645131252,  0.11283791670955126,    -0.37612638903183754,
    1.1283791670955126};
// r(z) as a polynomial in u = (t - kMid) / kHalf, highest power first (tools/fit_erfc_scaled.py).
constexpr double kMid = 0.3787878787878788, kHalf = 0.28787878787878785;
constexpr double kErfcScaled[] = {
    -4.2633514567569333e-07, 2.2436654830926265e-06,  -2.5016127210619763e-06, -9.8894882512468e-06,
    4.418471395410962e-05,   -5.721621855574456e-05,  -0.00017999481426720366, 0.001027216594404434,
    -0.0009825257371504303,  -0.01030880156236011,    0.03695165045053427,     0.28912112278093766,
    0.30008528178240057};

// Phi(x) and phi(x) of 8 doubles.
[[gnu::target("avx512f")]] inline void phi_pd(__m512d x, __m512d& cdf, __m512d& pdf) {
  const __m512d z = _mm512_mul_pd(x, _mm512_set1_pd(0.70710678118654752440));
  const __m512d z2 = _mm512_mul_pd(z, z);
  const __m512d az = _mm512_abs_pd(z);
  const __m512d e = avx512::exp_pd(_mm512_sub_pd(_mm512_setzero_pd(), z2));  // exp(-z^2)
  pdf = _mm512_mul_pd(e, _mm512_set1_pd(0.39894228040143267794));
  // Near 0: 1/2 + erf(z) / 2.
  __m512d p = _mm512_set1_pd(kErfTaylor[0]);
  for (int k = 1; k < 9; ++k) p = _mm512_fmadd_pd(p, z2, _mm512_set1_pd(kErfTaylor[k]));
  const __m512d near = _mm512_fmadd_pd(_mm512_mul_pd(z, p), _mm512_set1_pd(0.5), _mm512_set1_pd(0.5));
  // The tails: q = Phi(-|x|).
  const __m512d one = _mm512_set1_pd(1.0);
  const __m512d t = _mm512_div_pd(one, _mm512_add_pd(one, _mm512_min_pd(az, _mm512_set1_pd(10.0))));
  const __m512d u = _mm512_mul_pd(_mm512_sub_pd(t, _mm512_set1_pd(kMid)), _mm512_set1_pd(1.0 / kHalf));
  __m512d r = _mm512_set1_pd(kErfcScaled[0]);
  for (int k = 1; k < 13; ++k) r = _mm512_fmadd_pd(r, u, _mm512_set1_pd(kErfcScaled[k]));
  const __m512d q = _mm512_mul_pd(_mm512_mul_pd(e, r), _mm512_set1_pd(0.5));
  const __mmask8 negative = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ);
  const __m512d tail = _mm512_mask_blend_pd(negative, _mm512_sub_pd(_mm512_set1_pd(1.0), q), q);
  const __mmask8 is_near = _mm512_cmp_pd_mask(az, _mm512_set1_pd(0.5), _CMP_LT_OQ);
  cdf = _mm512_mask_blend_pd(is_near, tail, near);
}

[[gnu::target("avx512f")]] inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// GELU (g null) or its gradient of 8 doubles.
[[gnu::target("avx512f")]] inline __m512d gelu_pd(__m512d x, __m512d g, bool backward) {
  __m512d cdf, pdf;
  phi_pd(x, cdf, pdf);
  return backward ? _mm512_mul_pd(g, _mm512_fmadd_pd(x, pdf, cdf)) : _mm512_mul_pd(x, cdf);
}

[[gnu::target("avx512f")]] inline __m512d low_pd(__m512 v) {
  return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}
[[gnu::target("avx512f")]] inline __m512d high_pd(__m512 v) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// out = GELU(x) (g null) or g GELU'(x), 16 floats at a time, the tail masked.
[[gnu::target("avx512f")]] void gelu_impl(const float* x, const float* g, float* out, int64_t n) {
  const bool backward = g != nullptr;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 gv = backward ? _mm512_maskz_loadu_ps(m, g + i) : _mm512_setzero_ps();
    const __m256 lo = _mm512_cvtpd_ps(gelu_pd(low_pd(xv), low_pd(gv), backward));
    const __m256 hi = _mm512_cvtpd_ps(gelu_pd(high_pd(xv), high_pd(gv), backward));
    const __m512 y = _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
    _mm512_mask_storeu_ps(out + i, m, y);
  }
}

}  // namespace

bool gelu_forward_avx512(const float* x, float* y, int64_t n) {
  if (!cpu::has_avx512f()) return false;
  gelu_impl(x, nullptr, y, n);
  return true;
}

bool gelu_backward_avx512(const float* g, const float* x, float* gx, int64_t n) {
  if (!cpu::has_avx512f()) return false;
  gelu_impl(x, g, gx, n);
  return true;
}

}  // namespace nkd::ops::detail
