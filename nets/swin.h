// Swin Transformer backbone as mmcls SwinTransformer (arch "tiny" for the registry's swin_tiny):
// patch_embed, stages.0-3 (SwinBlockSequence), norm{i} for every returned stage i. Stage outputs
// are taken before the stage's downsample (out_after_downsample = False) and returned [N, C, H, W].
#pragma once
#include <memory>
#include <vector>

#include "layers/module.h"
#include "nets/classifier.h"
#include "nets/swin_blocks.h"

namespace nkd::nets {

struct SwinOptions {
  int64_t in_channels = 3;
  int64_t embed_dims = 96;
  std::vector<int64_t> depths = {2, 2, 6, 2};
  std::vector<int64_t> num_heads = {3, 6, 12, 24};
  int64_t window = 7;
  int64_t patch = 4;
  double drop_path_rate = 0.0;  // linearly 0 .. rate over all blocks (mmcls dpr)
  // Returned stages, ascending; each gets its LayerNorm norm{i}. (0, 1, 2, 3) is the
  // distillation config (NKD_SPEC 4.4); mmcls's default (3,) has only norm3.
  std::vector<int64_t> out_indices = {0, 1, 2, 3};
};

class SwinTransformer final : public Backbone {
 public:
  explicit SwinTransformer(const SwinOptions& options);
  // norm_i(stage i) for i in out_indices, each [N, C_i, H_i, W_i].
  std::vector<Tensor> forward_stages(const Tensor& x) override;
  int64_t out_channels() const override;
  int64_t mid_channels() const override;  // the second-to-last returned stage (norm2: 384 for tiny)
  // mmcls Swin config init: trunc-normal(0.02) Linear weights with zero bias, LayerNorm 1 / 0,
  // trunc-normal(0.02) relative position bias tables; the patch conv keeps PyTorch's default.
  void init_weights(Generator& gen) override;
  // The Swin config's head: TruncNormal(std 0.02), bias 0.
  void init_head(layers::Linear& fc, Generator& gen) const override;
  const SwinOptions& options() const { return o_; }
  int64_t stage_channels(size_t i) const { return stage_channels_[i]; }

 private:
  SwinOptions o_;
  std::shared_ptr<PatchEmbed> patch_embed_;
  std::shared_ptr<layers::ModuleList<SwinBlockSequence>> stages_;
  std::vector<std::shared_ptr<layers::LayerNorm>> norms_;  // indexed by stage; null when not returned
  std::vector<int64_t> stage_channels_;
};

// Swin-T options from NetOptions: embed dims 3 * max(1, round(32 * width)) (96 at width 1, so
// the heads 3, 6, 12, 24 divide every stage's channels), drop_path_rate and in_channels.
SwinOptions swin_tiny_options(const NetOptions& options);
std::shared_ptr<Backbone> swin_tiny_backbone(const NetOptions& options);

}  // namespace nkd::nets
