// Normalisation ops: batch norm (per channel, over batch and space) and layer norm (per row, over
// the trailing dims). F32/F64 on the CPU; statistics accumulate in double. x may be any strided
// view; outputs are new contiguous tensors. Differentiable in x, weight and bias.
#pragma once
#include "engine/ops/activation.h"
#include "engine/tensor.h"

namespace nkd::ops {

struct BatchNormOptions {
  bool training = false;  // batch statistics (and running-stat update) vs running statistics
  double momentum = 0.1;  // running = (1 - momentum) * running + momentum * batch
  double eps = 1e-5;
};

// x [N, C] or [N, C, H, W] (any [N, C, ...]); weight, bias [C] or undefined (no affine);
// running_mean, running_var [C] of x's dtype, or undefined (only when training).
// Training: y = (x - mean) / sqrt(var + eps) * weight + bias with the batch mean and biased batch
// variance over all dims but C, and (when defined) the running stats are updated in place, not
// recorded, with the UNBIASED batch variance for running_var; their version is bumped. Throws when
// a channel has a single value. Inference: the running stats replace the batch statistics.
// The running stats get no gradient.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var,
                  const BatchNormOptions& options);

// act(batch_norm(x, ...) + residual) (residual undefined: no add; act kNone: no activation), the
// same values as the three ops; in training on the CPU (F32 / F64) one op whose passes over memory
// do the add and the activation too (its backward: the activation's mask, the residual's gradient
// and batch norm's backward in one). Elsewhere it runs the separate ops. Differentiable in x,
// weight, bias and residual.
Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                      const Tensor& running_var, const BatchNormOptions& options, Act act,
                      const Tensor& residual = Tensor());

// Normalises over the trailing dims `normalized_shape` of x (each row: mean and biased variance),
// then y = xhat * weight + bias with weight, bias of shape normalized_shape (or undefined).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);

}  // namespace nkd::ops
