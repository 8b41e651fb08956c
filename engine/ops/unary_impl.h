// Internal: the machinery shared by every pointwise unary op (elementwise.cpp, activation.cpp).
// unary_op<Op>(x, op) evaluates Op::fwd per element and records UnaryBackward<Op>, which applies
// Op::bwd(g, x, y). Kernels are NKD_HD functors over a flat index, run by cpu::launch.
#pragma once
#include <memory>

#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/ops/dispatch.h"

namespace nkd::ops::detail {

template <typename Op, typename T>
struct UnaryFwdKernel {
  Op op;
  const T* x;  // [n]
  T* y;        // [n]
  NKD_HD void operator()(int64_t i) const { y[i] = op.template fwd<T>(x[i]); }
};

template <typename Op, typename T>
struct UnaryBwdKernel {
  Op op;
  const T* g;  // [n]
  const T* x;  // [n], or null when Op does not need it
  const T* y;  // [n], or null when Op does not need it
  T* gx;       // [n]
  NKD_HD void operator()(int64_t i) const {
    gx[i] = op.template bwd<T>(g[i], x ? x[i] : T(0), y ? y[i] : T(0));
  }
};

template <typename Op>
Tensor unary_forward(const Tensor& xc, const Op& op, const char* name) {
  Tensor y = empty(xc.shape(), xc.options());
  dispatch_float(xc.dtype(), name, [&]<typename T>() {
    cpu::launch(xc.numel(), UnaryFwdKernel<Op, T>{op, xc.data<T>(), y.data<T>()});
  });
  return y;
}

template <typename Op>
class UnaryBackward final : public Node {
 public:
  UnaryBackward(const Op& op, const char* name, const Tensor& x, const Tensor& y)
      : op_(op), name_(name), x_(Op::kNeedsX ? x : Tensor()), y_(Op::kNeedsY ? y : Tensor()),
        shape_(x.shape()), options_(x.options()) {}
  const char* name() const override { return name_; }
  void release_saved() override {
    x_.reset();
    y_.reset();
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = x_.unpack(name_), y = y_.unpack(name_), g = grads[0].contiguous();
    Tensor gx = empty(shape_, options_);
    dispatch_float(options_.dtype, name_, [&]<typename T>() {
      const T* xp = x.defined() ? x.data<T>() : nullptr;
      const T* yp = y.defined() ? y.data<T>() : nullptr;
      cpu::launch(gx.numel(), UnaryBwdKernel<Op, T>{op_, g.data<T>(), xp, yp, gx.data<T>()});
    });
    return {gx};
  }

 private:
  Op op_;
  const char* name_;
  SavedTensor x_, y_;
  Shape shape_;
  TensorOptions options_;
};

template <typename Op>
Tensor unary_op(const Tensor& x, const Op& op, const char* name, const char* backward_name) {
  require_cpu(name, {&x});
  const Tensor xc = x.detach().contiguous();
  Tensor y = unary_forward(xc, op, name);
  if (any_requires_grad({x}))
    record(std::make_shared<UnaryBackward<Op>>(op, backward_name, xc, y), {x}, {y});
  return y;
}

}  // namespace nkd::ops::detail
