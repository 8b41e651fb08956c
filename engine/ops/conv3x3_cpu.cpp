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
// products with the padding) with the weights transposed here.

// GCC 12's _mm512_reduce_add_ps passes an intentionally undefined vector (-Wuninitialized).
#pragma GCC diagnostic ignored "-Wuninitialized"
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
  return weights * (1 + weight_tasks(g));
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
    else direct_conv(pl, g.n, g.k, g.c, dy, wt, nullptr, dx);
  }
  if (!dw) return;
  if (small) return conv3x3_small_weight(g, dy, x, dw, ws + g.k * g.c * kTaps);
  // dw = sum of the tasks' partials (task 0 writes dw itself), added in task order in double.
  const int64_t tasks = weight_tasks(g), elems = g.k * g.c * kTaps;
  float* parts = ws + elems;  // tasks 1.. : [K][C][9] each
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
