// Conv2d and Linear layers (parameters named weight / bias as in PyTorch).
#pragma once
#include "engine/ops/conv.h"
#include "layers/module.h"

namespace nkd::layers {

struct Conv2dOptions {
  int64_t in = 0, out = 0;
  ops::Size2 kernel = 1;
  ops::Size2 stride = 1;
  ops::Size2 padding = 0;
  ops::Size2 dilation = 1;
  int64_t groups = 1;
  bool bias = true;
};

class Conv2d final : public UnaryModule {
 public:
  explicit Conv2d(const Conv2dOptions& options);
  Tensor forward(const Tensor& x) override;  // [N, in, H, W] -> [N, out, P, Q]
  void reset_parameters(Generator& gen) override;
  const Conv2dOptions& options() const { return o_; }
  Tensor weight, bias;  // [out, in/groups, R, S], [out] or undefined

 private:
  Conv2dOptions o_;
};

class Linear final : public UnaryModule {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x) override;  // [..., in] -> [..., out]
  void reset_parameters(Generator& gen) override;
  Tensor weight, bias;  // [out, in], [out] or undefined
};

}  // namespace nkd::layers
