// Batch norm and layer norm (norm.h): argument checks, F32/F64 dispatch, CPU kernels, backward
// nodes. Batch norm normalises channel c of x viewed as contiguous [N, C, L] over its M = N L
// elements (parallel over channels); layer norm normalises each row of x viewed as [rows, D]
// (parallel over rows). Statistics are two-pass (mean, then squared deviations) in double.
#include "engine/ops/norm.h"

#include <cmath>
#include <memory>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/copy.h"
#include "engine/ops/detail/batch_norm_cpu.h"
#include "engine/ops/detail/batch_norm_cuda.h"
#include "engine/ops/detail/batch_norm_math.h"
#include "engine/ops/detail/layer_norm_cuda.h"
#include "engine/ops/detail/layer_norm_math.h"
#include "engine/ops/detail/norm_cpu.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

using detail::channel_moments;
using detail::mut_or_null;
using detail::NCL;
using detail::ptr_or_null;
using detail::Sums;
using detail::sums_of;

// Backward of batch_norm and of batch_norm_act's fused CPU form: inputs {x, weight, bias} and, with
// a residual, the residual; y (the output) saved when an activation needs its mask.
class BatchNormBackward final : public Node {
 public:
  BatchNormBackward(const Tensor& x, const Tensor& w, const Tensor& y, Tensor mean, Tensor invstd, NCL s,
                    bool training, Act act, bool residual)
      : x_(x),
        w_(w),
        y_(act == Act::kNone ? Tensor() : y),
        mean_(std::move(mean)),
        invstd_(std::move(invstd)),
        s_(s),
        training_(training),
        act_(act),
        residual_(residual) {}
  const char* name() const override { return "BatchNormBackward"; }
  void release_saved() override {
    x_.reset();
    w_.reset();
    y_.reset();
    mean_ = invstd_ = Tensor();
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = x_.unpack(name()), w = w_.unpack(name()), y = y_.unpack(name()), g = grads[0].contiguous();
    const TensorOptions po{compute_dtype(x.dtype()), x.device()};  // the parameters' dtype
    Tensor gx = needs_input_grad(0) ? empty(x.shape(), x.options()) : Tensor();
    Tensor gw = needs_input_grad(1) ? empty({s_.C}, po) : Tensor();
    Tensor gb = needs_input_grad(2) ? empty({s_.C}, po) : Tensor();
    Tensor gr = residual_ && needs_input_grad(3) ? empty(x.shape(), x.options()) : Tensor();
    dispatch_any_float(x.dtype(), name(), [&]<typename T>() {
      using P = compute_t<T>;
      if (x.is_cuda()) {
        if constexpr (kBuiltWithCuda) {
          const gpu::ChannelShape bs{s_.N, s_.C, s_.L};
          const Tensor scratch = empty({gpu::channel_scratch_doubles(bs)}, {DType::F64, x.device()});
          // With an activation or a residual, ge = act'(y) g goes to the residual's gradient or
          // to a scratch tensor first (gpu::batch_norm_backward's contract).
          const bool masked = act_ != Act::kNone || residual_;
          const Tensor ge = !masked ? Tensor() : gr.defined() ? gr : empty(x.shape(), x.options());
          return gpu::batch_norm_backward<T>(x.device(), bs, training_, x.data<T>(), ptr_or_null<T>(y),
                                             g.data<T>(), mean_.data<P>(), invstd_.data<P>(),
                                             ptr_or_null<P>(w), act_, mut_or_null<T>(ge), mut_or_null<T>(gx),
                                             mut_or_null<P>(gw), mut_or_null<P>(gb), scratch.data<double>());
        }
        fail_without_cuda(name(), x.device());
      }
      detail::bn_backward<T>(x.data<T>(), ptr_or_null<T>(y), g.data<T>(), s_, training_, mean_.data<P>(),
                             invstd_.data<P>(), ptr_or_null<P>(w), act_, mut_or_null<T>(gx), mut_or_null<P>(gw),
                             mut_or_null<P>(gb), mut_or_null<T>(gr));
    });
    if (residual_) return {gx, gw, gb, gr};
    return {gx, gw, gb};
  }

 private:
  SavedTensor x_, w_, y_;  // contiguous x [N, C, ...]; weight [C] or undefined; y when act_ needs it
  Tensor mean_, invstd_;   // [C] in compute_dtype(x), the statistics the forward used
  NCL s_;
  bool training_;
  Act act_;
  bool residual_;
};

// Layer norm forward, per row r of x [rows, D] (a "channel" of NCL{1, rows, D}): mean and
// invstd = 1 / sqrt(var + eps) saved, y = (x - mean) * invstd * weight + bias.
template <typename T, typename P>
void ln_forward(const T* x, const NCL& s, double eps, const P* w, const P* b, T* y, P* mean,
                P* invstd) {
  cpu::parallel_for(s.C, s.grain(), [=](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      double m = 0, v = 0;
      channel_moments(x, s, r, m, v);
      const double is = 1.0 / std::sqrt(v + eps);
      mean[r] = static_cast<P>(m);
      invstd[r] = static_cast<P>(is);
      const T* xr = x + r * s.L;
      T* yr = y + r * s.L;
      for (int64_t j = 0; j < s.L; ++j) yr[j] = math::ln_output(xr[j], m, is, w, b, j);
    }
  });
}

// Layer norm backward, per row r over its D elements, with xhat = (x - mean[r]) * invstd[r] and
// gh = g * weight (g when absent); y = xhat * weight + bias gives
//   gx = invstd * (gh - sum_j(gh) / D - xhat * sum_j(gh * xhat) / D)
// (the batch-norm formula with the roles of rows and columns swapped).
template <typename T, typename P>
void ln_backward_x(const T* x, const T* g, const NCL& s, const P* mean, const P* invstd, const P* w,
                   T* gx) {
  cpu::parallel_for(s.C, s.grain(), [=](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T *xr = x + r * s.L, *gr = g + r * s.L;
      const double m = mean[r], is = invstd[r];
      const Sums e = sums_of(s.L, [=](int64_t j) {
        const double gh = math::ln_gh(gr[j], w, j);
        return Sums{gh, gh * (double(xr[j]) - m)};
      });
      const double a = e.a / static_cast<double>(s.L), bx = e.b * is / static_cast<double>(s.L);
      for (int64_t j = 0; j < s.L; ++j)
        gx[r * s.L + j] = math::ln_grad_x(math::ln_gh(gr[j], w, j), xr[j], m, is, a, bx);
    }
  });
}

// gweight[j] = sum_r g[r, j] * xhat[r, j],  gbias[j] = sum_r g[r, j]; parallel over column
// ranges, each walking all rows (contiguous within its range). gw or gb may be null.
template <typename T, typename P>
void ln_backward_params(const T* x, const T* g, const NCL& s, const P* mean, const P* invstd, P* gw,
                        P* gb) {
  const int64_t grain = std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, s.C));
  cpu::parallel_for(s.L, grain, [=](int64_t begin, int64_t end) {
    std::vector<double> sw(end - begin, 0.0), sb(end - begin, 0.0);
    for (int64_t r = 0; r < s.C; ++r) {
      const T *xr = x + r * s.L, *gr = g + r * s.L;
      const double m = mean[r], is = invstd[r];
      for (int64_t j = begin; j < end; ++j) {
        sw[j - begin] += double(gr[j]) * math::ln_xhat(xr[j], m, is);
        sb[j - begin] += double(gr[j]);
      }
    }
    for (int64_t j = begin; j < end; ++j) {
      if (gw) gw[j] = static_cast<P>(sw[j - begin]);
      if (gb) gb[j] = static_cast<P>(sb[j - begin]);
    }
  });
}

class LayerNormBackward final : public Node {
 public:
  LayerNormBackward(const Tensor& x, const Tensor& w, Tensor mean, Tensor invstd, NCL s, Shape ns)
      : x_(x),
        w_(w),
        mean_(std::move(mean)),
        invstd_(std::move(invstd)),
        s_(s),
        ns_(std::move(ns)) {}
  const char* name() const override { return "LayerNormBackward"; }
  void release_saved() override {
    x_.reset();
    w_.reset();
    mean_ = invstd_ = Tensor();
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = x_.unpack(name()), w = w_.unpack(name()), g = grads[0].contiguous();
    const TensorOptions po{compute_dtype(x.dtype()), x.device()};  // the parameters' dtype
    Tensor gx = needs_input_grad(0) ? empty(x.shape(), x.options()) : Tensor();
    Tensor gw = needs_input_grad(1) ? empty(ns_, po) : Tensor();
    Tensor gb = needs_input_grad(2) ? empty(ns_, po) : Tensor();
    dispatch_any_float(x.dtype(), name(), [&]<typename T>() {
      using P = compute_t<T>;
      const T *xp = x.data<T>(), *gp = g.data<T>();
      const P *mp = mean_.data<P>(), *ip = invstd_.data<P>();
      if (x.is_cuda()) {
        if constexpr (kBuiltWithCuda) {
          if (gx.defined())
            gpu::layer_norm_backward_x<T>(x.device(), xp, gp, mp, ip, ptr_or_null<P>(w), gx.data<T>(),
                                          s_.C, s_.L);
          return gpu::layer_norm_backward_params<T>(x.device(), xp, gp, mp, ip, mut_or_null<P>(gw),
                                                    mut_or_null<P>(gb), s_.C, s_.L);
        }
        fail_without_cuda(name(), x.device());
      }
      if (gx.defined()) ln_backward_x<T, P>(xp, gp, s_, mp, ip, ptr_or_null<P>(w), gx.data<T>());
      if (gw.defined() || gb.defined())
        ln_backward_params<T, P>(xp, gp, s_, mp, ip, mut_or_null<P>(gw), mut_or_null<P>(gb));
    });
    return {gx, gw, gb};
  }

 private:
  SavedTensor x_, w_;     // contiguous x [..., D...]; weight [D...] or undefined
  Tensor mean_, invstd_;  // [rows], compute_dtype(x)
  NCL s_;                 // {1, rows, D}
  Shape ns_;              // normalized_shape
};

void check_channel_param(const Tensor& t, const Tensor& x, const char* what) {
  if (!t.defined()) return;
  NKD_CHECK(t.shape() == Shape{x.size(1)} && t.dtype() == compute_dtype(x.dtype()), "batch_norm: ", what, " ",
            describe(t), " does not match the ", x.size(1), " channels of input ", describe(x));
}

// running = (1 - momentum) * running + momentum * batch, running_var with the unbiased variance.
// In place, not recorded; copy_ bumps the version.
template <typename T>
void update_running(const Tensor& rm, const Tensor& rv, const std::vector<double>& batch,
                    const NCL& s, double momentum) {
  NoGradGuard no_grad;
  const double unbias = static_cast<double>(s.count()) / static_cast<double>(s.count() - 1);
  if (rm.defined()) {
    const std::vector<T> old = to_vector<T>(rm);
    std::vector<T> upd(s.C);
    for (int64_t c = 0; c < s.C; ++c)
      upd[c] = static_cast<T>(bn::running_mean(old[c], batch[c], momentum));
    copy_(rm, from_vector(upd, {s.C}));
  }
  if (rv.defined()) {
    const std::vector<T> old = to_vector<T>(rv);
    std::vector<T> upd(s.C);
    for (int64_t c = 0; c < s.C; ++c)
      upd[c] = static_cast<T>(bn::running_var(old[c], batch[s.C + c], unbias, momentum));
    copy_(rv, from_vector(upd, {s.C}));
  }
}

// The CUDA forward: statistics, y = act(bn(x) + residual), and (training) the running stats
// computed into new tensors and copied into running_mean / running_var (copy_ bumps their
// versions, as on the CPU). T: x's storage type, P = compute_t<T> the parameters'.
template <typename T>
void batch_norm_gpu(const Tensor& x, const Tensor& xc, const Tensor& wc, const Tensor& bias,
                    const Tensor& running_mean, const Tensor& running_var,
                    const BatchNormOptions& o, const NCL& s, const Tensor& rc, Act act, const Tensor& y,
                    const Tensor& mean, const Tensor& invstd) {
  using P = compute_t<T>;
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  const Tensor rm = running_mean.defined() ? running_mean.detach().contiguous() : Tensor();
  const Tensor rv = running_var.defined() ? running_var.detach().contiguous() : Tensor();
  const bool update = o.training && (rm.defined() || rv.defined());
  const Tensor rm_new = update && rm.defined() ? empty({s.C}, rm.options()) : Tensor();
  const Tensor rv_new = update && rv.defined() ? empty({s.C}, rv.options()) : Tensor();
  const gpu::ChannelShape bs{s.N, s.C, s.L};
  const Tensor scratch = empty({gpu::channel_scratch_doubles(bs)}, {DType::F64, x.device()});
  gpu::batch_norm_forward<T>(x.device(), bs, o.training, o.eps, o.momentum,
                             xc.data<T>(), ptr_or_null<P>(rm), ptr_or_null<P>(rv),
                             mut_or_null<P>(rm_new), mut_or_null<P>(rv_new), ptr_or_null<P>(wc),
                             ptr_or_null<P>(bc), ptr_or_null<T>(rc), act, y.data<T>(), mean.data<P>(),
                             invstd.data<P>(), scratch.data<double>());
  if (!update) return;
  NoGradGuard no_grad;
  if (rm_new.defined()) copy_(running_mean, rm_new);
  if (rv_new.defined()) copy_(running_var, rv_new);
}

}  // namespace

// y = act(batch_norm(x) + residual); a residual or an activation only where bn_act_fuses says so
// (batch_norm_act composes the separate ops elsewhere).
// A BF16 input (the output of a bf16 convolution) runs natively on both devices: x, y, the residual
// and their gradients BF16; the parameters, running and saved statistics and their gradients F32
// (the autocast policy's master weights); the F32 path's arithmetic, each BF16 value rounded once,
// so the result is that of batch_norm(x.to(F32), ...).to(BF16) bit for bit (tests/engine/
// test_bf16_native.cpp). 16-bit parameters or running statistics are widened to F32 first, and the
// updated statistics rounded back into them.
static Tensor batch_norm_untraced(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormOptions& o, const Tensor& residual = Tensor(), Act act = Act::kNone) {
  NKD_CHECK(x.defined(), "batch_norm: undefined input");
  const auto half = [](const Tensor& t) { return t.defined() && is_half(t.dtype()); };
  if (half(x) && (half(weight) || half(bias) || half(running_mean) || half(running_var))) {
    const auto wide = [&](const Tensor& t) { return half(t) ? t.to(DType::F32) : t; };
    const Tensor rm = wide(running_mean), rv = wide(running_var);
    Tensor y = batch_norm_untraced(x, wide(weight), wide(bias), rm, rv, o, residual, act);
    if (o.training && rm.defined() && !rm.same(running_mean)) copy_(running_mean, rm);
    if (o.training && rv.defined() && !rv.same(running_var)) copy_(running_var, rv);
    return y;
  }
  common_device("batch_norm", {&x, &weight, &bias, &running_mean, &running_var});
  NKD_CHECK(x.ndim() >= 2, "batch_norm: expected input [N, C, ...], got ", describe(x));
  check_channel_param(weight, x, "weight");
  check_channel_param(bias, x, "bias");
  check_channel_param(running_mean, x, "running_mean");
  check_channel_param(running_var, x, "running_var");
  NCL s{x.size(0), x.size(1), 1};
  for (int64_t d = 2; d < x.ndim(); ++d) s.L *= x.size(d);
  NKD_CHECK(o.training || (running_mean.defined() && running_var.defined()),
            "batch_norm: running_mean and running_var are required in inference mode");
  NKD_CHECK(!o.training || s.count() > 1,
            "batch_norm: expected more than 1 value per channel when training, got input ",
            to_string(x.shape()));
  const Tensor xc = x.detach().contiguous();
  const Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor rc = residual.defined() ? residual.detach().contiguous() : Tensor();
  Tensor y = empty(x.shape(), x.options());
  const TensorOptions po{compute_dtype(x.dtype()), x.device()};  // the parameters' dtype
  Tensor mean = empty({s.C}, po), invstd = empty({s.C}, po);
  std::vector<double> batch(o.training ? 2 * s.C : 0);  // [mean..., biased variance...]
  dispatch_any_float(x.dtype(), "batch_norm", [&]<typename T>() {
    using P = compute_t<T>;
    if (x.is_cuda()) {
      if constexpr (kBuiltWithCuda)
        return batch_norm_gpu<T>(x, xc, wc, bias, running_mean, running_var, o, s, rc, act, y, mean, invstd);
      fail_without_cuda("batch_norm", x.device());
    }
    const Tensor rm = o.training ? Tensor() : running_mean.detach().contiguous();
    const Tensor rv = o.training ? Tensor() : running_var.detach().contiguous();
    const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
    detail::bn_forward<T>(xc.data<T>(), s, o.training, o.eps, ptr_or_null<P>(rm), ptr_or_null<P>(rv),
                          ptr_or_null<P>(wc), ptr_or_null<P>(bc), ptr_or_null<T>(rc), act, y.data<T>(),
                          mean.data<P>(), invstd.data<P>(), batch.data());
    if (o.training) update_running<P>(running_mean, running_var, batch, s, o.momentum);
  });
  if (any_requires_grad({x, weight, bias, residual})) {
    auto node = std::make_shared<BatchNormBackward>(xc, wc, y, mean, invstd, s, o.training, act, residual.defined());
    if (residual.defined()) record(node, {x, weight, bias, residual}, {y});
    else record(node, {x, weight, bias}, {y});
  }
  return y;
}

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormOptions& o) {
  trace::OpScope scope;
  Tensor y = batch_norm_untraced(x, weight, bias, running_mean, running_var, o);
  return scope.done("batch_norm", {x, weight, bias, running_mean, running_var}, y,
                    trace::OpAttrs().set_float("eps", o.eps).set("training", {int64_t(o.training)}));
}

// The fused kernels cover training on either device in F32 / F64 / BF16 with a residual of x's
// shape, dtype and device; anything else (inference, which the ONNX export traces op by op; mixed
// dtypes) composes the ops. The fused op gives the composed ops' values bit for bit
// (tests/engine/test_batch_norm_act.cpp; BF16: test_bf16_native.cpp).
static bool bn_act_fuses(const Tensor& x, const Tensor& residual, const BatchNormOptions& o) {
  if (!o.training || !x.defined() ||
      (x.dtype() != DType::F32 && x.dtype() != DType::F64 && x.dtype() != DType::BF16))
    return false;
  return !residual.defined() || (residual.device() == x.device() && residual.shape() == x.shape() &&
                                 residual.dtype() == x.dtype());
}

Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                      const Tensor& running_var, const BatchNormOptions& o, Act act, const Tensor& residual) {
  if (!bn_act_fuses(x, residual, o)) {
    Tensor y = batch_norm(x, weight, bias, running_mean, running_var, o);
    if (residual.defined()) y = add(y, residual);
    return activate(y, act);
  }
  trace::OpScope scope;
  Tensor y = batch_norm_untraced(x, weight, bias, running_mean, running_var, o, residual, act);
  return scope.done("batch_norm_act", {x, weight, bias, running_mean, running_var, residual}, y,
                    trace::OpAttrs().set_float("eps", o.eps).set("training", {int64_t(o.training)})
                        .set("act", {int64_t(act)}));
}

static Tensor layer_norm_untraced(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  common_device("layer_norm", {&x, &weight, &bias});
  // A BF16 input runs natively on both devices: x, y and their gradients BF16, the parameters, the
  // statistics and their gradients F32, the F32 path's arithmetic with one rounding per BF16 value
  // (layer_norm(x.to(F32), ...).to(BF16) bit for bit). 16-bit parameters are widened first.
  const auto half = [](const Tensor& t) { return t.defined() && is_half(t.dtype()); };
  if (half(x) && (half(weight) || half(bias))) {
    const auto wide = [&](const Tensor& t) { return half(t) ? t.to(DType::F32) : t; };
    return layer_norm_untraced(x, normalized_shape, wide(weight), wide(bias), eps);
  }
  const Shape& ns = normalized_shape;
  const int64_t k = static_cast<int64_t>(ns.size());
  NKD_CHECK(k >= 1 && k <= x.ndim() && Shape(x.shape().end() - k, x.shape().end()) == ns,
            "layer_norm: normalized_shape ", to_string(ns), " is not the trailing dims of input ",
            describe(x));
  for (const Tensor* t : {&weight, &bias})
    NKD_CHECK(!t->defined() || (t->shape() == ns && t->dtype() == compute_dtype(x.dtype())),
              "layer_norm: ", t == &weight ? "weight " : "bias ", describe(*t),
              " does not match normalized_shape ", to_string(ns), " of input ", describe(x));
  const int64_t d = numel(ns);
  const NCL s{1, d == 0 ? 0 : x.numel() / d, d};
  const Tensor xc = x.detach().contiguous();
  const Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor y = empty(x.shape(), x.options());
  const TensorOptions po{compute_dtype(x.dtype()), x.device()};
  Tensor mean = empty({s.C}, po), invstd = empty({s.C}, po);
  dispatch_any_float(x.dtype(), "layer_norm", [&]<typename T>() {
    using P = compute_t<T>;
    if (x.is_cuda()) {
      if constexpr (kBuiltWithCuda)
        return gpu::layer_norm_forward<T>(x.device(), xc.data<T>(), ptr_or_null<P>(wc), ptr_or_null<P>(bc),
                                          y.data<T>(), mean.data<P>(), invstd.data<P>(), s.C, s.L, eps);
      fail_without_cuda("layer_norm", x.device());
    }
    ln_forward<T, P>(xc.data<T>(), s, eps, ptr_or_null<P>(wc), ptr_or_null<P>(bc), y.data<T>(),
                     mean.data<P>(), invstd.data<P>());
  });
  if (any_requires_grad({x, weight, bias}))
    record(std::make_shared<LayerNormBackward>(xc, wc, mean, invstd, s, ns), {x, weight, bias},
           {y});
  return y;
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  trace::OpScope scope;
  Tensor y = layer_norm_untraced(x, normalized_shape, weight, bias, eps);
  return scope.done("layer_norm", {x, weight, bias}, y,
                    trace::OpAttrs().set("normalized_shape", normalized_shape).set_float("eps", eps));
}

}  // namespace nkd::ops
