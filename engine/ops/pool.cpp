// Pooling ops (pool.h): argument checks, device and dtype dispatch, and the backward node. The
// kernels are the NKD_HD functors of detail/pool_math.h. Backward: one functor per input element
// (gathering) on either device (nkd::launch), except max pooling on the CPU (a scatter per plane). Forwards: per output row on the CPU, per output cell
// on the GPU (the launchers of detail/pool_cuda.h, called only in a CUDA build).
#include "engine/ops/pool.h"

#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/detail/max_pool_cpu.h"
#include "engine/ops/detail/pool_cuda.h"
#include "engine/ops/detail/pool_math.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

using pool::Geom;
using pool::Kind;
template <typename T>
using Acc = pool::Acc<T>;

int64_t plane_grain(const Geom& g) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.in_plane()));
}
// Output rows per task: about kGrain multiply-adds each.
int64_t row_grain(const Geom& g, int64_t window) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.Q * window));
}

// Backward of every pool (pool::PoolBwd): each input element gathers from the output cells whose
// window holds it.
// Max pooling on the CPU scatters instead: per plane, each output cell adds its gradient to the
// input element its index names, in raster order, i.e. the same additions in the same order as
// the gather (which walks the covering windows in raster order from 0): the same bits, with one
// add per output cell instead of 9-16 index tests per input element (ShuffleNetV2's stem max pool
// backward was 19% of its 224-px training step).
// A BF16 gradient is summed in an F32 plane and rounded once into gx, as the gather does.
template <typename T>
void max_pool_backward_cpu(const Geom& g, const T* gy, const int64_t* idx, T* gx) {
  using C = compute_t<T>;
  cpu::parallel_for(g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    std::vector<C> wide(kIsHalf<T> ? g.in_plane() : 0);
    for (int64_t plane = b; plane < e; ++plane) {
      C* gp;
      if constexpr (kIsHalf<T>) gp = wide.data();
      else gp = gx + plane * g.in_plane();
      const T* yp = gy + plane * g.out_plane();
      const int64_t* ip = idx + plane * g.out_plane();
      std::fill(gp, gp + g.in_plane(), C(0));
      for (int64_t k = 0; k < g.out_plane(); ++k) gp[ip[k]] += static_cast<C>(yp[k]);
      if constexpr (kIsHalf<T>) std::copy(gp, gp + g.in_plane(), gx + plane * g.in_plane());
    }
  });
}

template <typename T>
void pool_backward(Kind kind, const Geom& g, bool include_pad, const Tensor& gy, const Tensor& idx,
                   const Tensor& gx) {
  const int64_t* ip = idx.defined() ? idx.data<int64_t>() : nullptr;
  if (kind == Kind::Max && !gy.device().is_cuda())
    return max_pool_backward_cpu(g, gy.data<T>(), ip, gx.data<T>());
  const pool::PoolBwd<T> f{kind, g, include_pad, gy.data<T>(), ip, gx.data<T>()};
  const int64_t window = kind == Kind::Adaptive ? 9 : (g.R / g.sh + 2) * (g.S / g.sw + 2);
  launch(gy.device(), g.planes * g.in_plane(), f, std::max<int64_t>(1, cpu::kGrain / window));
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
    dispatch_any_float(gy.dtype(), name(), [&]<typename T>() {
      pool_backward<T>(kind_, g_, include_pad_, gy, idx_, gx);
    });
    return {gx};
  }

 private:
  Kind kind_;
  Geom g_;
  Shape in_;  // [N, C, H, W]
  bool include_pad_;
  Tensor idx_;  // I64 [N, C, P, Q] on the input's device, max pooling only
};

Geom input_geom(const Tensor& x, const char* op) {
  NKD_CHECK(x.defined(), op, ": undefined input");
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
  dispatch_any_float(x.dtype(), op, [&]<typename T>() {
    const bool adaptive = kind == Kind::Adaptive;
    if (x.is_cuda()) {
      if constexpr (kBuiltWithCuda)
        return gpu::avg_pool2d_forward<T>(x.device(), g, adaptive, include_pad, xc.data<T>(),
                                          y.data<T>());
      fail_without_cuda(op, x.device());
    }
    const pool::AvgPoolFwd<T> f{g, adaptive, include_pad, xc.data<T>(), y.data<T>()};
    cpu::launch(g.planes * g.P, f, row_grain(g, work));
  });
  if (any_requires_grad({x}))
    record(std::make_shared<PoolBackward>(kind, g, x.shape(), include_pad, Tensor()), {x}, {y});
  return y;
}

}  // namespace

namespace {
// The window attributes an op tracer records (stride resolved: 0 means the kernel size).
trace::OpAttrs pool_attrs(const Pool2dOptions& o) {
  const std::vector<int64_t> stride = {o.stride[0] ? o.stride[0] : o.kernel[0],
                                       o.stride[1] ? o.stride[1] : o.kernel[1]};
  return trace::OpAttrs()
      .set("kernel", {o.kernel[0], o.kernel[1]})
      .set("stride", stride)
      .set("padding", {o.padding[0], o.padding[1]})
      .set("dilation", {o.dilation[0], o.dilation[1]})
      .set("ceil_mode", {int64_t(o.ceil_mode)})
      .set("count_include_pad", {int64_t(o.count_include_pad)});
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

// The pools take a BF16 input natively on both devices (the functors of pool_math.h: window sums
// in double, the gradients summed in F32, one rounding per stored value): the F32 pool's result
// rounded back, bit for bit (tests/engine/test_bf16_native.cpp).
static Tensor max_pool2d_untraced(const Tensor& x, const Pool2dOptions& options) {
  const Geom g = window_geom(x, options, "max_pool2d");
  const Tensor xc = x.detach().contiguous();
  const bool grad = any_requires_grad({x});
  Tensor y = empty(out_shape(x, g), x.options());
  Tensor idx = grad ? empty(y.shape(), {DType::I64, x.device()}) : Tensor();
  dispatch_any_float(x.dtype(), "max_pool2d", [&]<typename T>() {
    int64_t* ip = grad ? idx.data<int64_t>() : nullptr;
    if (x.is_cuda()) {
      if constexpr (kBuiltWithCuda)
        return gpu::max_pool2d_forward<T>(x.device(), g, xc.data<T>(), y.data<T>(), ip);
      fail_without_cuda("max_pool2d", x.device());
    }
    if constexpr (std::is_same_v<T, float>)
      if (detail::max_pool3x3s2_applicable(g)) return detail::max_pool3x3s2_forward(g, xc.data<T>(), y.data<T>(), ip);
    const pool::MaxPoolFwd<T> f{g, xc.data<T>(), y.data<T>(), ip};
    cpu::launch(g.planes * g.P, f, row_grain(g, g.R * g.S));
  });
  if (grad) record(std::make_shared<PoolBackward>(Kind::Max, g, x.shape(), false, idx), {x}, {y});
  return y;
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  trace::OpScope scope;
  return scope.done("max_pool2d", {x}, max_pool2d_untraced(x, options), pool_attrs(options));
}

static Tensor avg_pool2d_untraced(const Tensor& x, const Pool2dOptions& options) {
  NKD_CHECK(options.dilation[0] == 1 && options.dilation[1] == 1,
            "avg_pool2d: dilation must be 1, got [", options.dilation[0], ", ", options.dilation[1],
            "]");
  const Geom g = window_geom(x, options, "avg_pool2d");
  return avg_forward(x, g, Kind::Avg, options.count_include_pad, "avg_pool2d");
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  trace::OpScope scope;
  return scope.done("avg_pool2d", {x}, avg_pool2d_untraced(x, options), pool_attrs(options));
}

static Tensor adaptive_avg_pool2d_untraced(const Tensor& x, int64_t out_h, int64_t out_w) {
  Geom g = input_geom(x, "adaptive_avg_pool2d");
  NKD_CHECK(out_h > 0 && out_w > 0, "adaptive_avg_pool2d: output size [", out_h, ", ", out_w,
            "] must be positive (input ", describe(x), ")");
  g.P = out_h;
  g.Q = out_w;
  return avg_forward(x, g, Kind::Adaptive, false, "adaptive_avg_pool2d");
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  trace::OpScope scope;
  return scope.done("adaptive_avg_pool2d", {x}, adaptive_avg_pool2d_untraced(x, out_h, out_w),
                    trace::OpAttrs().set("output_size", {out_h, out_w}));
}

static Tensor global_avg_pool_untraced(const Tensor& x) {
  const Geom g = input_geom(x, "global_avg_pool");
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty({x.size(0), x.size(1)}, x.options());
  dispatch_any_float(x.dtype(), "global_avg_pool", [&]<typename T>() {
    if (x.is_cuda()) {
      if constexpr (kBuiltWithCuda)
        return gpu::global_avg_pool_forward<T>(x.device(), g, xc.data<T>(), y.data<T>());
      fail_without_cuda("global_avg_pool", x.device());
    }
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

Tensor global_avg_pool(const Tensor& x) {
  trace::OpScope scope;
  return scope.done("global_avg_pool", {x}, global_avg_pool_untraced(x));
}

}  // namespace nkd::ops
