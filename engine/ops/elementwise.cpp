// Pointwise arithmetic: broadcasting binary ops with their backward nodes, and the unary ops
// built on detail/elementwise_unary.h.
#include "engine/ops/elementwise.h"

#include "engine/autograd/grad_mode.h"
#include "engine/launch.h"
#include "engine/ops/copy.h"
#include "engine/ops/detail/elementwise_math.h"
#include "engine/ops/detail/elementwise_unary.h"
#include "engine/ops/reduce.h"

namespace nkd::ops {
namespace {

template <typename F, typename T>
void launch_binary(Device device, const T* a, const T* b, T* out, int64_t n) {
  launch_vec<T>(device, n, detail::BinaryKernel<F, T>{F{}, a, b, out},
                aligned16(a) && aligned16(b) && aligned16(out));
}

// out = f(a, b) on the broadcast shape; inputs are materialised contiguous at that shape.
template <typename F>
Tensor binary_forward(const Tensor& a, const Tensor& b, const char* name) {
  common_device(name, {&a, &b});
  NKD_CHECK(a.dtype() == b.dtype(), name, ": dtypes differ: ", describe(a), " and ", describe(b));
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  const Tensor ac = a.detach().expand(shape).contiguous();
  const Tensor bc = b.detach().expand(shape).contiguous();
  Tensor out = empty(shape, a.options());
  dispatch_any_float(a.dtype(), name, [&]<typename T>() {
    launch_binary<F>(out.device(), ac.data<T>(), bc.data<T>(), out.data<T>(), out.numel());
  });
  return out;
}

// add: ga = sum_to(g), gb = sum_to(g); sub: gb = -sum_to(g).
class AddSubBackward final : public Node {
 public:
  AddSubBackward(Shape a, Shape b, bool sub) : a_(std::move(a)), b_(std::move(b)), sub_(sub) {}
  const char* name() const override { return sub_ ? "SubBackward" : "AddBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    Tensor ga, gb;
    if (needs_input_grad(0)) ga = sum_to_shape(g[0], a_);
    if (needs_input_grad(1)) gb = sub_ ? neg(sum_to_shape(g[0], b_)) : sum_to_shape(g[0], b_);
    return {ga, gb};
  }

 private:
  Shape a_, b_;
  bool sub_;
};

// mul: ga = sum_to(g * b), gb = sum_to(g * a).
// div: ga = sum_to(g / b), gb = sum_to(-g * a / b^2).
class MulDivBackward final : public Node {
 public:
  MulDivBackward(const Tensor& a, const Tensor& b, bool div) : a_(a), b_(b), div_(div) {}
  const char* name() const override { return div_ ? "DivBackward" : "MulBackward"; }
  void release_saved() override {
    a_.reset();
    b_.reset();
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor a = a_.unpack(name()), b = b_.unpack(name());
    Tensor ga, gb;
    if (!div_) {
      if (needs_input_grad(0)) ga = sum_to_shape(mul(g[0], b), a.shape());
      if (needs_input_grad(1)) gb = sum_to_shape(mul(g[0], a), b.shape());
    } else {
      if (needs_input_grad(0)) ga = sum_to_shape(div(g[0], b), a.shape());
      if (needs_input_grad(1)) gb = sum_to_shape(neg(div(mul(g[0], a), mul(b, b))), b.shape());
    }
    return {ga, gb};
  }

 private:
  SavedTensor a_, b_;
  bool div_;
};

// a 16-bit float operand meeting an F32 / F64 one is widened to that dtype (as PyTorch's type
// promotion: bf16 activations plus an F32 parameter give F32); other mixes stay an error.
bool widen_half(const Tensor& a, const Tensor& b, Tensor& wa, Tensor& wb) {
  if (a.dtype() == b.dtype() || is_half(a.dtype()) == is_half(b.dtype())) return false;
  if (!is_floating(a.dtype()) || !is_floating(b.dtype())) return false;
  wa = is_half(a.dtype()) ? a.to(b.dtype()) : a;
  wb = is_half(b.dtype()) ? b.to(a.dtype()) : b;
  return true;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  if (Tensor wa, wb; widen_half(a, b, wa, wb)) return add(wa, wb);
  trace::OpScope scope;
  Tensor out = binary_forward<math::Add>(a, b, "add");
  if (any_requires_grad({a, b}))
    record(std::make_shared<AddSubBackward>(a.shape(), b.shape(), false), {a, b}, {out});
  return scope.done("add", {a, b}, out);
}

Tensor sub(const Tensor& a, const Tensor& b) {
  if (Tensor wa, wb; widen_half(a, b, wa, wb)) return sub(wa, wb);
  trace::OpScope scope;
  Tensor out = binary_forward<math::Sub>(a, b, "sub");
  if (any_requires_grad({a, b}))
    record(std::make_shared<AddSubBackward>(a.shape(), b.shape(), true), {a, b}, {out});
  return scope.done("sub", {a, b}, out);
}

Tensor mul(const Tensor& a, const Tensor& b) {
  if (Tensor wa, wb; widen_half(a, b, wa, wb)) return mul(wa, wb);
  trace::OpScope scope;
  Tensor out = binary_forward<math::Mul>(a, b, "mul");
  if (any_requires_grad({a, b})) record(std::make_shared<MulDivBackward>(a, b, false), {a, b}, {out});
  return scope.done("mul", {a, b}, out);
}

Tensor div(const Tensor& a, const Tensor& b) {
  if (Tensor wa, wb; widen_half(a, b, wa, wb)) return div(wa, wb);
  trace::OpScope scope;
  Tensor out = binary_forward<math::Div>(a, b, "div");
  if (any_requires_grad({a, b})) record(std::make_shared<MulDivBackward>(a, b, true), {a, b}, {out});
  return scope.done("div", {a, b}, out);
}

Tensor add(const Tensor& x, double s) {
  return detail::traced_unary(x, math::AddScalar{s}, "add_scalar", "AddScalarBackward",
                              trace::OpAttrs().set_float("value", s));
}
Tensor mul(const Tensor& x, double s) {
  return detail::traced_unary(x, math::MulScalar{s}, "mul_scalar", "MulScalarBackward",
                              trace::OpAttrs().set_float("value", s));
}
Tensor neg(const Tensor& x) { return detail::traced_unary(x, math::Neg{}, "neg", "NegBackward"); }
Tensor exp(const Tensor& x) { return detail::traced_unary(x, math::Exp{}, "exp", "ExpBackward"); }
Tensor log(const Tensor& x) { return detail::traced_unary(x, math::Log{}, "log", "LogBackward"); }
Tensor sqrt(const Tensor& x) { return detail::traced_unary(x, math::Sqrt{}, "sqrt", "SqrtBackward"); }
Tensor pow(const Tensor& x, double e) {
  return detail::traced_unary(x, math::PowScalar{e}, "pow", "PowBackward",
                              trace::OpAttrs().set_float("exponent", e));
}

namespace {
void check_inplace(const Tensor& x, const char* name) {
  NKD_CHECK(!(grad_enabled() && x.requires_grad()), name, ": in-place update of ", describe(x),
            ", which requires grad, while gradients are recorded (use NoGradGuard)");
}
}  // namespace

void add_(const Tensor& a, const Tensor& b) {
  check_inplace(a, "add_");
  common_device("add_", {&a, &b});
  NKD_CHECK(a.dtype() == b.dtype(), "add_: dtypes differ: ", describe(a), " and ", describe(b));
  NKD_CHECK(broadcast_shapes(a.shape(), b.shape(), "add_") == a.shape(), "add_: cannot add ",
            describe(b), " into ", describe(a));
  if (a.is_contiguous()) {
    const Tensor bc = b.detach().expand(a.shape()).contiguous();
    dispatch_any_float(a.dtype(), "add_", [&]<typename T>() {
      launch_vec<T>(a.device(), a.numel(), detail::AddInplaceKernel<T>{a.data<T>(), bc.data<T>()},
                    aligned16(a.data<T>()) && aligned16(bc.data<T>()));
    });
    a.storage()->bump_version();
  } else {
    copy_(a, add(a.detach(), b.detach()));
  }
}

void mul_(const Tensor& x, double s) {
  check_inplace(x, "mul_");
  copy_(x, detail::unary_forward(x.detach().contiguous(), math::MulScalar{s}, "mul_"));
}

void fill_(const Tensor& x, double value) {
  check_inplace(x, "fill_");
  copy_(x, full({}, value, x.options()));
}

}  // namespace nkd::ops
