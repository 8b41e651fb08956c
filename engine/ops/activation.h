// Pointwise activations: same shape, dtype (F32/F64) and device as x; differentiable.
#pragma once
#include "engine/tensor.h"

namespace nkd::ops {

Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);    // min(max(x, 0), 6)
Tensor gelu(const Tensor& x);     // exact erf form: x * Phi(x)
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// The activations a convolution's output pass can apply (conv2d_fused, the nets' ConvModule).
enum class Act { kNone, kReLU, kReLU6 };
// relu, relu6 or x itself by `act` (no op case: the ops it calls have theirs).
Tensor activate(const Tensor& x, Act act);

}  // namespace nkd::ops
