// Direct F32 3x3 convolution (stride 1, padding 1) for small planes, 4x4, 7x7 and 14x14, with
// AVX-512 (issue 17: the Fashion-MNIST nets' last three stages; 14x14 also ResNets at 224 px). The general direct kernel
// (conv3x3_cpu.cpp) puts output pixels in the lanes: a 7x7 plane fills 49 of 64 lanes, and every
// lane multiplies all 9 taps, also those that fall into the padding (a 4x4 plane has 100 valid
// products of 144, a 7x7 one 361 of 441). Here the lanes run over 16 output channels and the
// input pixel is broadcast, and the plane's size is a template parameter: which taps of which
// pixel are valid is known at compile time, so the padding costs nothing and every lane is used.
// The weight gradient puts the output channels of dy in the lanes the same way (dy transposed
// to [N][K / B][P*Q][B] first), which also leaves no sums across lanes to reduce.
//
// Tuned on a 2-core Xeon (family 6 model 207, two 512-bit FMA ports; issue 17): both kernels read
// their operand blocks at offsets known at compile time (weights [K / B][C][9][B], dy as above),
// keep the block a thread reuses in L1 / L2 (the loop orders below), and stay under the instruction
// cache (the weight gradient unrolls a row, not a plane). 256->256 14x14 and 512->512 7x7, batch 8:
// 145-165 GFLOP/s a thread in the three passes (FMA peak ~175), from 65-75 (14x14) and the GEMM's ~120 (7x7).
//
// Sums: forward / backward data per block of 16 input channels, the blocks' sums added in order
// (the precision reason is in conv3x3_cpu.cpp); the weight gradient per chunk of images (about
// 256 products a lane), the chunks' sums added in order. Each output is summed by one thread in a
// fixed order: the results do not depend on the thread count. The forward and input gradient sum
// in the same order as conv3x3_cpu.cpp's kernel (the same bits); the weight gradient does not.
#include "engine/ops/detail/conv3x3_small_cpu.h"

#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <utility>

#include "engine/cpu/parallel.h"
#include "engine/ops/detail/transpose_cpu.h"

namespace nkd::ops::detail {
namespace {

constexpr int kTaps = 9;
constexpr int kLanes = 16;
constexpr int64_t kChannelBlock = 16;
// The weight gradient's lanes sum about this many products before they are added to the total.
constexpr int64_t kChunkProducts = 256;

#pragma GCC push_options
#pragma GCC target("avx512f")
#define NKD_INLINE __attribute__((always_inline))
#define NKD_CONST(i) std::remove_cvref_t<decltype(i)>::value  // an unroll index as a constant

// f(std::integral_constant<int, i>) for i = 0 .. N-1, unrolled.
template <int N, typename F>
NKD_INLINE inline void unroll(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) NKD_INLINE {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

template <int H, int W>
struct Grid {
  static constexpr int kPixels = H * W;
  // Tap t = 3 r + s of output pixel j reads input pixel j + off(t) when valid(j, t).
  static constexpr int off(int t) { return (t / 3 - 1) * W + (t % 3 - 1); }
  static constexpr bool valid(int j, int t) {
    const int r = j / W + t / 3 - 1, s = j % W + t % 3 - 1;
    return r >= 0 && r < H && s >= 0 && s < W;
  }
};

// out[k][P0 + p] for k < 16 KV and p < PB = bias[k] + sum over ci < cin and the valid taps t of
// wt[ci][t][k] * in[ci][P0 + p + off(t)]; in is one image's [cin][H W], out its [cout][H W] from
// the block's first channel, wt the block's [cin][9][16 KV]. PB x KV accumulators.
template <int H, int W, int P0, int PB, int KV>
[[gnu::noinline]] void conv_block(int64_t cin, const float* in, const float* wt, const float* bias, float* out) {
  constexpr int B = KV * kLanes;
  using G = Grid<H, W>;
  alignas(64) float total[PB][KV * kLanes];
  for (int64_t c0 = 0; c0 < cin; c0 += kChannelBlock) {
    const int64_t c1 = std::min(cin, c0 + kChannelBlock);
    __m512 acc[PB][KV];
    unroll<PB>([&](auto p) NKD_INLINE { unroll<KV>([&](auto v) NKD_INLINE { acc[p][v] = _mm512_setzero_ps(); }); });
    for (int64_t ci = c0; ci < c1; ++ci) {
      const float* x = in + ci * G::kPixels;
      const float* w = wt + ci * kTaps * B;
      unroll<kTaps>([&](auto t) NKD_INLINE {
        __m512 wv[KV];
        unroll<KV>([&](auto v) NKD_INLINE { wv[v] = _mm512_loadu_ps(w + t * B + v * kLanes); });
        unroll<PB>([&](auto p) NKD_INLINE {
          if constexpr (G::valid(P0 + NKD_CONST(p), NKD_CONST(t))) {
            const __m512 xb = _mm512_set1_ps(x[P0 + p + G::off(t)]);
            unroll<KV>([&](auto v) NKD_INLINE { acc[p][v] = _mm512_fmadd_ps(xb, wv[v], acc[p][v]); });
          }
        });
      });
    }
    // The first block's sums are kept, the later ones added to them.
    unroll<PB>([&](auto p) NKD_INLINE {
      unroll<KV>([&](auto v) NKD_INLINE {
        float* d = &total[p][v * kLanes];
        _mm512_store_ps(d, c0 == 0 ? acc[p][v] : _mm512_add_ps(_mm512_load_ps(d), acc[p][v]));
      });
    });
  }
  for (int64_t k = 0; k < KV * kLanes; ++k)
    for (int p = 0; p < PB; ++p) out[k * G::kPixels + P0 + p] = bias ? total[p][k] + bias[k] : total[p][k];
}

// One image's plane and output channels [0, 16 KV) (pointers as conv_block's), in blocks of PB pixels.
template <int H, int W, int PB, int KV>
void conv_plane(int64_t cin, const float* in, const float* wt, const float* bias, float* out) {
  constexpr int pixels = H * W;
  unroll<(pixels + PB - 1) / PB>([&](auto b) {
    constexpr int p0 = NKD_CONST(b) * PB;
    conv_block<H, W, p0, std::min(PB, pixels - p0), KV>(cin, in, wt, bias, out);
  });
}

// Which taps of a row's pixels are valid: the first row (Top) has none above, the last (Bottom) none
// below; the rows between (Middle) lose only the columns past the edges.
enum class Row { Top, Middle, Bottom };

template <int W>
constexpr bool row_valid(Row row, int col, int t) {
  const int dr = t / 3 - 1, s = col + t % 3 - 1;
  return !(row == Row::Top && dr < 0) && !(row == Row::Bottom && dr > 0) && s >= 0 && s < W;
}

// acc[t][v] += g[col][16 v ..] * x[col + off(t)] over the W pixels of one output row (g: [W][16 KV],
// the row's dy block; x at the row's first pixel). Unrolled over a row, not the plane: a 14x14 plane
// unrolled was 43 KB of code, more than the instruction cache holds.
template <int W, Row R, int KV>
NKD_INLINE inline void weight_row(__m512 (&acc)[kTaps][KV], const float* g, const float* xp) {
  unroll<W>([&](auto col) NKD_INLINE {
    // Pixels next to each other read the same x values: left to itself, GCC keeps those broadcasts
    // in registers across pixels and spills the accumulators. An opaque pointer per pixel stops it.
    asm("" : "+r"(xp));
    __m512 gv[KV];
    unroll<KV>([&](auto v) NKD_INLINE { gv[v] = _mm512_loadu_ps(g + (col * KV + v) * kLanes); });
    unroll<kTaps>([&](auto t) NKD_INLINE {
      if constexpr (row_valid<W>(R, NKD_CONST(col), NKD_CONST(t))) {
        const __m512 xb = _mm512_set1_ps(xp[col + (t / 3 - 1) * W + t % 3 - 1]);
        unroll<KV>([&](auto v) NKD_INLINE { acc[t][v] = _mm512_fmadd_ps(xb, gv[v], acc[t][v]); });
      }
    });
  });
}

// part[t][k] for k < 16 KV (part: [9][16 KV]) = sum over images [n0, n1), pixels j and the valid taps t
// of dyt[n][j][k] * x[n][c][j + off(t)], kept (first) or added to part; dyt is the block's [H W][16 KV]
// of image 0 (image n at n K H W), x [N][C][H W] at channel c. 9 x KV accumulators.
template <int H, int W, int KV>
[[gnu::noinline]] void weight_block(int64_t n0, int64_t n1, int64_t C, int64_t K, const float* dyt, const float* x,
                                    float* part, bool first) {
  constexpr int row = W * KV * kLanes;  // floats of one output row's dy block
  __m512 acc[kTaps][KV];
  unroll<kTaps>([&](auto t) NKD_INLINE { unroll<KV>([&](auto v) NKD_INLINE { acc[t][v] = _mm512_setzero_ps(); }); });
  for (int64_t img = n0; img < n1; ++img) {
    const float* g = dyt + img * H * W * K;
    const float* xp = x + img * C * H * W;
    weight_row<W, Row::Top>(acc, g, xp);
    for (int r = 1; r < H - 1; ++r) weight_row<W, Row::Middle>(acc, g + r * row, xp + r * W);
    weight_row<W, Row::Bottom>(acc, g + (H - 1) * row, xp + (H - 1) * W);
  }
  unroll<kTaps>([&](auto t) NKD_INLINE {
    unroll<KV>([&](auto v) NKD_INLINE {
      float* d = part + (t * KV + v) * kLanes;
      _mm512_store_ps(d, first ? acc[t][v] : _mm512_add_ps(_mm512_load_ps(d), acc[t][v]));
    });
  });
}

#undef NKD_INLINE
#undef NKD_CONST
#pragma GCC pop_options

// Output channels per block: 32 (blocks of 8 pixels on 4x4 planes, 10 on 7x7 and 14x14: 16 and 20
// accumulators), else 16 (24 pixels). Measured, 1 thread, batch 128, 128->128 4x4 / 64->64 7x7
// forward ms: 64 channels x 6 pixels 5.0 / 3.7, x 4 pixels 5.6 / 4.4; 32 x 8 4.3 / 3.8, 32 x 10
// - / 3.55, 32 x 12 5.0 / 4.05; 32 x 14 - / 4.5.
int lane_vectors(int64_t channels) { return channels % 32 == 0 ? 2 : 1; }

template <int H, int W>
void conv_planes(int64_t n, int64_t cin, int64_t cout, const float* in, const float* wt, const float* bias,
                 float* out) {
  constexpr int64_t pixels = H * W;
  const int kv = lane_vectors(cout);
  const int64_t block = kv * kLanes, blocks = cout / block, units = n * blocks;
  const int64_t work = cin * kTaps * pixels * block;  // multiply-adds per unit
  cpu::parallel_for(units, std::max<int64_t>(1, (int64_t{1} << 20) / work), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      // Block-major: a block's weights (cin x 9 x 16 kv floats) are read from L2 for all the images.
      const int64_t img = u % n, k0 = u / n * block;
      const float* src = in + img * cin * pixels;
      float* dst = out + (img * cout + k0) * pixels;
      const float* b = bias ? bias + k0 : nullptr;
      const float* w = wt + k0 * cin * kTaps;  // the block's [cin][9][16 kv]
      if (kv == 2) conv_plane<H, W, H == 4 ? 8 : 10, 2>(cin, src, w, b, dst);
      else conv_plane<H, W, 24, 1>(cin, src, w, b, dst);
    }
  });
}

// The weight gradient's units are (block of output channels, input channel), in that order; a
// thread's consecutive units of one block go in groups of up to kGroup input channels that walk the
// chunks of images outside the channels, so that the chunk's dyt columns (up to 16 KV x H W x chunk
// floats) stay in L1 for all of them, and the group's partial sums too (a [C][9][K] array for them
// cost 15% at 512 channels 7x7). Each output still sums its chunks in order (the same bits for any
// split).
template <int H, int W>
void weight_planes(const ConvGeom& g, const float* dyt, const float* x, float* dw) {
  constexpr int64_t kGroup = 16;
  constexpr int64_t pixels = H * W;
  constexpr int64_t chunk = std::max<int64_t>(1, kChunkProducts / pixels);  // images
  const int kv = lane_vectors(g.k);
  const int64_t block = kv * kLanes, units = g.k / block * g.c;
  const int64_t work = g.n * pixels * kTaps * block;
  cpu::parallel_for(units, std::max<int64_t>(1, (int64_t{1} << 20) / work), [&](int64_t u0, int64_t u1) {
    alignas(64) float part[kGroup * kTaps * 2 * kLanes];  // [group][9][block]
    for (int64_t u = u0; u < u1;) {
      const int64_t k0 = u / g.c * block, c0 = u % g.c, c1 = std::min({g.c, c0 + (u1 - u), c0 + kGroup});
      for (int64_t n0 = 0; n0 < g.n; n0 += chunk) {
        const int64_t n1 = std::min(g.n, n0 + chunk);
        for (int64_t c = c0; c < c1; ++c) {
          float* d = part + (c - c0) * kTaps * block;
          const float* gk = dyt + k0 * pixels;
          if (kv == 2) weight_block<H, W, 2>(n0, n1, g.c, g.k, gk, x + c * pixels, d, n0 == 0);
          else weight_block<H, W, 1>(n0, n1, g.c, g.k, gk, x + c * pixels, d, n0 == 0);
        }
      }
      // The group's sums are complete: to dw [K][C 9].
      transpose_tiles((c1 - c0) * kTaps, block, part, block, 1, dw + (k0 * g.c + c0) * kTaps, g.c * kTaps);
      u += c1 - c0;
    }
  });
}

}  // namespace

int64_t conv3x3_small_block(int64_t cout) { return kLanes * lane_vectors(cout); }

bool conv3x3_small_applicable(const ConvGeom& g) {
  const bool plane = g.h == g.w && (g.h == 4 || g.h == 7 || g.h == 14);
  return plane && g.c % kLanes == 0 && g.k % kLanes == 0;
}

void conv3x3_small(int64_t h, [[maybe_unused]] int64_t w, int64_t n, int64_t cin, int64_t cout, const float* in,
                   const float* wt, const float* bias, float* out) {
  if (h == 4) return conv_planes<4, 4>(n, cin, cout, in, wt, bias, out);
  if (h == 7) return conv_planes<7, 7>(n, cin, cout, in, wt, bias, out);
  conv_planes<14, 14>(n, cin, cout, in, wt, bias, out);
}

int64_t conv3x3_small_weight_workspace_elems(const ConvGeom& g) { return g.n * g.p * g.q * g.k; }

void conv3x3_small_weight(const ConvGeom& g, const float* dy, const float* x, float* dw, float* ws) {
  const int64_t pixels = g.p * g.q;
  // dyt [N][K / B][P Q][B] in blocks of B = 16 KV output channels: a block's row is at constant
  // offsets (no strides computed at run time in the kernel).
  const int64_t block = conv3x3_small_block(g.k);
  float* dyt = ws;
  cpu::parallel_for(g.n * g.k / block, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      transpose_tiles(block, pixels, dy + b * block * pixels, pixels, 1, dyt + b * block * pixels, block);
  });
  if (g.h == 4) weight_planes<4, 4>(g, dyt, x, dw);
  else if (g.h == 7) weight_planes<7, 7>(g, dyt, x, dw);
  else weight_planes<14, 14>(g, dyt, x, dw);
}

}  // namespace nkd::ops::detail
