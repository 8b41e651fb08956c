// fold_batch_norm: W' = W * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps), in F64.
#include "layers/bn_fold.h"

#include "engine/autograd/grad_mode.h"
#include "engine/check.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/view.h"

namespace nkd::layers {

FoldedWeights fold_batch_norm(const Tensor& conv_weight, const Tensor& conv_bias, const BatchNorm2d& bn) {
  NoGradGuard no_grad;
  const int64_t out = conv_weight.size(0);
  NKD_CHECK(bn.running_mean.numel() == out, "fold_batch_norm: the batch norm has ", bn.running_mean.numel(),
            " channels, the convolution ", out, " outputs");
  const Tensor mean = bn.running_mean.to(DType::F64);
  const Tensor gamma = bn.weight.defined() ? bn.weight.to(DType::F64)
                                           : ones({out}, {DType::F64, bn.running_mean.device()});
  const Tensor scale = ops::div(gamma, ops::sqrt(ops::add(bn.running_var.to(DType::F64), bn.eps())));
  Shape per_channel(static_cast<size_t>(conv_weight.ndim()), 1);
  per_channel[0] = out;
  const Tensor weight = ops::mul(conv_weight.to(DType::F64), ops::reshape(scale, per_channel));
  Tensor bias = conv_bias.defined() ? ops::sub(conv_bias.to(DType::F64), mean) : ops::neg(mean);
  bias = ops::mul(bias, scale);
  if (bn.bias.defined()) bias = ops::add(bias, bn.bias.to(DType::F64));
  return {weight.to(conv_weight.dtype()).contiguous(), bias.to(conv_weight.dtype()).contiguous()};
}

}  // namespace nkd::layers
