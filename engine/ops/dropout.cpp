// Dropout / drop-path: argument checks, the launch of math::DropoutKernel on the CPU or the GPU
// (nkd::launch: the same functor, so a GPU mask equals the CPU mask bit for bit), and the backward,
// which recomputes the mask from the saved (seed, stream, first) instead of storing it.
#include "engine/ops/dropout.h"

#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/ops/detail/dropout_math.h"
#include "engine/launch.h"
#include "engine/ops/dispatch.h"

namespace nkd::ops {
namespace {

// Where a mask comes from: unit u (element or sample) is kept iff draw (seed, stream, first + u) > p.
struct MaskSpec {
  uint64_t seed = 0, stream = 0, first = 0;
  double p = 0;
  int64_t inner = 1;  // elements per draw
};

// y = x * mask * scale (the forward on x, the backward on g).
Tensor apply_mask(const Tensor& x, const MaskSpec& m, const char* op) {
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(xc.shape(), xc.options());
  dispatch_float(xc.dtype(), op, [&]<typename T>() {
    const T scale = m.p < 1.0 ? static_cast<T>(1.0 / (1.0 - m.p)) : T(0);
    launch(y.device(), xc.numel(), math::DropoutKernel<T>{m.seed, m.stream, m.first, m.p, scale,
                                                             m.inner, xc.data<T>(), y.data<T>()});
  });
  return y;
}

// y = x * mask * scale  =>  gx = g * mask * scale (the same mask, regenerated).
class DropoutBackward final : public Node {
 public:
  DropoutBackward(const MaskSpec& mask, const char* name) : mask_(mask), name_(name) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    return {apply_mask(grads[0], mask_, name_)};
  }

 private:
  MaskSpec mask_;
  const char* name_;
};

Tensor masked(const Tensor& x, MaskSpec mask, uint64_t draws, Generator& gen, const char* op,
              const char* backward_name) {
  mask.seed = gen.seed();
  mask.stream = gen.stream();
  mask.first = gen.take(draws);
  Tensor y = apply_mask(x, mask, op);
  if (any_requires_grad({x})) record(std::make_shared<DropoutBackward>(mask, backward_name), {x}, {y});
  return y;
}

void check_args(const Tensor& x, double p, const char* op) {
  NKD_CHECK(p >= 0.0 && p <= 1.0, op, ": probability p must be in [0, 1], got ", p, " for ",
            describe(x));
  NKD_CHECK(is_floating(x.dtype()), op, ": expects a floating tensor, got ", describe(x));
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_args(x, p, "dropout");
  // A 16-bit input: the same mask on an F32 copy, the result rounded back.
  if (is_half(x.dtype())) return dropout(x.to(DType::F32), p, training, gen).to(x.dtype());
  if (!training || p == 0.0) return x;
  MaskSpec mask{.p = p, .inner = 1};
  return masked(x, mask, static_cast<uint64_t>(x.numel()), gen, "dropout", "DropoutBackward");
}

Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen) {
  check_args(x, p, "drop_path");
  if (is_half(x.dtype())) return drop_path(x.to(DType::F32), p, training, gen).to(x.dtype());
  NKD_CHECK(x.ndim() >= 1, "drop_path: expects a batch dim, got ", describe(x));
  if (!training || p == 0.0) return x;
  const int64_t n = x.size(0);
  MaskSpec mask{.p = p, .inner = n > 0 ? x.numel() / n : 1};
  if (mask.inner == 0) mask.inner = 1;
  return masked(x, mask, static_cast<uint64_t>(n), gen, "drop_path", "DropPathBackward");
}

}  // namespace nkd::ops
