// ResNet-18/34/50 as mmcls ResNet (style "pytorch" = v1.5: the stride sits on the 3x3 conv) and, with
// NetOptions::small_input, mmcls ResNet_CIFAR (3x3 stride-1 stem, no max-pool). State names match
// mmcls: conv1, bn1, layerS.B.{conv1,bn1,conv2,bn2[,conv3,bn3]}, layerS.0.downsample.{0,1}.
#pragma once
#include <array>
#include <memory>

#include "layers/basic.h"
#include "layers/norm.h"
#include "nets/classifier.h"
#include "nets/inference.h"

namespace nkd::nets {

class ResNet final : public Backbone, public Fusible {
 public:
  ResNet(int depth, const NetOptions& options);
  std::vector<Tensor> forward_stages(const Tensor& x) override;
  InferenceFn fused() override;  // image -> last stage, folded and fused (nets/inference.h)  // layer1 .. layer4
  int64_t out_channels() const override { return out_channels_[3]; }
  int64_t mid_channels() const override { return out_channels_[2]; }
  // Kaiming fan_out convs, BN 1/0, then zero_init_residual: the last BN of every block gets gamma 0.
  void init_weights(Generator& gen) override;

 private:
  std::shared_ptr<layers::Conv2d> conv1_;
  std::shared_ptr<layers::BatchNorm2d> bn1_;
  std::array<std::shared_ptr<layers::Sequential>, 4> layers_;
  std::array<int64_t, 4> out_channels_{};
  bool small_input_;
};

// depth 18, 34 or 50.
std::shared_ptr<Backbone> resnet_backbone(int depth, const NetOptions& options);

}  // namespace nkd::nets
