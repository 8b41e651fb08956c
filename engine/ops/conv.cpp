// conv2d: argument checks, the output geometry, device and dtype dispatch to the CPU kernels
// (detail/conv_cpu.h) or the GPU (detail/conv_cuda.h: cuDNN, and the bias on the per-channel
// machinery shared with batch norm, conv_cuda.cu; only in a CUDA build), and
// the backward node.
#include "engine/ops/conv.h"

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/detail/conv_cpu.h"
#include "engine/ops/detail/conv_cuda.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

using detail::ConvGeom;

void check_conv_args(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  NKD_CHECK(x.defined() && w.defined(), "conv2d: undefined input or weight");
  common_device("conv2d", {&x, &w, &b});
  NKD_CHECK(x.dtype() == w.dtype() && (!b.defined() || b.dtype() == x.dtype()), "conv2d: dtypes differ: input ",
            describe(x), ", weight ", describe(w), b.defined() ? ", bias " + describe(b) : "");
  NKD_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64 || x.dtype() == DType::BF16,
            "conv2d: dtype ", name(x.dtype()), " is not supported (expected F32, F64 or BF16)");
  NKD_CHECK(x.ndim() == 4 && w.ndim() == 4, "conv2d: expected input [N, C, H, W] and weight [K, C/groups, R, S], ",
            "got input ", to_string(x.shape()), " and weight ", to_string(w.shape()));
  NKD_CHECK(o.groups >= 1, "conv2d: groups must be positive, got ", o.groups);
  NKD_CHECK(o.stride.h >= 1 && o.stride.w >= 1 && o.dilation.h >= 1 && o.dilation.w >= 1 &&
                o.padding.h >= 0 && o.padding.w >= 0,
            "conv2d: invalid stride [", o.stride.h, ", ", o.stride.w, "], padding [", o.padding.h, ", ",
            o.padding.w, "] or dilation [", o.dilation.h, ", ", o.dilation.w, "]");
  NKD_CHECK(w.size(0) % o.groups == 0, "conv2d: weight ", to_string(w.shape()), " has ", w.size(0),
            " output channels, not a multiple of groups ", o.groups);
  NKD_CHECK(w.size(1) * o.groups == x.size(1), "conv2d: weight ", to_string(w.shape()), " expects ",
            w.size(1) * o.groups, " input channels (groups ", o.groups, "), got input ", to_string(x.shape()));
  NKD_CHECK(!b.defined() || (b.ndim() == 1 && b.size(0) == w.size(0)), "conv2d: bias ",
            b.defined() ? to_string(b.shape()) : "", " does not match weight ", to_string(w.shape()));
}

ConvGeom make_geom(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  ConvGeom g{};
  g.n = x.size(0), g.c = x.size(1), g.h = x.size(2), g.w = x.size(3);
  g.k = w.size(0), g.r = w.size(2), g.s = w.size(3);
  g.stride_h = o.stride.h, g.stride_w = o.stride.w, g.pad_h = o.padding.h, g.pad_w = o.padding.w;
  g.dil_h = o.dilation.h, g.dil_w = o.dilation.w, g.groups = o.groups;
  const int64_t span_h = g.dil_h * (g.r - 1) + 1, span_w = g.dil_w * (g.s - 1) + 1;
  NKD_CHECK(g.r >= 1 && g.s >= 1 && span_h <= g.h + 2 * g.pad_h && span_w <= g.w + 2 * g.pad_w,
            "conv2d: kernel ", to_string(w.shape()), " spans ", span_h, "x", span_w,
            " (with dilation), larger than the padded input ", to_string(x.shape()), " (padding ", g.pad_h,
            ", ", g.pad_w, ")");
  g.p = (g.h + 2 * g.pad_h - span_h) / g.stride_h + 1;
  g.q = (g.w + 2 * g.pad_w - span_w) / g.stride_w + 1;
  return g;
}

Tensor workspace(const ConvGeom& g, TensorOptions options) {
  return empty({detail::conv_workspace_elems(g, options.dtype == DType::F32)}, options);
}

// y [N, K, P, Q] viewed as [N, K, P Q] for the per-channel bias helpers.
gpu::ChannelShape output_channels(const ConvGeom& g) { return {g.n, g.k, g.p * g.q}; }

// y[n,k,p,q] = b[k] + sum_{c', r, s} w[k,c',r,s] x[n, c, p*sh - ph + r*dh, q*sw - pw + s*dw],
// with c = group(k) * C/G + c'. Its gradients, with g = dL/dy:
//   dx[n,c,h,w]   = sum over (k in group(c), r, s, p, q) reading x[n,c,h,w] of g[n,k,p,q] w[k,c',r,s]
//   dw[k,c',r,s]  = sum_{n,p,q} g[n,k,p,q] x[n, c, p*sh - ph + r*dh, q*sw - pw + s*dw]
//   db[k]         = sum_{n,p,q} g[n,k,p,q]
class Conv2dBackward final : public Node {
 public:
  Conv2dBackward(const Tensor& x, const Tensor& w, const ConvGeom& g) : x_(x), w_(w), geom_(g) {}
  const char* name() const override { return "Conv2dBackward"; }
  void release_saved() override {
    x_.reset();
    w_.reset();
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = x_.unpack(name()), w = w_.unpack(name()), gy = grads[0].contiguous();
    Tensor gx, gw, gb;
    if (needs_input_grad(0)) gx = empty(x.shape(), x.options());
    if (needs_input_grad(1)) gw = empty(w.shape(), w.options());
    if (needs_input_grad(2)) gb = empty({geom_.k}, w.options());
    dispatch_any_float(x.dtype(), "conv2d backward", [&]<typename T>() {
      if (x.is_cuda()) {
        if constexpr (kBuiltWithCuda) {
          const Device d = x.device();
          const T* dy = gy.data<T>();
          if (gx.defined()) gpu::conv2d_backward_data<T>(d, geom_, dy, w.data<T>(), gx.data<T>());
          if (gw.defined()) gpu::conv2d_backward_filter<T>(d, geom_, dy, x.data<T>(), gw.data<T>());
          if (gb.defined()) {
            const gpu::ChannelShape s = output_channels(geom_);
            const Tensor scratch = empty({gpu::channel_scratch_doubles(s)}, {DType::F64, d});
            gpu::channel_sum<T>(d, s, dy, gb.data<T>(), scratch.data<double>());
          }
          return;
        }
        fail_without_cuda("conv2d backward", x.device());
      }
      if constexpr (!kIsHalf<T>) {  // BF16 never reaches here on the CPU (conv2d runs it in F32)
        if (gx.defined() || gw.defined()) {
          const Tensor ws = workspace(geom_, x.options());
          detail::conv2d_backward_cpu<T>(geom_, gy.data<T>(), x.data<T>(), w.data<T>(),
                                         gx.defined() ? gx.data<T>() : nullptr,
                                         gw.defined() ? gw.data<T>() : nullptr, ws.data<T>());
        }
        if (gb.defined()) detail::conv2d_backward_bias_cpu<T>(geom_, gy.data<T>(), gb.data<T>());
      }
    });
    return {gx, gw, gb};
  }

 private:
  SavedTensor x_, w_;  // contiguous: x [N, C, H, W], w [K, C/G, R, S]
  ConvGeom geom_;
};

}  // namespace

static Tensor conv2d_untraced(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& options) {
  check_conv_args(x, w, b, options);
  // BF16 on the CPU: the F32 convolution of the (exactly widened) BF16 values, rounded once, which
  // is what cuDNN's BF16 convolution with F32 accumulation computes on the GPU.
  if (is_half(x.dtype()) && !x.is_cuda()) {
    const Tensor b32 = b.defined() ? b.to(DType::F32) : Tensor();
    return conv2d(x.to(DType::F32), w.to(DType::F32), b32, options).to(x.dtype());
  }
  const ConvGeom g = make_geom(x, w, options);
  const Tensor xc = x.detach().contiguous(), wc = w.detach().contiguous();
  const Tensor bc = b.defined() ? b.detach().contiguous() : Tensor();
  Tensor y = empty({g.n, g.k, g.p, g.q}, x.options());
  dispatch_any_float(x.dtype(), "conv2d", [&]<typename T>() {
    if (x.is_cuda()) {
      if constexpr (kBuiltWithCuda) {
        gpu::conv2d_forward<T>(x.device(), g, xc.data<T>(), wc.data<T>(), y.data<T>());
        if (bc.defined())
          gpu::add_channel_bias<T>(x.device(), output_channels(g), y.data<T>(), bc.data<T>());
        return;
      }
      fail_without_cuda("conv2d", x.device());
    }
    if constexpr (!kIsHalf<T>) {
      const Tensor ws = workspace(g, x.options());
      detail::conv2d_forward_cpu<T>(g, xc.data<T>(), wc.data<T>(), {.bias = bc.defined() ? bc.data<T>() : nullptr},
                                    y.data<T>(), ws.data<T>());
    }
  });
  if (any_requires_grad({x, w, b})) record(std::make_shared<Conv2dBackward>(xc, wc, g), {x, w, b}, {y});
  return y;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& options) {
  trace::OpScope scope;
  return scope.done("conv2d", {x, w, b}, conv2d_untraced(x, w, b, options),
                    trace::OpAttrs()
                        .set("stride", {options.stride.h, options.stride.w})
                        .set("padding", {options.padding.h, options.padding.w})
                        .set("dilation", {options.dilation.h, options.dilation.w})
                        .set("groups", {options.groups}));
}

Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual, Act act,
                    const Conv2dOptions& options) {
  NKD_CHECK(!grad_enabled() || !any_requires_grad({x, w, b, residual}),
            "conv2d_fused: inference only (no gradient); run it under NoGradGuard");
  check_conv_args(x, w, b, options);
  // A 16-bit input on the CPU runs on F32 copies, rounded back once (the GPU's BF16 runs in cuDNN
  // below, F32 accumulation, as conv2d's).
  if (is_half(x.dtype()) && !x.is_cuda()) {
    auto f32 = [](const Tensor& t) { return t.defined() ? t.to(DType::F32) : Tensor(); };
    return conv2d_fused(f32(x), f32(w), f32(b), f32(residual), act, options).to(x.dtype());
  }
  const ConvGeom g = make_geom(x, w, options);
  if (residual.defined()) {
    common_device("conv2d_fused", {&x, &residual});
    const Shape out{g.n, g.k, g.p, g.q};
    NKD_CHECK(residual.dtype() == x.dtype() && residual.shape() == out,
              "conv2d_fused: residual ", describe(residual), " does not match the output [", g.n, ", ", g.k,
              ", ", g.p, ", ", g.q, "] ", name(x.dtype()));
  }
  if (x.is_cuda()) {  // cuDNN's forward and bias, then the pointwise ops
    Tensor y = conv2d(x, w, b, options);
    if (residual.defined()) y = add(y, residual);
    return activate(y, act);
  }
  const Tensor xc = x.contiguous(), wc = w.contiguous();
  const Tensor bc = b.defined() ? b.contiguous() : Tensor();
  const Tensor rc = residual.defined() ? residual.contiguous() : Tensor();
  Tensor y = empty({g.n, g.k, g.p, g.q}, x.options());
  dispatch_float(x.dtype(), "conv2d_fused", [&]<typename T>() {
    const Tensor ws = workspace(g, x.options());
    const detail::ConvEpilogue<T> ep{.bias = bc.defined() ? bc.data<T>() : nullptr,
                                     .residual = rc.defined() ? rc.data<T>() : nullptr,
                                     .act = act};
    detail::conv2d_forward_cpu<T>(g, xc.data<T>(), wc.data<T>(), ep, y.data<T>(), ws.data<T>());
  });
  return y;
}

}  // namespace nkd::ops
