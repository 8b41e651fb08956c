// Activations, all through the shared unary machinery and the formulas of elementwise_math.h.
#include "engine/ops/activation.h"

#include "engine/ops/detail/elementwise_math.h"
#include "engine/ops/detail/elementwise_unary.h"

namespace nkd::ops {

Tensor relu(const Tensor& x) { return detail::traced_unary(x, math::Relu{}, "relu", "ReluBackward"); }
Tensor relu6(const Tensor& x) { return detail::traced_unary(x, math::Relu6{}, "relu6", "Relu6Backward"); }
Tensor gelu(const Tensor& x) { return detail::traced_unary(x, math::Gelu{}, "gelu", "GeluBackward"); }
Tensor sigmoid(const Tensor& x) { return detail::traced_unary(x, math::Sigmoid{}, "sigmoid", "SigmoidBackward"); }
Tensor tanh(const Tensor& x) { return detail::traced_unary(x, math::Tanh{}, "tanh", "TanhBackward"); }

Tensor activate(const Tensor& x, Act act) {
  switch (act) {
    case Act::kReLU: return relu(x);
    case Act::kReLU6: return relu6(x);
    case Act::kNone: break;
  }
  return x;
}

}  // namespace nkd::ops
