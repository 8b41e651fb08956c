// Direct F32 3x3 convolution (stride 1, padding 1, no dilation, one group) with AVX-512, for the
// narrow channels and small images where im2col + GEMM spends as long writing the column matrix
// as multiplying it (the Fashion-MNIST demo nets: 8-128 channels, 28x28 down to 4x4; issue 17).
// Other CPUs, dtypes and shapes keep the im2col + GEMM path (conv_cpu.cpp).
//
// No im2col: an image plane is seen as a flat row of P*Q pixels, and with stride 1 and padding 1
// tap (r, s) of output pixel j reads input pixel j + (r - 1) W + (s - 1); a mask per tap and
// 16-pixel vector zeroes the lanes that fall into the padding (and past the plane: masked lanes
// are not read). Vectors of consecutive "slots" (image, 16-pixel vector) form a tile, so that 4x4
// planes of several images fill one tile. Sums run in another order than the GEMM path's (last
// bits differ), the same in every run for a given thread count. 4x4, 7x7 and 14x14 planes with
// channel counts that are multiples of 16 go to conv3x3_small_cpu.cpp (lanes over output channels, no
// products with the padding) with the weights transposed here. On larger planes with wide channels
// the forward and input gradient put output channels in the lanes (direct_conv_out_lanes, same
// bits as the pixel-lanes tile), and the weight gradient input channels (weight_grad_blocked): on
// the Xeon with two 512-bit FMA ports the pixel-lanes tiles' masked loads that split cache lines
// and their horizontal sums cost more than the multiply-adds (1 thread, batch 8, 64->64 56x56:
// forward 15.5 -> 13.9 ms, weight gradient 22.5 -> 14.0 ms; the FMA peak is 175 GFLOP/s).

// GCC 12's _mm512_reduce_add_ps and unpack intrinsics pass an intentionally undefined vector.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "engine/cpu/features.h"
#include "engine/cpu/parallel.h"
#include "engine/ops/detail/conv3x3_direct_avx512.h"
#include "engine/ops/detail/conv3x3_small_cpu.h"
#include "engine/ops/detail/conv_cpu.h"
#include "engine/ops/detail/transpose_cpu.h"

namespace nkd::ops::detail {
namespace {

using namespace direct3x3;  // the pieces shared with the stride-2 kernel

// Planes below 16 pixels (3x3 and smaller) would leave most lanes of a vector empty, and at 512
// channels the GEMM is as fast or faster (except on the small-plane kernel's planes, below). F32 GFLOP/s, one thread, CPU time, 2-core AMD EPYC
// (AVX-512), shared machine; direct / im2col + GEMM (forward, backward data, backward weight):
//   batch 128: 16->16 28x28 80/75/77 vs 38/34/45     32->32 14x14 84/82/75 vs 63/56/57
//              64->64 7x7   78/76/63 vs 63/59/62     128->128 4x4 98/97/81 vs 56/56/57
//   batch 8:   64->64 56x56 100/83/87 vs 70/72/71    128->128 28x28 99/97/86 vs 87/84/83
//              256->256 14x14 85/89/79 vs 85/83/90   512->512 7x7 53/70/59 vs 78/75/78
constexpr int64_t kMaxChannels = 256;
// The small-plane kernel stays ahead of the GEMM at 512 channels too (ResNet layer4, 7x7). CPU ms,
// batch 8, one thread, 2-core Xeon (family 6 model 207), OpenBLAS SkylakeX kernels; forward, backward
// data, backward weight: small 12.5 / 12.4 / 11.5, im2col + GEMM 15.8 / 15.5 / 14.9.
constexpr int64_t kMaxSmallChannels = 512;
constexpr int64_t kMinPixels = 16;
// The forward and backward-data sums run over blocks of 16 input channels (channel_block<9>(): 144
// products each), the blocks' sums added in order: one running sum over all C * 9 products lost 2-5x
// more precision than im2col + GEMM (measured against F64 at 128 and 256 channels), enough to fail the train-mode
// ResNet-50 parity test (tests/nets/parity_torchvision.cpp, ill-conditioned at batch 2).
static_assert(channel_block<kTaps>() == 16);

// The planes' geometry: the plane as vectors, and tap t = 3 r + s at the flat offset (r - 1) W + (s - 1),
// masked where it falls into the padding.
struct Plane {
  Grid gr;
  Taps<kTaps> tp;

  Plane(int64_t h, int64_t w) : gr(h, w), tp(taps(gr)) {}
  static Taps<kTaps> taps(const Grid& gr) {
    int plane[kTaps] = {}, dr[kTaps], ds[kTaps];
    for (int t = 0; t < kTaps; ++t) {
      dr[t] = t / 3 - 1;
      ds[t] = t % 3 - 1;
    }
    return Taps<kTaps>(gr, plane, dr, ds);
  }
};

// out [N, cout, P, Q] = the direct convolution of in [N, cin, P, Q] with wt [cin][9][cout] (+ bias):
// the shared tile (direct3x3::tile), three 16-pixel slots and up to 8 output channels at a time.
void direct_conv(const Plane& pl, int64_t n, int64_t cin, int64_t cout, const float* in, const float* wt,
                 const float* bias, float* out) {
  constexpr int64_t kVb = 3;
  const Operands op{in, cin, pl.gr.pq, wt, bias, out, cout, pl.gr.pq};
  const int64_t slots = n * pl.gr.nv, groups = (slots + kVb - 1) / kVb;
  const int64_t work = cin * cout * kTaps * kVb * kLanes;  // multiply-adds per slot group
  cpu::parallel_for(groups, std::max<int64_t>(1, (int64_t{1} << 20) / work), [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t s0 = g * kVb, left = std::min(kVb, slots - s0);
      if (left == 3) tile_channels<kTaps, 3>(pl.gr, pl.tp, op, s0);
      else if (left == 2) tile_channels<kTaps, 2>(pl.gr, pl.tp, op, s0);
      else tile_channels<kTaps, 1>(pl.gr, pl.tp, op, s0);
    }
  });
}

// r[l] = 16 pixels of channel l -> r[p] = the 16 channels of pixel p.
[[gnu::target("avx512f"), gnu::always_inline]] inline void transpose16(__m512 (&r)[kLanes]) {
  __m512 t[kLanes];
  for (int i = 0; i < kLanes; i += 2) {  // per 128-bit quarter: (a0 b0 a1 b1), (a2 b2 a3 b3)
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < kLanes; i += 4) {  // r[i + m], quarter q: pixel 4 q + m of channels i .. i + 3
    const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
    const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int m = 0; m < 4; ++m) {  // pixel 4 q + m = quarter q of r[m], r[4 + m], r[8 + m], r[12 + m]
    const __m512 u0 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88), u1 = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xDD);
    const __m512 v0 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xDD);
    t[m] = _mm512_shuffle_f32x4(u0, v0, 0x88);
    t[8 + m] = _mm512_shuffle_f32x4(u0, v0, 0xDD);
    t[4 + m] = _mm512_shuffle_f32x4(u1, v1, 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(u1, v1, 0xDD);
  }
  for (int p = 0; p < kLanes; ++p) r[p] = t[p];
}

// The same convolution with the output channels in the lanes (cin and cout multiples of 16), for
// the Xeon's two 512-bit FMA ports: the pixel-lanes tile above spends a masked load that splits a
// cache line, a mask load and a broadcast per 8 multiply-adds. Here the input is copied once into
// zero-padded planes (row width Q + 2), so a tap needs no mask; a tile is 7 pixels of a row x 32
// output channels, and per tap row the 9 input pixels under it are each broadcast once for all
// three taps (42 multiply-adds per 6 weight loads and 9 broadcasts). Each output's sum runs over
// the same products in the same order as tile<9, KB, VB> (blocks of 16 input channels, taps in
// order, the padding's zeros included, blocks added in order, bias last): the same bits.
constexpr int kRowPixels = 7;  // pixels of a tile: 56 and 28 are multiples
constexpr int64_t kStripRows = 8;  // output rows of a task
constexpr int64_t kPadSlack = 16;  // the last tile of a row may read (not store) past the plane

// tot[p][16 v + lane] (row stride ts) = (first ? 0 : tot) + sum over c < nc and taps t of
// wp[c][t][16 v + lane] * in[c][pixel p + tap t]: in at the tile's first pixel in its first padded
// plane, wp the weights of the tile's 16 KV output channels packed [c][9][16 KV] (constant offsets).
template <int KV>
[[gnu::target("avx512f")]] void row_tile(const float* in, int64_t pw, int64_t W, const float* wp, int64_t nc,
                                         float* tot, int64_t ts, bool first) {
  constexpr int PB = kRowPixels;
  __m512 acc[PB][KV];
#pragma GCC unroll 8
  for (int p = 0; p < PB; ++p)
#pragma GCC unroll 2
    for (int v = 0; v < KV; ++v) acc[p][v] = _mm512_setzero_ps();
  for (int64_t c = 0; c < nc; ++c, in += pw, wp += kTaps * KV * kLanes) {
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
      __m512 wv[3][KV];
#pragma GCC unroll 3
      for (int s = 0; s < 3; ++s)
#pragma GCC unroll 2
        for (int v = 0; v < KV; ++v) wv[s][v] = _mm512_loadu_ps(wp + ((3 * r + s) * KV + v) * kLanes);
      __m512 xb[PB + 2];
#pragma GCC unroll 9
      for (int u = 0; u < PB + 2; ++u) xb[u] = _mm512_set1_ps(in[r * W + u]);
      // tap by tap, so that an accumulator's next multiply-add comes 16 KV multiply-adds later
#pragma GCC unroll 3
      for (int s = 0; s < 3; ++s)
#pragma GCC unroll 8
        for (int p = 0; p < PB; ++p)
#pragma GCC unroll 2
          for (int v = 0; v < KV; ++v) acc[p][v] = _mm512_fmadd_ps(wv[s][v], xb[p + s], acc[p][v]);
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < PB; ++p)
#pragma GCC unroll 2
    for (int v = 0; v < KV; ++v) {
      float* d = tot + p * ts + v * kLanes;
      _mm512_storeu_ps(d, first ? acc[p][v] : _mm512_add_ps(_mm512_loadu_ps(d), acc[p][v]));
    }
}

// The output channel block of 32 (or a last one of 16) that starts at channel k.
int64_t out_block(int64_t cout, int64_t k) { return k + 2 * kLanes <= cout ? 2 * kLanes : kLanes; }

// o[k][j] (plane stride pq) = tot[j][k] (+ bias[k]) for j < Q, k < cout, by 16 x 16 transposes.
[[gnu::target("avx512f")]] void write_row(const float* tot, int64_t Q, int64_t cout, const float* bias, float* o,
                                          int64_t pq) {
  for (int64_t k0 = 0; k0 < cout; k0 += kLanes)
    for (int64_t j0 = 0; j0 < Q; j0 += kLanes) {
      const __mmask16 m = first_lanes(Q - j0);
      __m512 r[kLanes];
#pragma GCC unroll 16
      for (int p = 0; p < kLanes; ++p) r[p] = _mm512_maskz_loadu_ps(m & (1u << p) ? 0xFFFF : 0, tot + (j0 + p) * cout + k0);
      transpose16(r);
#pragma GCC unroll 16
      for (int l = 0; l < kLanes; ++l)
        _mm512_mask_storeu_ps(o + (k0 + l) * pq + j0, m, bias ? _mm512_add_ps(r[l], _mm512_set1_ps(bias[k0 + l])) : r[l]);
    }
}

// out = direct_conv's result for cin and cout multiples of 16; ws: cin 9 cout floats (the weights
// packed per output block).
void direct_conv_out_lanes(const Plane& pl, int64_t n, int64_t cin, int64_t cout, const float* in, const float* wt,
                           const float* bias, float* out, float* ws) {
  const int64_t P = pl.gr.p, Q = pl.gr.q, pq = pl.gr.pq, W = Q + 2;
  float* wp = ws;  // [output block][cin][9][block]
  for (int64_t k0 = 0; k0 < cout; k0 += out_block(cout, k0)) {
    const int64_t kb = out_block(cout, k0);
    for (int64_t c = 0; c < cin; ++c)
      for (int t = 0; t < kTaps; ++t)
        std::copy_n(wt + (c * kTaps + t) * cout + k0, kb, wp + k0 * cin * kTaps + (c * kTaps + t) * kb);
  }
  // Tasks of kStripRows output rows of one image; each pads the input rows under its strip (in L2).
  const int64_t strips = (P + kStripRows - 1) / kStripRows, sw = (kStripRows + 2) * W;
  const int64_t qr = (Q + kRowPixels - 1) / kRowPixels * kRowPixels;  // the row rounded up to whole tiles
  const int64_t work = kStripRows * qr * cout * cin * kTaps;
  cpu::parallel_for(n * strips, std::max<int64_t>(1, (int64_t{1} << 20) / work), [&](int64_t s0, int64_t s1) {
    std::vector<float> xp(cin * sw + kPadSlack, 0.0f);  // [cin][strip rows + 2][W], zero-padded
    std::vector<float> tot(qr * cout);                  // one output row, [pixel][channel]
    for (int64_t task = s0; task < s1; ++task) {
      const int64_t img = task / strips, i0 = task % strips * kStripRows, i1 = std::min(P, i0 + kStripRows);
      for (int64_t c = 0; c < cin; ++c)
        for (int64_t a = i0 - 1; a <= i1; ++a) {  // input row a at strip row a - i0 + 1
          float* o = xp.data() + c * sw + (a - i0 + 1) * W;
          if (a < 0 || a >= P) std::fill(o, o + W, 0.0f);
          else std::copy_n(in + (img * cin + c) * pq + a * Q, Q, o + 1);  // the columns 0, W-1 stay 0
        }
      for (int64_t i = i0; i < i1; ++i) {
        const float* xi = xp.data() + (i - i0) * W;
        for (int64_t c0 = 0; c0 < cin; c0 += channel_block<kTaps>()) {
          const int64_t nc = std::min(cin - c0, channel_block<kTaps>());
          for (int64_t k = 0; k < cout; k += out_block(cout, k)) {
            const int64_t kb = out_block(cout, k);
            const float* w = wp + k * cin * kTaps + c0 * kTaps * kb;
            for (int64_t j = 0; j < Q; j += kRowPixels) {
              float* t = tot.data() + j * cout + k;
              if (kb == 2 * kLanes) row_tile<2>(xi + c0 * sw + j, sw, W, w, nc, t, cout, c0 == 0);
              else row_tile<1>(xi + c0 * sw + j, sw, W, w, nc, t, cout, c0 == 0);
            }
          }
        }
        write_row(tot.data(), Q, cout, bias, out + img * cout * pq + i * Q, pq);
      }
    }
  });
}

// Below 64 input channels the tile's fixed costs (padding, packing, the transposed store) do not
// pay, nor does a last block of 16 output channels (1 thread: the demo's 16->16 28x28 forward at
// batch 128 4.8 ms against 4.1, 32->32 20x30 batch 8 0.89 against 0.85, 32->48 1.39 against 1.16).
bool out_lanes(int64_t cin, int64_t cout) { return cin % kLanes == 0 && cin >= 4 * kLanes && cout % (2 * kLanes) == 0; }

// part[k][c][t] += sum over images [n0, n1) and their vectors of dy[image][k][16 v ..] *
// x[image][c][16 v + off[t] ..] for k in [k0, k0 + KB): the weight gradient of one input channel and
// KB output channels. Planes of up to 4 vectors (7x7 and smaller) walk the images inside each
// vector, so that the vector's masks stay in registers (128->128 4x4: 62 -> 80 GFLOP/s); larger
// planes walk the vectors inside each image (64->64 56x56: 85 against 56 the other way).
template <int KB>
[[gnu::target("avx512f")]] void weight_tile(const Plane& pl, int64_t C, int64_t K, const float* dy, const float* x,
                                            int64_t k0, int64_t c, int64_t n0, int64_t n1, float* part) {
  __m512 acc[KB][kTaps];
#pragma GCC unroll 4
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 9
    for (int t = 0; t < kTaps; ++t) acc[k][t] = _mm512_setzero_ps();
  const int64_t pq = pl.gr.pq, dy_step = K * pq, x_step = C * pq;
  const float* gp0 = dy + (n0 * K + k0) * pq;
  const float* xp0 = x + (n0 * C + c) * pq;
  if (pl.gr.nv <= 4) {
    for (int64_t v = 0; v < pl.gr.nv; ++v) {
      __mmask16 m[kTaps];
      int64_t off[kTaps];
#pragma GCC unroll 9
      for (int t = 0; t < kTaps; ++t) {
        m[t] = pl.tp.mask[t * pl.gr.nv + v];
        off[t] = pl.tp.off[t] + v * kLanes;
      }
      const __mmask16 tail = pl.gr.tail(v);
      const float *gp = gp0 + v * kLanes, *xp = xp0;
      for (int64_t n = n0; n < n1; ++n, gp += dy_step, xp += x_step) weight_step<KB>(acc, gp, pq, tail, xp, m, 1, off);
    }
  } else {
    for (int64_t n = n0; n < n1; ++n, gp0 += dy_step, xp0 += x_step)
      for (int64_t v = 0; v < pl.gr.nv; ++v)
        weight_step<KB>(acc, gp0 + v * kLanes, pq, pl.gr.tail(v), xp0 + v * kLanes, pl.tp.mask.data() + v, pl.gr.nv, pl.tp.off);
  }
#pragma GCC unroll 4
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 9
    for (int t = 0; t < kTaps; ++t) part[((k0 + k) * C + c) * kTaps + t] += _mm512_reduce_add_ps(acc[k][t]);
}

// part [K][C][9] (zeroed here) = the weight gradient summed over images [n0, n1), in chunks of
// images whose dy and x fit in L2 (each chunk's sums are reduced to scalars and added in order), but
// at least 96 vectors (reducing the 27 accumulators costs about as much as 8 vectors' multiply-adds).
void weight_grad_range(const Plane& pl, int64_t C, int64_t K, const float* dy, const float* x, int64_t n0, int64_t n1,
                       float* part) {
  std::fill(part, part + K * C * kTaps, 0.0f);
  const int64_t chunk = std::max((int64_t{512} << 10) / ((K + C) * pl.gr.nv * kLanes * 4), (96 + pl.gr.nv - 1) / pl.gr.nv);
  for (int64_t a = n0; a < n1; a += chunk) {
    const int64_t b = std::min(n1, a + chunk);
    for (int64_t c = 0; c < C; ++c) {
      int64_t k = 0;
      for (; k + 3 <= K; k += 3) weight_tile<3>(pl, C, K, dy, x, k, c, a, b, part);
      for (; k < K; ++k) weight_tile<1>(pl, C, K, dy, x, k, c, a, b, part);
    }
  }
}

// The weight gradient with the input channels in the lanes (C a multiple of 16): one image's x is
// copied once into xb [C/16][(P+2)(Q+2)][16], zero-padded and channel-blocked, so that every tap of
// every pixel is one 64-byte load with neither a mask nor a cache-line split, and dy is read as
// broadcasts from its own planes. acc[k][t] (16 input channels) += dy[k][pixel] * xb[pixel + tap t]:
// 27 multiply-adds per 9 vector loads and 3 broadcasts, and no sums across lanes (the lanes are
// the gradient's own channels). 1 thread, batch 8, 64->64 56x56: 134 GFLOP/s against 80 for
// weight_grad_range (masked loads that split cache lines, a horizontal sum per output).
constexpr int64_t kStripPixels = 256;  // each lane sums about this many products before the total

// xb [C/16][(P+2)(Q+2)][16] = x [C][P][Q] zero-padded by one pixel, 16 channels a pixel.
[[gnu::target("avx512f")]] void pad_channel_blocks(int64_t C, int64_t P, int64_t Q, const float* x, float* xb) {
  const int64_t W = Q + 2, pw = (P + 2) * W;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t cb = 0; cb < C; cb += kLanes) {
    float* o = xb + cb * pw;
    for (int64_t j = 0; j < W; ++j) {
      _mm512_storeu_ps(o + j * kLanes, zero);
      _mm512_storeu_ps(o + ((P + 1) * W + j) * kLanes, zero);
    }
    for (int64_t i = 0; i < P; ++i) {
      float* row = o + (i + 1) * W * kLanes;
      _mm512_storeu_ps(row, zero);
      _mm512_storeu_ps(row + (W - 1) * kLanes, zero);
      const float* src = x + cb * P * Q + i * Q;
      for (int64_t j0 = 0; j0 < Q; j0 += kLanes) {
        const __mmask16 m = first_lanes(Q - j0);
        __m512 r[kLanes];
#pragma GCC unroll 16
        for (int l = 0; l < kLanes; ++l) r[l] = _mm512_maskz_loadu_ps(m, src + l * P * Q + j0);
        transpose16(r);
        for (int64_t p = 0; p < std::min<int64_t>(kLanes, Q - j0); ++p) _mm512_storeu_ps(row + (j0 + p + 1) * kLanes, r[p]);
      }
    }
  }
}

// part[k0 + k][t][16 channels] += sum over the pixels of rows [i0, i1) of one image of
// dy[k0 + k][pixel] * xb[pixel + tap t] for k < KB, from one channel block of xb.
template <int KB>
[[gnu::target("avx512f")]] void weight_block(int64_t P, int64_t Q, int64_t i0, int64_t i1, const float* dy,
                                             const float* xb, float* part, int64_t C) {
  const int64_t W = Q + 2, pq = P * Q;
  int64_t off[kTaps];
  for (int t = 0; t < kTaps; ++t) off[t] = ((t / 3) * W + t % 3) * kLanes;
  __m512 acc[KB][kTaps];
#pragma GCC unroll 4
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 9
    for (int t = 0; t < kTaps; ++t) acc[k][t] = _mm512_setzero_ps();
  for (int64_t i = i0; i < i1; ++i) {
    const float* g = dy + i * Q;
    const float* xr = xb + i * W * kLanes;
    for (int64_t j = 0; j < Q; ++j, xr += kLanes) {
      __m512 gv[KB];
#pragma GCC unroll 4
      for (int k = 0; k < KB; ++k) gv[k] = _mm512_set1_ps(g[k * pq + j]);
#pragma GCC unroll 9
      for (int t = 0; t < kTaps; ++t) {
        __m512 xv = _mm512_loadu_ps(xr + off[t]);
        asm("" : "+v"(xv));  // one load for the KB multiply-adds (GCC would fold it into each)
#pragma GCC unroll 4
        for (int k = 0; k < KB; ++k) acc[k][t] = _mm512_fmadd_ps(gv[k], xv, acc[k][t]);
      }
    }
  }
#pragma GCC unroll 4
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 9
    for (int t = 0; t < kTaps; ++t) {
      float* d = part + (k * kTaps + t) * C;
      _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), acc[k][t]));
    }
}

// part [K][9][C] (zeroed here) = the weight gradient summed over images [n0, n1): image by image,
// strip of rows by strip (each lane sums about kStripPixels products, the strips' sums added to part
// in order; the strip's padded rows stay in L1 for all output channels); xb: C (P+2)(Q+2) floats of scratch.
void weight_grad_blocked(const Plane& pl, int64_t C, int64_t K, const float* dy, const float* x, int64_t n0,
                         int64_t n1, float* part, float* xb) {
  const int64_t P = pl.gr.p, Q = pl.gr.q, pq = pl.gr.pq, pw = (P + 2) * (Q + 2);
  const int64_t rows = std::max<int64_t>(1, kStripPixels / Q);
  std::fill(part, part + K * kTaps * C, 0.0f);
  for (int64_t n = n0; n < n1; ++n) {
    pad_channel_blocks(C, P, Q, x + n * C * pq, xb);
    const float* g = dy + n * K * pq;
    for (int64_t i0 = 0; i0 < P; i0 += rows) {
      const int64_t i1 = std::min(P, i0 + rows);
      for (int64_t cb = 0; cb < C; cb += kLanes) {
        const float* xc = xb + cb * pw;
        int64_t k = 0;
        for (; k + 3 <= K; k += 3) weight_block<3>(P, Q, i0, i1, g + k * pq, xc, part + k * kTaps * C + cb, C);
        for (; k < K; ++k) weight_block<1>(P, Q, i0, i1, g + k * pq, xc, part + k * kTaps * C + cb, C);
      }
    }
  }
}

bool weight_blocked(const ConvGeom& g) { return g.c % kLanes == 0; }

// Threads the weight gradient splits the batch over (each sums its own partial), as make_plan in
// conv_cpu.cpp decides for the GEMM path: below ~2M multiply-adds per thread, one.
int64_t weight_tasks(const ConvGeom& g) {
  const int64_t macs = g.n * g.k * g.c * kTaps * g.p * g.q;
  return std::clamp<int64_t>(macs / (int64_t{1} << 21), 1, std::min<int64_t>(g.n, cpu::max_threads()));
}

}  // namespace

bool conv3x3_direct_applicable(const ConvGeom& g) {
  return g.r == 3 && g.s == 3 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 1 && g.pad_w == 1 &&
         g.dil_h == 1 && g.dil_w == 1 && g.groups == 1 && g.p == g.h && g.q == g.w &&
         g.p * g.q >= kMinPixels && cpu::has_avx512f() &&
         ((g.c <= kMaxChannels && g.k <= kMaxChannels) ||
          (conv3x3_small_applicable(g) && g.c <= kMaxSmallChannels && g.k <= kMaxSmallChannels));
}

int64_t conv3x3_direct_workspace_elems(const ConvGeom& g) {
  const int64_t weights = g.c * kTaps * g.k;
  if (conv3x3_small_applicable(g)) return weights + conv3x3_small_weight_workspace_elems(g);
  const int64_t task = weights + (weight_blocked(g) ? g.c * (g.h + 2) * (g.w + 2) : 0);
  const int64_t padded = out_lanes(g.c, g.k) ? weights : 0;  // the weights packed per output block
  return weights + std::max(weight_tasks(g) * task, padded);
}

void conv3x3_direct_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, float* ws) {
  // wt [K / B][C][9][B]: w [K][C 9] transposed per block of B output channels (the small kernel's
  // block, else all K), 16 rows of w at a time.
  const bool small = conv3x3_small_applicable(g);
  const int64_t block = small ? conv3x3_small_block(g.k) : g.k, row = g.c * kTaps;
  float* wt = ws;
  cpu::parallel_for((g.k + 15) / 16, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t k = r0 * 16; k < std::min(g.k, r1 * 16); k += 16) {
      const int64_t first = k / block * block;
      transpose_tiles(std::min<int64_t>(16, g.k - k), row, w + k * row, row, 1, wt + first * row + k - first, block);
    }
  });
  if (small) return conv3x3_small(g.h, g.w, g.n, g.c, g.k, x, wt, b, y);
  if (out_lanes(g.c, g.k)) return direct_conv_out_lanes(Plane(g.h, g.w), g.n, g.c, g.k, x, wt, b, y, ws + g.c * kTaps * g.k);
  direct_conv(Plane(g.h, g.w), g.n, g.c, g.k, x, wt, b, y);
}

// dx[c][j] = sum over k, taps t of w[k][c][t] dy[k][j - off[t]] = the direct convolution of dy with
// the filters transposed and flipped (tap t reads offset off[8 - t] = -off[t]).
void conv3x3_direct_backward(const ConvGeom& g, const float* dy, const float* x, const float* w, float* dx, float* dw,
                             float* ws) {
  const Plane pl(g.h, g.w);
  const bool small = conv3x3_small_applicable(g);
  if (dx) {
    // wt [C / B][K][9][B]: each w[k] [C][9] transposed, taps reversed, per block of B input channels.
    const int64_t block = small ? conv3x3_small_block(g.c) : g.c;
    float* wt = ws;
    cpu::parallel_for(g.k, 16, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k)
        for (int64_t c = 0; c < g.c; c += block)
          transpose_tiles(block, kTaps, w + (k * g.c + c) * kTaps + kTaps - 1, kTaps, -1,
                          wt + (c * g.k + k * block) * kTaps, block);
    });
    if (small) conv3x3_small(g.h, g.w, g.n, g.k, g.c, dy, wt, nullptr, dx);
    else if (out_lanes(g.k, g.c)) direct_conv_out_lanes(pl, g.n, g.k, g.c, dy, wt, nullptr, dx, ws + g.k * kTaps * g.c);
    else direct_conv(pl, g.n, g.k, g.c, dy, wt, nullptr, dx);
  }
  if (!dw) return;
  if (small) return conv3x3_small_weight(g, dy, x, dw, ws + g.k * g.c * kTaps);
  // dw = sum of the tasks' partials, added in task order in double.
  const int64_t tasks = weight_tasks(g), elems = g.k * g.c * kTaps;
  if (weight_blocked(g)) {
    const int64_t task_elems = elems + g.c * (g.h + 2) * (g.w + 2);
    float* parts = ws + elems;  // per task: [K][9][C], then its padded x
    cpu::parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        float* part = parts + t * task_elems;
        weight_grad_blocked(pl, g.c, g.k, dy, x, g.n * t / tasks, g.n * (t + 1) / tasks, part, part + elems);
      }
    });
    for (int64_t k = 0; k < g.k; ++k)
      for (int64_t c = 0; c < g.c; ++c)
        for (int t = 0; t < kTaps; ++t) {
          const int64_t i = (k * kTaps + t) * g.c + c;
          double acc = parts[i];
          for (int64_t task = 1; task < tasks; ++task) acc += parts[task * task_elems + i];
          dw[(k * g.c + c) * kTaps + t] = static_cast<float>(acc);
        }
    return;
  }
  float* parts = ws + elems;  // tasks 1.. : [K][C][9] each (task 0 writes dw itself)
  cpu::parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n0 = g.n * t / tasks, n1 = g.n * (t + 1) / tasks;
      weight_grad_range(pl, g.c, g.k, dy, x, n0, n1, t == 0 ? dw : parts + (t - 1) * elems);
    }
  });
  if (tasks == 1) return;
  for (int64_t i = 0; i < elems; ++i) {
    double acc = dw[i];
    for (int64_t t = 1; t < tasks; ++t) acc += parts[(t - 1) * elems + i];
    dw[i] = static_cast<float>(acc);
  }
}

}  // namespace nkd::ops::detail
