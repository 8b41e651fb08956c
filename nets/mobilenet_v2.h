// MobileNetV2 as mmcls: ConvModule stem conv1, seven inverted-residual stages layer1..layer7, the
// final ConvModule conv2; ReLU6; no dropout. State names: conv1.conv / conv1.bn,
// layerS.B.conv.K.{conv,bn} (K = 0..1 when the expand ratio is 1, else 0..2), conv2.conv / conv2.bn.
#pragma once
#include <array>
#include <memory>

#include "layers/basic.h"
#include "nets/classifier.h"
#include "nets/inference.h"
#include "nets/conv_module.h"

namespace nkd::nets {

class MobileNetV2 final : public Backbone, public Fusible {
 public:
  explicit MobileNetV2(const NetOptions& options);
  // layer1 .. layer7, conv2 (8 outputs); mid = layer7 (320 ch at width 1), last = conv2 (1280).
  std::vector<Tensor> forward_stages(const Tensor& x) override;
  InferenceFn fused() override;  // image -> last stage, folded and fused (nets/inference.h)
  int64_t out_channels() const override { return out_channels_; }
  int64_t mid_channels() const override { return mid_channels_; }
  void init_weights(Generator& gen) override;  // Kaiming fan_out convs, BN 1/0

 private:
  std::shared_ptr<ConvModule> conv1_, conv2_;
  std::array<std::shared_ptr<layers::Sequential>, 7> layers_;
  int64_t mid_channels_, out_channels_;
};

std::shared_ptr<Backbone> mobilenet_v2_backbone(const NetOptions& options);

}  // namespace nkd::nets
