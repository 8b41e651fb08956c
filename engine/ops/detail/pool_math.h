// The pool family's functor header: the pooling kernels as NKD_HD functors, run by pool.cpp on
// the CPU and by the GPU (pool_cuda.cu; the backward through nkd::launch on either device), so the
// CPU tests exercise the GPU's indexing too. Forwards compute one output cell;
// backwards gather one input element from the output cells whose window holds it (no atomics, the
// same summation order as a scatter in output order, so CPU and GPU agree bitwise).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "engine/bf16.h"
#include "engine/host_device.h"

namespace nkd::ops::pool {

// The window sums' type: double for float and bf16 (whose values widen exactly to float, so a BF16
// pool gives the F32 pool's result rounded once), T itself for double.
template <typename T>
using Acc = std::conditional_t<std::is_same_v<compute_t<T>, float>, double, T>;

// One pooling: `planes` = N * C input planes [H, W] map to output planes [P, Q] through windows
// R x S with stride (sh, sw), padding (ph, pw) and dilation (dh, dw).
struct Geom {
  int64_t planes = 0, H = 0, W = 0, P = 1, Q = 1;
  int64_t R = 1, S = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  NKD_HD int64_t in_plane() const { return H * W; }
  NKD_HD int64_t out_plane() const { return P * Q; }
};

enum class Kind { Max, Avg, Adaptive, Global };

NKD_HD int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
NKD_HD int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
// floor(a / b) for b > 0 and any sign of a.
NKD_HD int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The input rectangle [h0, h1) x [w0, w1) an average is taken over, and what the sum is divided by.
struct Window {
  int64_t h0, h1, w0, w1, divisor;
};

// avg_pool2d: the window is clipped to the padded input (ceil_mode can run past it), then to the
// input; count_include_pad divides by the first clipped size, otherwise by the valid count.
NKD_HD Window avg_window(const Geom& g, int64_t p, int64_t q, bool include_pad) {
  int64_t h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
  int64_t h1 = imin(h0 + g.R, g.H + g.ph), w1 = imin(w0 + g.S, g.W + g.pw);
  const int64_t padded = (h1 - h0) * (w1 - w0);
  h0 = imax(h0, 0);
  w0 = imax(w0, 0);
  h1 = imin(h1, g.H);
  w1 = imin(w1, g.W);
  return {h0, h1, w0, w1, include_pad ? padded : (h1 - h0) * (w1 - w0)};
}

// adaptive_avg_pool2d: rows [floor(p H / P), ceil((p + 1) H / P)), columns likewise.
NKD_HD Window adaptive_window(const Geom& g, int64_t p, int64_t q) {
  const int64_t h0 = p * g.H / g.P, h1 = ((p + 1) * g.H + g.P - 1) / g.P;
  const int64_t w0 = q * g.W / g.Q, w1 = ((q + 1) * g.W + g.Q - 1) / g.Q;
  return {h0, h1, w0, w1, (h1 - h0) * (w1 - w0)};
}

// y = the maximum of the dilated window (padding = -inf; NaN wins, as in PyTorch);
// idx = flat h * W + w of the window's first maximum (skipped when null: no backward).
template <typename T>
struct MaxPoolFwd {
  Geom g;
  const T* x;    // [planes, H, W]
  T* y;          // [planes, P, Q]
  int64_t* idx;  // [planes, P, Q] or null
  // Output cell (row = plane * P + p, q).
  NKD_HD void cell(int64_t row, int64_t q) const {
    const int64_t p = row % g.P;
    const T* xp = x + (row / g.P) * g.in_plane();
    int64_t h0 = p * g.sh - g.ph;
    const int64_t h1 = imin(h0 + (g.R - 1) * g.dh + 1, g.H);
    while (h0 < 0) h0 += g.dh;
    int64_t w0 = q * g.sw - g.pw;
    const int64_t w1 = imin(w0 + (g.S - 1) * g.dw + 1, g.W);
    while (w0 < 0) w0 += g.dw;
    T best = static_cast<T>(-INFINITY);
    int64_t arg = h0 * g.W + w0;
    for (int64_t h = h0; h < h1; h += g.dh) {
      for (int64_t w = w0; w < w1; w += g.dw) {
        const T v = xp[h * g.W + w];
        if (v > best || v != v) {
          best = v;
          arg = h * g.W + w;
        }
      }
    }
    y[row * g.Q + q] = best;
    if (idx) idx[row * g.Q + q] = arg;
  }
  // One output row (integer divisions once per row): the CPU's unit of work.
  NKD_HD void operator()(int64_t row) const {
    for (int64_t q = 0; q < g.Q; ++q) cell(row, q);
  }
};

// y = the window sum divided by the window's divisor (avg_pool2d or adaptive_avg_pool2d).
template <typename T>
struct AvgPoolFwd {
  Geom g;
  bool adaptive, include_pad;
  const T* x;  // [planes, H, W]
  T* y;        // [planes, P, Q]
  NKD_HD void cell(int64_t row, int64_t q) const {
    const int64_t p = row % g.P;
    const T* xp = x + (row / g.P) * g.in_plane();
    const Window wd = adaptive ? adaptive_window(g, p, q) : avg_window(g, p, q, include_pad);
    Acc<T> s = 0;
    for (int64_t h = wd.h0; h < wd.h1; ++h)
      for (int64_t w = wd.w0; w < wd.w1; ++w) s += xp[h * g.W + w];
    y[row * g.Q + q] = wd.divisor > 0 ? static_cast<T>(s / static_cast<Acc<T>>(wd.divisor)) : T(0);
  }
  NKD_HD void operator()(int64_t row) const {
    for (int64_t q = 0; q < g.Q; ++q) cell(row, q);
  }
};

// A row functor F (MaxPoolFwd, AvgPoolFwd) as a functor of the flat output index: the GPU's unit.
template <typename F>
struct PerCell {
  F f;
  NKD_HD void operator()(int64_t i) const {
    const int64_t row = i / f.g.Q;
    f.cell(row, i - row * f.g.Q);
  }
};

// Backward of every pool for input element i = (plane, h, w), gathered from the output cells
// (p, q) in row-major order whose window holds it:
//   max:      gx = sum of gy[p, q] with idx[p, q] == h W + w        (the window's first maximum)
//   avg:      gx = sum of gy[p, q] / divisor(p, q)                   (padding dropped)
//   adaptive: as avg, with the adaptive windows and divisor = window size
//   global:   gx = gy / (H W)
template <typename T>
struct PoolBwd {
  Kind kind;
  Geom g;
  bool include_pad;
  const T* gy;         // [planes, P, Q]
  const int64_t* idx;  // [planes, P, Q], max only
  T* gx;               // [planes, H, W]
  // Output index range [lo, hi] that may hold input coordinate `x` along one dim: windows start at
  // o * stride - pad and span `extent`; one extra on each side, as the exact test follows.
  NKD_HD static void candidates(int64_t x, int64_t stride, int64_t pad, int64_t extent,
                                int64_t out, int64_t& lo, int64_t& hi) {
    lo = imax(floor_div(x + pad - extent, stride), 0);
    hi = imin(floor_div(x + pad, stride) + 1, out - 1);
  }
  NKD_HD void operator()(int64_t i) const {
    const int64_t plane = i / g.in_plane(), rem = i - plane * g.in_plane();
    const int64_t h = rem / g.W, w = rem - h * g.W;
    using C = compute_t<T>;  // the gradient is summed in F32 for a BF16 T and rounded once
    const T* gp = gy + plane * g.out_plane();
    if (kind == Kind::Global) {
      gx[i] = static_cast<T>(static_cast<C>(gp[0]) / static_cast<C>(g.in_plane()));
      return;
    }
    int64_t p0, p1, q0, q1;
    if (kind == Kind::Adaptive) {
      p0 = imax(h * g.P / g.H - 1, 0);
      p1 = imin(((h + 1) * g.P + g.H - 1) / g.H, g.P - 1);
      q0 = imax(w * g.Q / g.W - 1, 0);
      q1 = imin(((w + 1) * g.Q + g.W - 1) / g.W, g.Q - 1);
    } else {
      const bool mx = kind == Kind::Max;
      candidates(h, g.sh, g.ph, mx ? (g.R - 1) * g.dh + 1 : g.R, g.P, p0, p1);
      candidates(w, g.sw, g.pw, mx ? (g.S - 1) * g.dw + 1 : g.S, g.Q, q0, q1);
    }
    C acc = 0;
    for (int64_t p = p0; p <= p1; ++p) {
      for (int64_t q = q0; q <= q1; ++q) {
        const int64_t k = p * g.Q + q;
        if (kind == Kind::Max) {
          if (idx[plane * g.out_plane() + k] == rem) acc += static_cast<C>(gp[k]);
          continue;
        }
        const Window wd =
            kind == Kind::Adaptive ? adaptive_window(g, p, q) : avg_window(g, p, q, include_pad);
        if (wd.divisor <= 0 || h < wd.h0 || h >= wd.h1 || w < wd.w0 || w >= wd.w1) continue;
        acc += static_cast<C>(gp[k]) / static_cast<C>(wd.divisor);
      }
    }
    gx[i] = static_cast<T>(acc);
  }
};

}  // namespace nkd::ops::pool
