// Internal: the machinery shared by every pointwise unary op (elementwise.cpp, activation.cpp).
// unary_op<Op>(x, op) evaluates Op::fwd per element and records UnaryBackward<Op>, which applies
// Op::bwd(g, x, y). The kernels are the functors of elementwise_math.h, run on either device by
// nkd::launch_vec (engine/launch.h); F32 GELU on an AVX-512 CPU runs gelu_cpu.cpp's kernels instead.
#pragma once
#include <memory>
#include <type_traits>

#include "engine/autograd/node.h"
#include "engine/cpu/features.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/detail/act_avx512.h"
#include "engine/ops/detail/elementwise_math.h"
#include "engine/ops/dispatch.h"
#include "engine/trace.h"

namespace nkd::ops::detail {

// y = Op::fwd(x) over n contiguous elements on `device`.
template <typename Op, typename T>
void launch_unary_forward(Device device, const Op& op, const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<Op, math::Gelu> && std::is_same_v<T, float>) {
    if (device.is_cpu() && cpu::has_avx512f())
      return cpu::parallel_for(n, cpu::kGrain,
                               [=](int64_t b, int64_t e) { gelu_forward_avx512(x + b, y + b, e - b); });
  }
  launch_vec<T>(device, n, UnaryFwdKernel<Op, T>{op, x, y}, aligned16(x) && aligned16(y));
}

// gx = Op::bwd(g, x, y) over n contiguous elements on `device`.
template <typename Op, typename T>
void launch_unary_backward(Device device, const Op& op, const T* g, const T* x, const T* y, T* gx,
                           int64_t n) {
  if constexpr (std::is_same_v<Op, math::Gelu> && std::is_same_v<T, float>) {
    if (device.is_cpu() && cpu::has_avx512f())
      return cpu::parallel_for(n, cpu::kGrain, [=](int64_t b, int64_t e) {
        gelu_backward_avx512(g + b, x + b, gx + b, e - b);
      });
  }
  const bool aligned = aligned16(g) && aligned16(x) && aligned16(y) && aligned16(gx);
  launch_vec<T>(device, n, UnaryBwdKernel<Op, T>{op, g, x, y, gx}, aligned);
}

template <typename Op>
Tensor unary_forward(const Tensor& xc, const Op& op, const char* name) {
  Tensor y = empty(xc.shape(), xc.options());
  dispatch_any_float(xc.dtype(), name, [&]<typename T>() {
    launch_unary_forward(xc.device(), op, xc.data<T>(), y.data<T>(), xc.numel());
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
    NKD_ASSERT(g.device() == gx.device(), name_, ": gradient on ", g.device().str(),
               " for an input on ", gx.device().str());
    dispatch_any_float(options_.dtype, name_, [&]<typename T>() {
      const T* xp = x.defined() ? x.data<T>() : nullptr;
      const T* yp = y.defined() ? y.data<T>() : nullptr;
      launch_unary_backward(gx.device(), op_, g.data<T>(), xp, yp, gx.data<T>(), gx.numel());
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
  const Tensor xc = x.detach().contiguous();
  Tensor y = unary_forward(xc, op, name);
  if (any_requires_grad({x}))
    record(std::make_shared<UnaryBackward<Op>>(op, backward_name, xc, y), {x}, {y});
  return y;
}

// unary_op reported to an op tracer (engine/trace.h) under `name`, with `attrs`.
template <typename Op>
Tensor traced_unary(const Tensor& x, const Op& op, const char* name, const char* backward_name,
                    trace::OpAttrs attrs = {}) {
  trace::OpScope scope;
  return scope.done(name, {x}, unary_op(x, op, name, backward_name), std::move(attrs));
}

}  // namespace nkd::ops::detail
