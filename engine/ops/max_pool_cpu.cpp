#include "engine/ops/detail/max_pool_cpu.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/check.h"
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

#pragma GCC push_options
#pragma GCC target("avx2")

// pool_row for AVX2: 8 output columns per vector, the same taps compared in the same order. The
// even / odd columns of 16 loaded floats come from a shuffle within 128-bit halves and a
// cross-half permute; masked loads and stores keep to the row and the output.
void pool_row_avx2(const pool::Geom& g, const float* xp, int64_t p, float* yrow, int64_t* irow) {
  constexpr int64_t kLanes8 = 8;
  const int64_t W = g.W;
  const int64_t h_lo = std::max<int64_t>(2 * p - 1, 0), h_hi = std::min<int64_t>(2 * p + 2, g.H);
  const __m256i iota = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  const __m256i lane2 = _mm256_slli_epi32(iota, 1);
  const __m256i w_vec = _mm256_set1_epi32(static_cast<int>(W));
  const __m256i minus1 = _mm256_set1_epi32(-1);
  // Lanes l with lo <= l < hi as an all-ones mask.
  auto lanes = [&](int64_t lo, int64_t hi) {
    return _mm256_and_si256(_mm256_cmpgt_epi32(iota, _mm256_set1_epi32(static_cast<int>(lo - 1))),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), iota));
  };
  // A masked 8-float load of row columns [c0, c0 + 8): lanes outside [0, W) are not read.
  auto load = [&](const float* row, int64_t c0) {
    const int64_t lo = std::clamp<int64_t>(-c0, 0, kLanes8), hi = std::clamp<int64_t>(W - c0, 0, kLanes8);
    return _mm256_maskload_ps(row + c0, lanes(lo, hi));
  };
  // The even (or odd) elements of the 16 floats lo, hi, in order.
  auto even = [&](__m256 lo, __m256 hi) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))),
                                                  _MM_SHUFFLE(3, 1, 2, 0)));
  };
  auto odd = [&](__m256 lo, __m256 hi) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))),
                                                  _MM_SHUFFLE(3, 1, 2, 0)));
  };
  for (int64_t q0 = 0; q0 < g.Q; q0 += kLanes8) {
    const int64_t n = std::min(kLanes8, g.Q - q0);
    const __m256i live = lanes(0, n);
    const __m256i c_first = _mm256_add_epi32(lane2, _mm256_set1_epi32(static_cast<int>(2 * q0 - 1)));
    __m256 valid[3];
    for (int s = 0; s < 3; ++s) {
      const __m256i c = _mm256_add_epi32(c_first, _mm256_set1_epi32(s));
      valid[s] = _mm256_castsi256_ps(
          _mm256_and_si256(live, _mm256_and_si256(_mm256_cmpgt_epi32(c, minus1), _mm256_cmpgt_epi32(w_vec, c))));
    }
    __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    // MaxPoolFwd starts from the first valid tap's position.
    __m256i arg = _mm256_add_epi32(_mm256_max_epi32(c_first, _mm256_setzero_si256()),
                                   _mm256_set1_epi32(static_cast<int>(h_lo * W)));
    for (int64_t h = h_lo; h < h_hi; ++h) {
      const float* row = xp + h * W;
      const __m256 a0 = load(row, 2 * q0 - 1), a1 = load(row, 2 * q0 + 7);
      const __m256 b0 = load(row, 2 * q0), b1 = load(row, 2 * q0 + 8);
      const __m256 v[3] = {even(a0, a1), even(b0, b1), odd(b0, b1)};
      const __m256i pos = _mm256_add_epi32(c_first, _mm256_set1_epi32(static_cast<int>(h * W)));
      for (int s = 0; s < 3; ++s) {
        const __m256 take = _mm256_and_ps(
            valid[s], _mm256_or_ps(_mm256_cmp_ps(v[s], best, _CMP_GT_OQ), _mm256_cmp_ps(v[s], v[s], _CMP_UNORD_Q)));
        best = _mm256_blendv_ps(best, v[s], take);
        arg = _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(arg), _mm256_castsi256_ps(_mm256_add_epi32(pos, _mm256_set1_epi32(s))), take));
      }
    }
    _mm256_maskstore_ps(yrow + q0, live, best);
    if (irow) {
      // live's lanes widened to 64 bits for the two 4-index halves.
      const __m256i live_lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(live));
      const __m256i live_hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(live, 1));
      _mm256_maskstore_epi64(reinterpret_cast<long long*>(irow + q0), live_lo,
                             _mm256_cvtepi32_epi64(_mm256_castsi256_si128(arg)));
      _mm256_maskstore_epi64(reinterpret_cast<long long*>(irow + q0 + 4), live_hi,
                             _mm256_cvtepi32_epi64(_mm256_extracti128_si256(arg, 1)));
    }
  }
}

#pragma GCC pop_options

}  // namespace

bool max_pool3x3s2_applicable(const pool::Geom& g) {
  return g.R == 3 && g.S == 3 && g.sh == 2 && g.sw == 2 && g.ph == 1 && g.pw == 1 && g.dh == 1 && g.dw == 1 &&
         g.in_plane() < (int64_t{1} << 31) - 64 && best_pool_isa() != PoolIsa::kNone;
}

PoolIsa best_pool_isa() {
  return cpu::has_avx512f() ? PoolIsa::kAvx512 : cpu::has_avx2() ? PoolIsa::kAvx2 : PoolIsa::kNone;
}

void max_pool3x3s2_forward(const pool::Geom& g, const float* x, float* y, int64_t* idx, PoolIsa isa) {
  NKD_CHECK(isa != PoolIsa::kNone, "max_pool3x3s2_forward: no vector instruction set given");
  const auto row_fn = isa == PoolIsa::kAvx512 ? &pool_row : &pool_row_avx2;
  const int64_t rows = g.planes * g.P;
  const int64_t grain = std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, 9 * g.Q));
  cpu::parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      row_fn(g, x + (r / g.P) * g.in_plane(), r % g.P, y + r * g.Q, idx ? idx + r * g.Q : nullptr);
  });
}

}  // namespace nkd::ops::detail
