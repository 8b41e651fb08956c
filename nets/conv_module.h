// Building blocks shared by the CNN backbones: mmcv's ConvModule (children "conv" and "bn", then an
// optional activation), the bias-free convolution they all use, mmcls's make_divisible, and the
// common mmcv init (Kaiming normal fan_out on every Conv2d, BN weight 1 / bias 0).
#pragma once
#include <memory>

#include "engine/ops/activation.h"
#include "layers/conv.h"
#include "layers/norm.h"
#include "nets/inference.h"

namespace nkd::nets {

using Act = ops::Act;

// k x k convolution without bias; padding k / 2.
std::shared_ptr<layers::Conv2d> conv_nobias(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                                            int64_t groups = 1);

// mmcv ConvModule(conv -> BN -> act) with a bias-free conv: state names conv.weight, bn.*.
class ConvModule final : public layers::UnaryModule, public Fusible {
 public:
  ConvModule(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, Act act);
  Tensor forward(const Tensor& x) override;
  FusedConv fused_conv() const { return FusedConv(*conv, bn.get(), act_); }
  InferenceFn fused() override;
  std::shared_ptr<layers::Conv2d> conv;
  std::shared_ptr<layers::BatchNorm2d> bn;

 private:
  Act act_;
};

// mmcls make_divisible: the multiple of divisor nearest to value, at least divisor, and not below
// 0.9 * value.
int64_t make_divisible(double value, int64_t divisor);
// round(base * width), at least 1 (the channel multiplier of NetOptions::width).
int64_t scale_width(int64_t base, double width);

// Kaiming normal (fan_out, ReLU gain, bias 0) on every Conv2d under root and weight 1 / bias 0 on
// every BatchNorm2d: mmcls's init_cfg [Kaiming(Conv2d), Constant(1, _BatchNorm)].
void init_kaiming_conv_bn(layers::Module& root, Generator& gen);

}  // namespace nkd::nets
