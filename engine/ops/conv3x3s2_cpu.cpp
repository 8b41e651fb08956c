// Direct F32 3x3 convolution with stride 2 and padding 1 (no dilation, one group) with AVX-512: the
// downsampling convolutions of the ResNets (issue 17), which im2col + GEMM ran 1.3-2x slower than
// oneDNN at the demo's narrow channels. Other CPUs, dtypes and shapes keep the im2col + GEMM path.
//
// Each input plane [H, W] is split into its four parity planes (even / odd rows x even / odd
// columns), each [P, Q] = [ceil(H/2), ceil(W/2)] like the output (zero where the input has no
// pixel). Tap (r, s) of output pixel (p, q) reads input (2p - 1 + r, 2q - 1 + s): row 2p - 1 is
// row p - 1 of the odd plane, 2p row p of the even one, 2p + 1 row p of the odd one. So with the
// output plane seen as a flat row of P*Q pixels, every tap is again a constant flat offset into one
// parity plane, as in the stride-1 kernel (conv3x3_cpu.cpp), with a mask per tap and 16-pixel
// vector for the padding. Backward data is the transposed operation: parity plane (a, b) of dx gets
// the taps that land on it (1, 2, 2 and 4 taps: offsets 0 or +1 into dy), then the four planes are
// interleaved back into dx. The weight gradient sums dy x the parity planes per tap. Sums run in
// another order than the GEMM path's (last bits differ), the same in every run for a thread count.

// GCC 12's _mm512_reduce_add_ps passes an intentionally undefined vector (-Wuninitialized).
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "engine/cpu/features.h"
#include "engine/cpu/parallel.h"
#include "engine/ops/detail/conv3x3_direct_avx512.h"
#include "engine/ops/detail/conv_cpu.h"
#include "engine/ops/detail/transpose_cpu.h"

namespace nkd::ops::detail {
namespace {

using namespace direct3x3;  // the pieces shared with the stride-1 kernel

constexpr int kPlanes = 4;  // parity planes per channel, index 2 * (row odd) + (column odd)
// At 128->256 channels (ResNet-18's 28x28 layer, batch 8) im2col + GEMM is as fast or faster (CPU ms,
// 1 thread, forward / backward data / backward weight: 10.9 / 11.2 / 12.0 direct, 10.5 / 10.8 / 10.1
// GEMM); at 64->128 56x56 the direct kernel is ahead (10.1 / 10.8 / 11.8 against 11.0 / 12.4 / 11.8).
constexpr int64_t kMaxChannels = 128;

// The forward's taps, t = 3 r + s, on the four parity planes of an input channel.
Taps<kTaps> forward_taps(const Grid& gr) {
  int plane[kTaps], dr[kTaps], ds[kTaps];
  for (int t = 0; t < kTaps; ++t) {
    const int r = t / 3, s = t % 3;
    plane[t] = 2 * (r != 1) + (s != 1);
    dr[t] = r == 0 ? -1 : 0;
    ds[t] = s == 0 ? -1 : 0;
  }
  return Taps<kTaps>(gr, plane, dr, ds);
}

// The taps (r, offset into dy) landing on even (0) or odd (1) rows: even row 2a is tap r = 1 of
// output row a; odd row 2a + 1 is tap 0 of output row a + 1 and tap 2 of output row a.
constexpr int kParityTaps[2] = {1, 2};
constexpr int kParityTap[2][2] = {{1, 0}, {0, 2}};
constexpr int kParityOff[2][2] = {{0, 0}, {1, 0}};

// Parity plane rho's taps in the backward data: NT = 1, 2, 2, 4; tap[i] is the forward tap 3 r + s.
template <int NT>
Taps<NT> backward_taps(const Grid& gr, int rho, int* tap) {
  int plane[NT], dr[NT], ds[NT];
  const int pr = rho / 2, ps = rho % 2;
  int i = 0;
  for (int a = 0; a < kParityTaps[pr]; ++a)
    for (int b = 0; b < kParityTaps[ps]; ++b, ++i) {
      tap[i] = 3 * kParityTap[pr][a] + kParityTap[ps][b];
      plane[i] = 0;
      dr[i] = kParityOff[pr][a];
      ds[i] = kParityOff[ps][b];
    }
  return Taps<NT>(gr, plane, dr, ds);
}

// Memory to bring into L2 while computing (the next chunk's input, which otherwise waits on DRAM
// when it is split or read: 20% of the 16->32 28x28 forward), a slice per step of a loop.
struct Ahead {
  const void* p = nullptr;
  int64_t bytes = 0;

  void slice(int64_t i, int64_t n) const {
    const char* base = static_cast<const char*>(p);
    for (int64_t o = (bytes * i / n) & ~int64_t{63}; o < bytes * (i + 1) / n; o += 64)
      _mm_prefetch(base + o, _MM_HINT_T1);
  }
};

// All output channels of slots [s_begin, s_end), three slots per tile.
template <int NT>
void conv_slots(const Grid& gr, const Taps<NT>& tp, const Operands& op, int64_t s_begin, int64_t s_end,
                const Ahead& ahead = {}) {
  const int64_t groups = (s_end - s_begin + 2) / 3;
  for (int64_t s0 = s_begin; s0 < s_end; s0 += 3) {
    ahead.slice((s0 - s_begin) / 3, groups);
    const int64_t left = std::min<int64_t>(3, s_end - s0);
    if (left == 3) tile_channels<NT, 3>(gr, tp, op, s0);
    else if (left == 2) tile_channels<NT, 2>(gr, tp, op, s0);
    else tile_channels<NT, 1>(gr, tp, op, s0);
  }
}

// xp [4][P, Q] = the parity planes of x [H, W] (zero where 2a + row parity >= H, likewise columns).
[[gnu::target("avx512f")]] void split_plane(const float* x, int64_t h, int64_t w, const Grid& gr, float* xp) {
  alignas(64) static constexpr int kEven[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  alignas(64) static constexpr int kOdd[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
  const __m512i even = _mm512_load_si512(kEven), odd = _mm512_load_si512(kOdd);
  for (int64_t ih = 0; ih < 2 * gr.p; ++ih) {
    float* e = xp + (2 * (ih % 2)) * gr.pq + (ih / 2) * gr.q;
    float* o = e + gr.pq;
    const float* row = x + ih * w;
    for (int64_t b0 = 0; b0 < gr.q; b0 += kLanes) {
      const __mmask16 m = first_lanes(gr.q - b0);
      if (ih >= h) {
        _mm512_mask_storeu_ps(e + b0, m, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(o + b0, m, _mm512_setzero_ps());
        continue;
      }
      const int64_t left = w - 2 * b0;
      const __m512 lo = _mm512_maskz_loadu_ps(first_lanes(left), row + 2 * b0);
      const __m512 hi = _mm512_maskz_loadu_ps(first_lanes(left - kLanes), row + 2 * b0 + kLanes);
      _mm512_mask_storeu_ps(e + b0, m, _mm512_permutex2var_ps(lo, even, hi));
      _mm512_mask_storeu_ps(o + b0, m, _mm512_permutex2var_ps(lo, odd, hi));
    }
  }
}

// dx [H, W] = the parity planes dxp [4][P, Q] interleaved (the inverse of split_plane).
[[gnu::target("avx512f")]] void merge_plane(const float* dxp, const Grid& gr, int64_t h, int64_t w, float* dx) {
  alignas(64) static constexpr int kLo[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
  alignas(64) static constexpr int kHi[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i lo_idx = _mm512_load_si512(kLo), hi_idx = _mm512_load_si512(kHi);
  for (int64_t ih = 0; ih < h; ++ih) {
    const float* e = dxp + (2 * (ih % 2)) * gr.pq + (ih / 2) * gr.q;
    const float* o = e + gr.pq;
    float* row = dx + ih * w;
    for (int64_t b0 = 0; b0 < gr.q; b0 += kLanes) {
      const __mmask16 m = first_lanes(gr.q - b0);
      const __m512 ev = _mm512_maskz_loadu_ps(m, e + b0), od = _mm512_maskz_loadu_ps(m, o + b0);
      const int64_t left = w - 2 * b0;
      _mm512_mask_storeu_ps(row + 2 * b0, first_lanes(left), _mm512_permutex2var_ps(ev, lo_idx, od));
      _mm512_mask_storeu_ps(row + 2 * b0 + kLanes, first_lanes(left - kLanes), _mm512_permutex2var_ps(ev, hi_idx, od));
    }
  }
}

// part[k][c][t] += sum over images [n0, n1) and their vectors of dy[image][k][16 v ..] *
// xp[image][c][off[t] + 16 v ..] for k in [k0, k0 + KB): the weight gradient of one input channel
// and KB output channels. As in the stride-1 kernel, small planes walk the images inside each vector
// (the vector's masks stay in registers), larger ones the vectors inside each image; here the switch
// is at 3 vectors (7x7 outputs, 4 vectors, measured 4% faster the second way: 32->64 14x14 4.07 ms
// against 4.25, 1 thread).
template <int KB>
[[gnu::target("avx512f")]] void weight_tile(const Grid& gr, const Taps<kTaps>& tp, int64_t C, int64_t K,
                                            const float* dy, const float* xp, int64_t k0, int64_t c, int64_t n0,
                                            int64_t n1, float* part) {
  __m512 acc[KB][kTaps];
#pragma GCC unroll 4
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 9
    for (int t = 0; t < kTaps; ++t) acc[k][t] = _mm512_setzero_ps();
  const int64_t pq = gr.pq, dy_step = K * pq, x_step = C * kPlanes * pq;
  const float* gp0 = dy + (n0 * K + k0) * pq;
  const float* xp0 = xp + (n0 * C + c) * kPlanes * pq;
  if (gr.nv <= 3) {
    for (int64_t v = 0; v < gr.nv; ++v) {
      __mmask16 m[kTaps];
      int64_t off[kTaps];
#pragma GCC unroll 9
      for (int t = 0; t < kTaps; ++t) {
        m[t] = tp.mask[t * gr.nv + v];
        off[t] = tp.off[t] + v * kLanes;
      }
      const __mmask16 tail = gr.tail(v);
      const float *gp = gp0 + v * kLanes, *x = xp0;
      for (int64_t n = n0; n < n1; ++n, gp += dy_step, x += x_step) weight_step<KB>(acc, gp, pq, tail, x, m, 1, off);
    }
  } else {
    for (int64_t n = n0; n < n1; ++n, gp0 += dy_step, xp0 += x_step)
      for (int64_t v = 0; v < gr.nv; ++v)
        weight_step<KB>(acc, gp0 + v * kLanes, pq, gr.tail(v), xp0 + v * kLanes, tp.mask.data() + v, gr.nv, tp.off);
  }
#pragma GCC unroll 4
  for (int k = 0; k < KB; ++k)
#pragma GCC unroll 9
    for (int t = 0; t < kTaps; ++t) part[((k0 + k) * C + c) * kTaps + t] += _mm512_reduce_add_ps(acc[k][t]);
}

// xp [n1 - n0][C][4][P*Q] = the parity planes of images [n0, n1) of x.
void split_images(const ConvGeom& g, const Grid& gr, const float* x, int64_t n0, int64_t n1, float* xp) {
  const int64_t hw = g.h * g.w;
  for (int64_t i = 0; i < (n1 - n0) * g.c; ++i) split_plane(x + n0 * g.c * hw + i * hw, g.h, g.w, gr, xp + i * kPlanes * gr.pq);
}

// Images per weight-gradient chunk: dy and the parity planes in L2 (512 KiB), but at least 96
// vectors (reducing the 27 accumulators costs about as much as 8 vectors' multiply-adds).
int64_t weight_chunk(const ConvGeom& g, const Grid& gr) {
  return std::max((int64_t{512} << 10) / ((g.k + kPlanes * g.c) * gr.nv * kLanes * 4), (96 + gr.nv - 1) / gr.nv);
}

// Images per step of the forward and backward data: parity planes of about 256 KiB.
int64_t conv_chunk(const ConvGeom& g, const Grid& gr) {
  return std::max<int64_t>(1, (int64_t{256} << 10) / (g.c * kPlanes * gr.pq * 4));
}

// The batch is cut into `tasks` ranges of images run in parallel, as make_plan in conv_cpu.cpp and
// the stride-1 kernel do: below ~2M multiply-adds per task, one. Each task splits its images, a chunk
// at a time, into its own buffer of buffer_elems (reused, so it stays in cache).
int64_t tasks(const ConvGeom& g) {
  const int64_t macs = g.n * g.k * g.c * kTaps * g.p * g.q;
  return std::clamp<int64_t>(macs / (int64_t{1} << 21), 1, std::min<int64_t>(g.n, cpu::max_threads()));
}

int64_t buffer_elems(const ConvGeom& g) {
  const Grid gr(g.p, g.q);
  return std::max(weight_chunk(g, gr), conv_chunk(g, gr)) * g.c * kPlanes * gr.pq;
}

// Runs fn(task, n0, n1, buffer) for the tasks' image ranges, in parallel.
template <typename Fn>
void for_tasks(const ConvGeom& g, float* buffers, const Fn& fn) {
  const int64_t nt = tasks(g), elems = buffer_elems(g);
  cpu::parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) fn(t, g.n * t / nt, g.n * (t + 1) / nt, buffers + t * elems);
  });
}

// part [K][C][9] (zeroed here) = the weight gradient summed over images [n0, n1), chunk by chunk
// (each chunk's sums reduced to scalars and added in order).
void weight_grad_range(const ConvGeom& g, const Grid& gr, const Taps<kTaps>& tp, const float* dy, const float* x,
                       int64_t n0, int64_t n1, float* xp, float* part) {
  std::fill(part, part + g.k * g.c * kTaps, 0.0f);
  const int64_t chunk = weight_chunk(g, gr);
  for (int64_t a = n0; a < n1; a += chunk) {
    const int64_t e = std::min(n1, a + chunk);
    split_images(g, gr, x, a, e, xp);
    const float* dya = dy + a * g.k * gr.pq;
    const int64_t next = std::min(n1, e + chunk) - e;
    const Ahead ahead_x{x + e * g.c * g.h * g.w, next * g.c * g.h * g.w * 4};
    const Ahead ahead_dy{dy + e * g.k * gr.pq, next * g.k * gr.pq * 4};
    for (int64_t c = 0; c < g.c; ++c) {
      ahead_x.slice(c, g.c);
      ahead_dy.slice(c, g.c);
      int64_t k = 0;
      for (; k + 3 <= g.k; k += 3) weight_tile<3>(gr, tp, g.c, g.k, dya, xp, k, c, 0, e - a, part);
      for (; k < g.k; ++k) weight_tile<1>(gr, tp, g.c, g.k, dya, xp, k, c, 0, e - a, part);
    }
  }
}

// dw = the sum of the tasks' partials (task 0 writes dw itself, the others parts [tasks - 1][K][C][9]),
// added in task order in double.
void weight_grad(const ConvGeom& g, const Grid& gr, const float* dy, const float* x, float* dw, float* parts,
                 float* buffers) {
  const Taps<kTaps> tp = forward_taps(gr);
  const int64_t elems = g.k * g.c * kTaps;
  for_tasks(g, buffers, [&](int64_t t, int64_t n0, int64_t n1, float* xp) {
    weight_grad_range(g, gr, tp, dy, x, n0, n1, xp, t == 0 ? dw : parts + (t - 1) * elems);
  });
  const int64_t nt = tasks(g);
  for (int64_t i = 0; i < elems && nt > 1; ++i) {
    double acc = dw[i];
    for (int64_t t = 1; t < nt; ++t) acc += parts[(t - 1) * elems + i];
    dw[i] = static_cast<float>(acc);
  }
}

}  // namespace

bool conv3x3s2_direct_applicable(const ConvGeom& g) {
  return g.r == 3 && g.s == 3 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 1 && g.pad_w == 1 &&
         g.dil_h == 1 && g.dil_w == 1 && g.groups == 1 && g.p == (g.h + 1) / 2 && g.q == (g.w + 1) / 2 &&
         g.c <= kMaxChannels && g.k <= kMaxChannels && cpu::has_avx512f();
}

// Filters (or dw's partials) [tasks][C][9][K], then the tasks' parity-plane buffers.
int64_t conv3x3s2_direct_workspace_elems(const ConvGeom& g) {
  return tasks(g) * (g.c * kTaps * g.k + buffer_elems(g));
}

void conv3x3s2_direct_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y,
                              float* ws) {
  const Grid gr(g.p, g.q);
  const Taps<kTaps> tp = forward_taps(gr);
  float* wt = ws;  // [C][9][K]: w [K][C 9] transposed, as the stride-1 kernel does
  transpose_tiles(g.k, g.c * kTaps, w, g.c * kTaps, 1, wt, g.k);
  const int64_t chunk = conv_chunk(g, gr);
  for_tasks(g, ws + tasks(g) * g.c * kTaps * g.k, [&](int64_t, int64_t n0, int64_t n1, float* xp) {
    for (int64_t a = n0; a < n1; a += chunk) {
      const int64_t e = std::min(n1, a + chunk);
      split_images(g, gr, x, a, e, xp);
      const Ahead ahead{x + e * g.c * g.h * g.w, (std::min(n1, e + chunk) - e) * g.c * g.h * g.w * 4};
      conv_slots(gr, tp, Operands{xp, g.c, kPlanes * gr.pq, wt, b, y + a * g.k * gr.pq, g.k, gr.pq}, 0,
                 (e - a) * gr.nv, ahead);
    }
  });
}

void conv3x3s2_direct_backward(const ConvGeom& g, const float* dy, const float* x, const float* w, float* dx,
                               float* dw, float* ws) {
  const Grid gr(g.p, g.q);
  float* wt = ws;  // dw's partials [tasks - 1][K][C][9], then dx's filters [K][9][C]
  float* buffers = ws + tasks(g) * g.c * kTaps * g.k;
  if (dw) weight_grad(g, gr, dy, x, dw, wt, buffers);
  if (!dx) return;
  // Parity plane rho of dx is the direct convolution of dy with the taps landing on it: filters
  // wt_rho [K][NT][C] (after each other in wt), outputs in plane rho of each channel's four.
  int tap[4][4];
  const Taps<1> t0 = backward_taps<1>(gr, 0, tap[0]);
  const Taps<2> t1 = backward_taps<2>(gr, 1, tap[1]), t2 = backward_taps<2>(gr, 2, tap[2]);
  const Taps<4> t3 = backward_taps<4>(gr, 3, tap[3]);
  const int nt[4] = {1, 2, 2, 4};
  const float* wr[4];
  for (int rho = 0; rho < 4; ++rho) {
    float* dst = wt;
    for (int64_t k = 0; k < g.k; ++k)
      for (int i = 0; i < nt[rho]; ++i)
        for (int64_t c = 0; c < g.c; ++c) dst[(k * nt[rho] + i) * g.c + c] = w[(k * g.c + c) * kTaps + tap[rho][i]];
    wr[rho] = wt;
    wt += g.k * nt[rho] * g.c;
  }
  const int64_t chunk = conv_chunk(g, gr);
  for_tasks(g, buffers, [&](int64_t, int64_t n0, int64_t n1, float* dxp) {
    for (int64_t a = n0; a < n1; a += chunk) {
      const int64_t e = std::min(n1, a + chunk), slots = (e - a) * gr.nv;
      auto op = [&](int rho) {
        return Operands{dy + a * g.k * gr.pq, g.k, gr.pq, wr[rho], nullptr, dxp + rho * gr.pq, g.c, kPlanes * gr.pq};
      };
      conv_slots(gr, t0, op(0), 0, slots, Ahead{dy + e * g.k * gr.pq, (std::min(n1, e + chunk) - e) * g.k * gr.pq * 4});
      conv_slots(gr, t1, op(1), 0, slots);
      conv_slots(gr, t2, op(2), 0, slots);
      conv_slots(gr, t3, op(3), 0, slots);
      for (int64_t i = 0; i < (e - a) * g.c; ++i)
        merge_plane(dxp + i * kPlanes * gr.pq, gr, g.h, g.w, dx + (a * g.c + i) * g.h * g.w);
    }
  });
}

}  // namespace nkd::ops::detail
