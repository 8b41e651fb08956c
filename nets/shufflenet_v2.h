// ShuffleNetV2 as mmcls (1.0x: stage channels 116/232/464, conv5 1024). State names: conv1.conv /
// conv1.bn, layers.S.B.branch1.{0,1}.{conv,bn} (first block of a stage), layers.S.B.branch2.{0,1,2}.
// {conv,bn}, and conv5 as layers.3.conv / layers.3.bn (mmcls appends it to the `layers` ModuleList).
#pragma once
#include <memory>

#include "layers/basic.h"
#include "layers/module.h"
#include "nets/classifier.h"
#include "nets/inference.h"
#include "nets/conv_module.h"

namespace nkd::nets {

class ShuffleNetV2 final : public Backbone, public Fusible {
 public:
  explicit ShuffleNetV2(const NetOptions& options);
  // stage2, stage3, stage4 (mid, 464 ch at 1.0x), conv5 (1024 ch).
  std::vector<Tensor> forward_stages(const Tensor& x) override;
  InferenceFn fused() override;  // image -> last stage, folded and fused (nets/inference.h)
  int64_t out_channels() const override { return out_channels_; }
  int64_t mid_channels() const override { return mid_channels_; }
  // mmcls: the stem conv ~ N(0, 0.01), every other conv ~ N(0, 1 / weight.shape[1]); BN 1/0.
  void init_weights(Generator& gen) override;

 private:
  std::shared_ptr<ConvModule> conv1_;
  // mmcls's `layers`: the three stages (Sequential of blocks), then conv5; each output is returned.
  std::shared_ptr<layers::ModuleList<layers::UnaryModule>> layers_;
  int64_t mid_channels_, out_channels_;
  bool small_input_;
};

std::shared_ptr<Backbone> shufflenet_v2_backbone(const NetOptions& options);

}  // namespace nkd::nets
