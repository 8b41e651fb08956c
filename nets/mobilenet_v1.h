// MobileNet (v1) as defined in yzd-v/cls_KD (mmcls/models/backbones/mobilenet_v1.py; not in upstream
// mmcls). State names follow that file's nn.Sequential indices: model.0.{0,1} (stem conv, BN),
// model.B.{0,1,3,4} (dw conv, BN, pw conv, BN; 2 and 5 are ReLUs), B = 1..11, and s4.{0,1}.{0,1,3,4}.
#pragma once
#include <memory>

#include "layers/basic.h"
#include "layers/norm.h"
#include "nets/classifier.h"
#include "nets/inference.h"

namespace nkd::nets {

class MobileNetV1 final : public Backbone, public Fusible {
 public:
  explicit MobileNetV1(const NetOptions& options);
  // {body output (512 ch, stride 16), s4 output (1024 ch, stride 32)}.
  std::vector<Tensor> forward_stages(const Tensor& x) override;
  InferenceFn fused() override;  // image -> last stage, folded and fused (nets/inference.h)
  int64_t out_channels() const override { return out_channels_; }
  int64_t mid_channels() const override { return mid_channels_; }
  void init_weights(Generator& gen) override;  // Kaiming fan_out convs, BN 1/0

 private:
  std::shared_ptr<layers::Sequential> model_, s4_;
  int64_t mid_channels_, out_channels_;
};

std::shared_ptr<Backbone> mobilenet_v1_backbone(const NetOptions& options);

}  // namespace nkd::nets
