// Pooling ops (pool.h): argument checks, F32/F64 dispatch, the CPU kernels and the backward node.
// Forward kernels are NKD_HD functors of the output row index run by cpu::launch; backward kernels
// scatter into one input plane per task, so no two tasks ever write the same element.
#include "engine/ops/pool.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <type_traits>

#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/host_device.h"
#include "engine/ops/dispatch.h"

namespace nkd::ops {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// One pooling: `planes` = N * C input planes [H, W] map to output planes [P, Q] through windows
// R x S with stride (sh, sw), padding (ph, pw) and dilation (dh, dw).
struct Geom {
  int64_t planes = 0, H = 0, W = 0, P = 1, Q = 1;
  int64_t R = 1, S = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  NKD_HD int64_t in_plane() const { return H * W; }
  NKD_HD int64_t out_plane() const { return P * Q; }
};

NKD_HD int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
NKD_HD int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

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
// One call computes output row `row` = plane * P + p (integer divisions once per row, not per
// element).
template <typename T>
struct MaxPoolFwd {
  Geom g;
  const T* x;    // [planes, H, W]
  T* y;          // [planes, P, Q]
  int64_t* idx;  // [planes, P, Q] or null
  NKD_HD void operator()(int64_t row) const {
    const int64_t p = row % g.P;
    const T* xp = x + (row / g.P) * g.in_plane();
    int64_t h0 = p * g.sh - g.ph;
    const int64_t h1 = imin(h0 + (g.R - 1) * g.dh + 1, g.H);
    while (h0 < 0) h0 += g.dh;
    for (int64_t q = 0; q < g.Q; ++q) {
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
  }
};

// y = the window sum divided by the window's divisor (avg_pool2d or adaptive_avg_pool2d), one
// output row per call as above.
template <typename T>
struct AvgPoolFwd {
  Geom g;
  bool adaptive, include_pad;
  const T* x;  // [planes, H, W]
  T* y;        // [planes, P, Q]
  NKD_HD void operator()(int64_t row) const {
    const int64_t p = row % g.P;
    const T* xp = x + (row / g.P) * g.in_plane();
    for (int64_t q = 0; q < g.Q; ++q) {
      const Window wd = adaptive ? adaptive_window(g, p, q) : avg_window(g, p, q, include_pad);
      Acc<T> s = 0;
      for (int64_t h = wd.h0; h < wd.h1; ++h)
        for (int64_t w = wd.w0; w < wd.w1; ++w) s += xp[h * g.W + w];
      y[row * g.Q + q] =
          wd.divisor > 0 ? static_cast<T>(s / static_cast<Acc<T>>(wd.divisor)) : T(0);
    }
  }
};

int64_t plane_grain(const Geom& g) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.in_plane()));
}
// Output rows per task: about kGrain multiply-adds each.
int64_t row_grain(const Geom& g, int64_t window) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.Q * window));
}

enum class Kind { Max, Avg, Adaptive, Global };

// Backward of every pool, one input plane per task (windows overlap, so each task scatters alone).
//   max:      gx[idx[p, q]] += gy[p, q]                         (the window's first maximum)
//   avg:      gx[h, w] += gy[p, q] / divisor(p, q)  for (h, w) in window(p, q), padding dropped
//   adaptive: as avg, with the adaptive windows and divisor = window size
//   global:   gx[h, w] = gy / (H W)
template <typename T>
void pool_backward(Kind kind, const Geom& g, bool include_pad, const T* gy, const int64_t* idx,
                   T* gx) {
  cpu::parallel_for(g.planes, plane_grain(g), [=](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      T* gxp = gx + plane * g.in_plane();
      const T* gp = gy + plane * g.out_plane();
      if (kind == Kind::Global) {
        std::fill(gxp, gxp + g.in_plane(), static_cast<T>(gp[0] / static_cast<T>(g.in_plane())));
        continue;
      }
      std::fill(gxp, gxp + g.in_plane(), T(0));
      if (kind == Kind::Max) {
        const int64_t* ip = idx + plane * g.out_plane();
        for (int64_t k = 0; k < g.out_plane(); ++k) gxp[ip[k]] += gp[k];
        continue;
      }
      for (int64_t p = 0; p < g.P; ++p) {
        for (int64_t q = 0; q < g.Q; ++q) {
          const Window wd =
              kind == Kind::Adaptive ? adaptive_window(g, p, q) : avg_window(g, p, q, include_pad);
          if (wd.divisor <= 0) continue;
          const T v = gp[p * g.Q + q] / static_cast<T>(wd.divisor);
          for (int64_t h = wd.h0; h < wd.h1; ++h)
            for (int64_t w = wd.w0; w < wd.w1; ++w) gxp[h * g.W + w] += v;
        }
      }
    }
  });
}

class PoolBackward final : public Node {
 public:
  PoolBackward(Kind kind, const Geom& g, Shape in, bool include_pad, Tensor idx)
      : kind_(kind), g_(g), in_(std::move(in)), include_pad_(include_pad), idx_(std::move(idx)) {}
  const char* name() const override {
    switch (kind_) {
      case Kind::Max: return "MaxPool2dBackward";
      case Kind::Avg: return "AvgPool2dBackward";
      case Kind::Adaptive: return "AdaptiveAvgPool2dBackward";
      default: return "GlobalAvgPoolBackward";
    }
  }
  void release_saved() override { idx_ = Tensor(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor gy = grads[0].contiguous();
    Tensor gx = empty(in_, gy.options());
    dispatch_float(gy.dtype(), name(), [&]<typename T>() {
      const int64_t* ip = idx_.defined() ? idx_.data<int64_t>() : nullptr;
      pool_backward<T>(kind_, g_, include_pad_, gy.data<T>(), ip, gx.data<T>());
    });
    return {gx};
  }

 private:
  Kind kind_;
  Geom g_;
  Shape in_;  // [N, C, H, W]
  bool include_pad_;
  Tensor idx_;  // I64 [N, C, P, Q], max pooling only
};

Geom input_geom(const Tensor& x, const char* op) {
  require_cpu(op, {&x});
  NKD_CHECK(x.ndim() == 4, op, ": expected input [N, C, H, W], got ", describe(x));
  NKD_CHECK(x.size(2) > 0 && x.size(3) > 0, op, ": empty planes in ", describe(x));
  Geom g;
  g.planes = x.size(0) * x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  return g;
}

Geom window_geom(const Tensor& x, const Pool2dOptions& o, const char* op) {
  Geom g = input_geom(x, op);
  const auto& k = o.kernel;
  const auto s = std::array<int64_t, 2>{o.stride[0] == 0 ? k[0] : o.stride[0],
                                        o.stride[1] == 0 ? k[1] : o.stride[1]};
  NKD_CHECK(k[0] > 0 && k[1] > 0 && s[0] > 0 && s[1] > 0 && o.dilation[0] > 0 && o.dilation[1] > 0,
            op, ": kernel, stride and dilation must be positive, got kernel [", k[0], ", ", k[1],
            "], stride [", s[0], ", ", s[1], "], dilation [", o.dilation[0], ", ", o.dilation[1],
            "]");
  NKD_CHECK(o.padding[0] >= 0 && o.padding[1] >= 0 && o.padding[0] <= k[0] / 2 &&
                o.padding[1] <= k[1] / 2,
            op, ": padding [", o.padding[0], ", ", o.padding[1],
            "] must be between 0 and half the kernel size [", k[0], ", ", k[1], "]");
  g.R = k[0];
  g.S = k[1];
  g.sh = s[0];
  g.sw = s[1];
  g.ph = o.padding[0];
  g.pw = o.padding[1];
  g.dh = o.dilation[0];
  g.dw = o.dilation[1];
  g.P = pool_output_size(g.H, g.R, g.sh, g.ph, g.dh, o.ceil_mode);
  g.Q = pool_output_size(g.W, g.S, g.sw, g.pw, g.dw, o.ceil_mode);
  NKD_CHECK(g.P > 0 && g.Q > 0, op, ": output size [", g.P, ", ", g.Q, "] is too small for input ",
            describe(x));
  return g;
}

Shape out_shape(const Tensor& x, const Geom& g) { return {x.size(0), x.size(1), g.P, g.Q}; }

// The avg_pool2d / adaptive_avg_pool2d forward and its recording.
Tensor avg_forward(const Tensor& x, const Geom& g, Kind kind, bool include_pad, const char* op) {
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(out_shape(x, g), x.options());
  const int64_t work = kind == Kind::Adaptive ? (g.H / g.P + 2) * (g.W / g.Q + 2) : g.R * g.S;
  dispatch_float(x.dtype(), op, [&]<typename T>() {
    const AvgPoolFwd<T> f{g, kind == Kind::Adaptive, include_pad, xc.data<T>(), y.data<T>()};
    cpu::launch(g.planes * g.P, f, row_grain(g, work));
  });
  if (any_requires_grad({x}))
    record(std::make_shared<PoolBackward>(kind, g, x.shape(), include_pad, Tensor()), {x}, {y});
  return y;
}

}  // namespace

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                         bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  const int64_t floor_div = span >= 0 ? span / stride : -((-span + stride - 1) / stride);
  int64_t out = floor_div + 1;
  // ceil_mode: the last window must start inside the input or its left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  const Geom g = window_geom(x, options, "max_pool2d");
  const Tensor xc = x.detach().contiguous();
  const bool grad = any_requires_grad({x});
  Tensor y = empty(out_shape(x, g), x.options());
  Tensor idx = grad ? empty(y.shape(), {DType::I64, kCPU}) : Tensor();
  dispatch_float(x.dtype(), "max_pool2d", [&]<typename T>() {
    const MaxPoolFwd<T> f{g, xc.data<T>(), y.data<T>(), grad ? idx.data<int64_t>() : nullptr};
    cpu::launch(g.planes * g.P, f, row_grain(g, g.R * g.S));
  });
  if (grad) record(std::make_shared<PoolBackward>(Kind::Max, g, x.shape(), false, idx), {x}, {y});
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  NKD_CHECK(options.dilation[0] == 1 && options.dilation[1] == 1,
            "avg_pool2d: dilation must be 1, got [", options.dilation[0], ", ", options.dilation[1],
            "]");
  const Geom g = window_geom(x, options, "avg_pool2d");
  return avg_forward(x, g, Kind::Avg, options.count_include_pad, "avg_pool2d");
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  Geom g = input_geom(x, "adaptive_avg_pool2d");
  NKD_CHECK(out_h > 0 && out_w > 0, "adaptive_avg_pool2d: output size [", out_h, ", ", out_w,
            "] must be positive (input ", describe(x), ")");
  g.P = out_h;
  g.Q = out_w;
  return avg_forward(x, g, Kind::Adaptive, false, "adaptive_avg_pool2d");
}

Tensor global_avg_pool(const Tensor& x) {
  const Geom g = input_geom(x, "global_avg_pool");
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty({x.size(0), x.size(1)}, x.options());
  dispatch_float(x.dtype(), "global_avg_pool", [&]<typename T>() {
    const T* xp = xc.data<T>();  // [planes, H * W]
    T* yp = y.data<T>();         // [planes]
    const int64_t hw = g.in_plane();
    cpu::parallel_for(g.planes, plane_grain(g), [=](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const T* row = xp + plane * hw;
        Acc<T> s[4] = {0, 0, 0, 0};  // interleaved partial sums: no 1-deep add-latency chain
        int64_t k = 0;
        for (; k + 4 <= hw; k += 4)
          for (int j = 0; j < 4; ++j) s[j] += row[k + j];
        for (; k < hw; ++k) s[0] += row[k];
        yp[plane] = static_cast<T>(((s[0] + s[1]) + (s[2] + s[3])) / static_cast<Acc<T>>(hw));
      }
    });
  });
  if (any_requires_grad({x}))
    record(std::make_shared<PoolBackward>(Kind::Global, g, x.shape(), false, Tensor()), {x}, {y});
  return y;
}

}  // namespace nkd::ops
