// BatchNorm2d and LayerNorm.
#include "layers/norm.h"

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "layers/init.h"

namespace nkd::layers {

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum, bool affine)
    : eps_(eps), momentum_(momentum) {
  if (affine) {
    weight = register_parameter("weight", ones({channels}));
    bias = register_parameter("bias", zeros({channels}));
  }
  running_mean = register_buffer("running_mean", zeros({channels}));
  running_var = register_buffer("running_var", ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {DType::I64}));
}

Tensor BatchNorm2d::forward(const Tensor& x) { return forward_act(x, ops::Act::kNone); }

Tensor BatchNorm2d::forward_act(const Tensor& x, ops::Act act, const Tensor& residual) {
  if (is_training()) {
    NoGradGuard no_grad;
    ops::copy_(num_batches_tracked, ops::add(num_batches_tracked.to(DType::F64), 1.0));
  }
  const ops::BatchNormOptions o{.training = is_training(), .momentum = momentum_, .eps = eps_};
  if (act == ops::Act::kNone && !residual.defined())
    return ops::batch_norm(x, weight, bias, running_mean, running_var, o);
  return ops::batch_norm_act(x, weight, bias, running_mean, running_var, o, act, residual);
}

void BatchNorm2d::reset_parameters(Generator&) {
  if (weight.defined()) {
    init::constant(weight, 1.0);
    init::constant(bias, 0.0);
  }
}

LayerNorm::LayerNorm(int64_t features, double eps) : eps_(eps) {
  weight = register_parameter("weight", ones({features}));
  bias = register_parameter("bias", zeros({features}));
}

Tensor LayerNorm::forward(const Tensor& x) {
  return ops::layer_norm(x, {weight.size(0)}, weight, bias, eps_);
}

void LayerNorm::reset_parameters(Generator&) {
  init::constant(weight, 1.0);
  init::constant(bias, 0.0);
}

}  // namespace nkd::layers
