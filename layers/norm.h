// BatchNorm2d (also [N, C] input) and LayerNorm, with PyTorch's parameter and buffer names:
// weight, bias, running_mean, running_var, num_batches_tracked (I64).
#pragma once
#include "engine/ops/activation.h"
#include "layers/module.h"

namespace nkd::layers {

class BatchNorm2d final : public UnaryModule {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true);
  Tensor forward(const Tensor& x) override;  // batch statistics in train(), running in eval()
  // act(forward(x) + residual) (residual undefined: no add) through ops::batch_norm_act: in train()
  // on the CPU one fused op, the same values; the state and its names are forward's.
  Tensor forward_act(const Tensor& x, ops::Act act, const Tensor& residual = Tensor());
  void reset_parameters(Generator& gen) override;
  double eps() const { return eps_; }
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  double eps_, momentum_;
};

class LayerNorm final : public UnaryModule {
 public:
  explicit LayerNorm(int64_t features, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;  // normalises the last dim
  void reset_parameters(Generator& gen) override;
  Tensor weight, bias;  // [features]

 private:
  double eps_;
};

}  // namespace nkd::layers
