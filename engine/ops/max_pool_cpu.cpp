#include "engine/ops/detail/max_pool_cpu.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/cpu/features.h"
#include "engine/cpu/parallel.h"

namespace nkd::ops::detail {
namespace {

#pragma GCC push_options
#pragma GCC target("avx512f")

constexpr int64_t kLanes = 16;

// One output row p of one plane. Lane l of a block holds output column q = q0 + l, whose window's
// column s (0, 1, 2) is c = 2 q - 1 + s: the even and odd elements of 32 floats loaded from
// column 2 q0 - 1 (s = 0, 1) and from 2 q0 (s = 1, 2). Per lane the taps are compared in raster
// order with MaxPoolFwd's test (v > best or v is NaN), so values and indices are the same.
void pool_row(const pool::Geom& g, const float* xp, int64_t p, float* yrow,
                                         int64_t* irow) {
  const int64_t W = g.W;
  const int64_t h_lo = std::max<int64_t>(2 * p - 1, 0), h_hi = std::min<int64_t>(2 * p + 2, g.H);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane2 = _mm512_slli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 1);
  // A masked 16-float load of row columns [c0, c0 + 16): lanes outside [0, W) are not read.
  auto load = [&](const float* row, int64_t c0) {
    const int64_t lo = std::clamp<int64_t>(-c0, 0, kLanes), hi = std::clamp<int64_t>(W - c0, 0, kLanes);
    const uint32_t bits = hi > lo ? ((hi == kLanes ? 0xFFFFu : (1u << hi) - 1) & ~((1u << lo) - 1)) : 0u;
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>(bits), row + c0);
  };
  for (int64_t q0 = 0; q0 < g.Q; q0 += kLanes) {
    const int64_t n = std::min(kLanes, g.Q - q0);
    const __mmask16 live = static_cast<__mmask16>(n == kLanes ? 0xFFFFu : (1u << n) - 1);
    const __m512i c_first = _mm512_add_epi32(lane2, _mm512_set1_epi32(static_cast<int>(2 * q0 - 1)));
    __mmask16 valid[3];
    for (int s = 0; s < 3; ++s) {
      const __m512i c = _mm512_add_epi32(c_first, _mm512_set1_epi32(s));
      valid[s] = live & _mm512_cmpge_epi32_mask(c, _mm512_setzero_si512()) &
                 _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32(static_cast<int>(W)));
    }
    __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    // MaxPoolFwd starts from the first valid tap's position.
    __m512i arg = _mm512_add_epi32(_mm512_maskz_max_epi32(0xFFFF, c_first, _mm512_setzero_si512()),
                                   _mm512_set1_epi32(static_cast<int>(h_lo * W)));
    for (int64_t h = h_lo; h < h_hi; ++h) {
      const float* row = xp + h * W;
      const __m512 a0 = load(row, 2 * q0 - 1), a1 = load(row, 2 * q0 + 15);
      const __m512 b0 = load(row, 2 * q0), b1 = load(row, 2 * q0 + 16);
      const __m512 v[3] = {_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(b0, even, b1),
                           _mm512_permutex2var_ps(b0, odd, b1)};
      const __m512i pos = _mm512_add_epi32(c_first, _mm512_set1_epi32(static_cast<int>(h * W)));
      for (int s = 0; s < 3; ++s) {
        const __mmask16 take =
            valid[s] & (_mm512_cmp_ps_mask(v[s], best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v[s], v[s], _CMP_UNORD_Q));
        best = _mm512_mask_mov_ps(best, take, v[s]);
        arg = _mm512_mask_mov_epi32(arg, take, _mm512_add_epi32(pos, _mm512_set1_epi32(s)));
      }
    }
    _mm512_mask_storeu_ps(yrow + q0, live, best);
    if (irow) {
      _mm512_mask_storeu_epi64(irow + q0, static_cast<__mmask8>(live), _mm512_maskz_cvtepi32_epi64(0xFF, _mm512_maskz_extracti64x4_epi64(0xF, arg, 0)));
      _mm512_mask_storeu_epi64(irow + q0 + 8, static_cast<__mmask8>(live >> 8),
                               _mm512_maskz_cvtepi32_epi64(0xFF, _mm512_maskz_extracti64x4_epi64(0xF, arg, 1)));
    }
  }
}

#pragma GCC pop_options

}  // namespace

bool max_pool3x3s2_applicable(const pool::Geom& g) {
  return g.R == 3 && g.S == 3 && g.sh == 2 && g.sw == 2 && g.ph == 1 && g.pw == 1 && g.dh == 1 && g.dw == 1 &&
         g.in_plane() < (int64_t{1} << 31) - 64 && cpu::has_avx512f();
}

void max_pool3x3s2_forward(const pool::Geom& g, const float* x, float* y, int64_t* idx) {
  const int64_t rows = g.planes * g.P;
  const int64_t grain = std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, 9 * g.Q));
  cpu::parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      pool_row(g, x + (r / g.P) * g.in_plane(), r % g.P, y + r * g.Q, idx ? idx + r * g.Q : nullptr);
  });
}

}  // namespace nkd::ops::detail
