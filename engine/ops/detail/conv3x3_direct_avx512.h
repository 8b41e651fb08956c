// The pieces the direct AVX-512 3x3 convolutions share (conv3x3_cpu.cpp: stride 1,
// conv3x3s2_cpu.cpp: stride 2 on parity planes): an output plane as 16-pixel vectors, taps as
// constant flat offsets with a mask per tap and vector, the forward tile summed per block of input
// channels, and one vector's step of the weight gradient. Include only from those files (AVX-512
// code, taken at run time when cpu::has_avx512f()).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace nkd::ops::detail::direct3x3 {

constexpr int64_t kLanes = 16;
constexpr int kTaps = 9;

// The sums of the forward run over blocks of 16 input channels (x 9 taps), added in order
// (the precision reason is in conv3x3_cpu.cpp: one running sum lost 2-5x against im2col + GEMM).
// That is 144 products per block; the backward data's parity planes have fewer taps (1, 2, 2, 4), so
// their blocks take more channels for the same count (fewer partial sums stored and reloaded:
// 64->128 7x7 backward data 3.67 -> 3.33 ms, 1 thread; the 128-channel precision test still holds).
template <int NT>
constexpr int64_t channel_block() {
  return 16 * (kTaps / NT);
}

inline __mmask16 first_lanes(int64_t n) {
  return n >= kLanes ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : static_cast<__mmask16>((1u << n) - 1);
}

// The output plane [P, Q] (and each parity plane) as nv vectors of 16 pixels.
struct Grid {
  int64_t p, q, pq, nv;
  Grid(int64_t p_, int64_t q_) : p(p_), q(q_), pq(p_ * q_), nv((p_ * q_ + kLanes - 1) / kLanes) {}
  __mmask16 tail(int64_t v) const { return first_lanes(pq - v * kLanes); }
};

// NT taps: tap t of output pixel j = (row, col) reads in[plane[t] * P*Q + j + dr[t] Q + ds[t]] of
// the input channel, masked where (row + dr, col + ds) is outside the [P, Q] plane.
template <int NT>
struct Taps {
  int64_t off[NT];
  std::vector<__mmask16> mask;  // [NT][nv]

  Taps(const Grid& gr, const int* plane, const int* dr, const int* ds) : mask(NT * gr.nv, 0) {
    for (int t = 0; t < NT; ++t) {
      off[t] = plane[t] * gr.pq + dr[t] * gr.q + ds[t];
      for (int64_t j = 0; j < gr.pq; ++j) {
        const int64_t a = j / gr.q + dr[t], b = j % gr.q + ds[t];
        if (a >= 0 && a < gr.p && b >= 0 && b < gr.q)
          mask[t * gr.nv + j / kLanes] |= static_cast<__mmask16>(1u << (j % kLanes));
      }
    }
  }
};

// One direct convolution's operands: in[(n cin + c) istride + ...], wt [cin][NT][cout] (the filters
// rearranged), out[(n cout + k) ostride + j] for j < P*Q, bias [cout] or null.
struct Operands {
  const float* in;
  int64_t cin, istride;
  const float* wt;
  const float* bias;
  float* out;
  int64_t cout, ostride;
};

// out[k][slot] for k in [k0, k0 + KB) and the VB slots (image, vector) from s0 = bias[k] +
//   sum over c < cin, taps t of wt[c][t][k] * in[image][c][off[t] + 16 v ..] (masked),
// summed per block of channel_block<NT>() input channels.
template <int NT, int KB, int VB>
[[gnu::target("avx512f")]] void tile(const Grid& gr, const Taps<NT>& tp, const Operands& op, int64_t k0,
                                     int64_t s0) {
  const float* src[VB];
  int64_t vi[VB];
  float* dst[VB];
#pragma GCC unroll 4
  for (int v = 0; v < VB; ++v) {
    const int64_t n = (s0 + v) / gr.nv;
    vi[v] = (s0 + v) % gr.nv;
    src[v] = op.in + n * op.cin * op.istride + vi[v] * kLanes;
    dst[v] = op.out + (n * op.cout + k0) * op.ostride + vi[v] * kLanes;
  }
  for (int64_t c0 = 0; c0 < op.cin; c0 += channel_block<NT>()) {
    const int64_t c1 = std::min(op.cin, c0 + channel_block<NT>());
    __m512 acc[KB][VB];
#pragma GCC unroll 8
    for (int k = 0; k < KB; ++k)
#pragma GCC unroll 4
      for (int v = 0; v < VB; ++v) acc[k][v] = _mm512_setzero_ps();
    for (int64_t c = c0; c < c1; ++c) {
      const float* wc = op.wt + c * NT * op.cout + k0;
      const int64_t base = c * op.istride;
#pragma GCC unroll 9
      for (int t = 0; t < NT; ++t) {
        __m512 xv[VB];
#pragma GCC unroll 4
        for (int v = 0; v < VB; ++v)
          xv[v] = _mm512_maskz_loadu_ps(tp.mask[t * gr.nv + vi[v]], src[v] + base + tp.off[t]);
        const float* wk = wc + t * op.cout;
#pragma GCC unroll 8
        for (int k = 0; k < KB; ++k) {
          const __m512 wb = _mm512_set1_ps(wk[k]);
#pragma GCC unroll 4
          for (int v = 0; v < VB; ++v) acc[k][v] = _mm512_fmadd_ps(wb, xv[v], acc[k][v]);
        }
      }
    }
    // The first block's sums are stored, the later ones added to them; the bias comes last.
#pragma GCC unroll 8
    for (int k = 0; k < KB; ++k) {
#pragma GCC unroll 4
      for (int v = 0; v < VB; ++v) {
        float* d = dst[v] + k * op.ostride;
        const __mmask16 tail = gr.tail(vi[v]);
        __m512 r = acc[k][v];
        if (c0 > 0) r = _mm512_add_ps(_mm512_maskz_loadu_ps(tail, d), r);
        if (c1 == op.cin && op.bias) r = _mm512_add_ps(r, _mm512_set1_ps(op.bias[k0 + k]));
        _mm512_mask_storeu_ps(d, tail, r);
      }
    }
  }
}

template <int NT, int VB>
inline void tile_channels(const Grid& gr, const Taps<NT>& tp, const Operands& op, int64_t s0) {
  int64_t k = 0;
  for (; k + 8 <= op.cout; k += 8) tile<NT, 8, VB>(gr, tp, op, k, s0);
  for (; k < op.cout; ++k) tile<NT, 1, VB>(gr, tp, op, k, s0);
}

// acc[k][t] += dy vector k * the x vector at tap t (masked): one vector of the weight gradient.
template <int KB>
[[gnu::target("avx512f"), gnu::always_inline]] inline void weight_step(__m512 (&acc)[KB][kTaps], const float* gp,
                                                                      int64_t pq, __mmask16 tail, const float* xp,
                                                                      const __mmask16* m, int64_t m_stride,
                                                                      const int64_t* off) {
  __m512 g[KB];
#pragma GCC unroll 4
  for (int k = 0; k < KB; ++k) g[k] = _mm512_maskz_loadu_ps(tail, gp + k * pq);
#pragma GCC unroll 9
  for (int t = 0; t < kTaps; ++t) {
    const __m512 xv = _mm512_maskz_loadu_ps(m[t * m_stride], xp + off[t]);
#pragma GCC unroll 4
    for (int k = 0; k < KB; ++k) acc[k][t] = _mm512_fmadd_ps(g[k], xv, acc[k][t]);
  }
}

}  // namespace nkd::ops::detail::direct3x3
