// The Swin Transformer backbone (mmcls SwinTransformer) and its mmcls init.
#include "nets/swin.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/ops/view.h"
#include "layers/init.h"

namespace nkd::nets {
namespace {

using layers::LayerNorm;
using layers::ModuleList;

void check_options(const SwinOptions& o) {
  NKD_CHECK(!o.depths.empty() && o.depths.size() == o.num_heads.size(), "SwinTransformer: ", o.depths.size(),
            " stage depths but ", o.num_heads.size(), " head counts");
  NKD_CHECK(!o.out_indices.empty() && std::is_sorted(o.out_indices.begin(), o.out_indices.end()) &&
                std::adjacent_find(o.out_indices.begin(), o.out_indices.end()) == o.out_indices.end() &&
                o.out_indices.front() >= 0 && o.out_indices.back() < static_cast<int64_t>(o.depths.size()),
            "SwinTransformer: out_indices must be ascending, distinct stage indices below ", o.depths.size());
  NKD_CHECK(o.drop_path_rate >= 0 && o.drop_path_rate < 1, "SwinTransformer: drop_path_rate ",
            o.drop_path_rate, " outside [0, 1)");
}

}  // namespace

SwinTransformer::SwinTransformer(const SwinOptions& o) : o_(o) {
  check_options(o);
  patch_embed_ =
      register_module("patch_embed", std::make_shared<PatchEmbed>(o.in_channels, o.embed_dims, o.patch));
  int64_t total = 0;
  for (int64_t d : o.depths) total += d;
  // torch.linspace(0, rate, total): block k of the whole net gets rate * k / (total - 1).
  std::vector<double> dpr(total, 0.0);
  for (int64_t k = 1; k < total; ++k)
    dpr[k] = o.drop_path_rate * static_cast<double>(k) / static_cast<double>(total - 1);

  stages_ = register_module("stages", std::make_shared<ModuleList<SwinBlockSequence>>());
  int64_t dims = o.embed_dims, first = 0;
  for (size_t i = 0; i < o.depths.size(); ++i) {
    const std::vector<double> rates(dpr.begin() + first, dpr.begin() + first + o.depths[i]);
    const bool downsample = i + 1 < o.depths.size();
    auto stage = stages_->add(
        std::make_shared<SwinBlockSequence>(dims, o.depths[i], o.num_heads[i], o.window, rates, downsample));
    stage_channels_.push_back(dims);
    first += o.depths[i];
    dims = stage->out_channels();
  }
  norms_.resize(o.depths.size());
  for (int64_t i : o.out_indices)
    norms_[i] = register_module("norm" + std::to_string(i), std::make_shared<LayerNorm>(stage_channels_[i]));
}

std::vector<Tensor> SwinTransformer::forward_stages(const Tensor& x) {
  NKD_CHECK(x.ndim() == 4 && x.size(1) == o_.in_channels, "SwinTransformer: expected [N, ", o_.in_channels,
            ", H, W], got ", to_string(x.shape()));
  Tensor y = patch_embed_->forward(x);  // [N, H/4, W/4, C]
  std::vector<Tensor> outs;
  for (size_t i = 0; i < stages_->size(); ++i) {
    SwinBlockSequence& stage = (*stages_)[i];
    y = stage.forward(y);
    if (norms_[i]) outs.push_back(ops::permute(norms_[i]->forward(y), {0, 3, 1, 2}).contiguous());
    if (stage.downsample) y = stage.downsample->forward(y);
  }
  return outs;
}

int64_t SwinTransformer::out_channels() const {
  return stage_channels_[o_.out_indices.back()];
}

int64_t SwinTransformer::mid_channels() const {
  const size_t n = o_.out_indices.size();
  return n >= 2 ? stage_channels_[o_.out_indices[n - 2]] : 0;
}

void SwinTransformer::init_weights(Generator& gen) {
  for (auto& [name, m] : named_modules()) {
    if (auto* linear = dynamic_cast<layers::Linear*>(m)) {
      layers::init::trunc_normal(linear->weight, 0.02, gen);
      if (linear->bias.defined()) layers::init::constant(linear->bias, 0.0);
    } else if (auto* ln = dynamic_cast<layers::LayerNorm*>(m)) {
      layers::init::constant(ln->weight, 1.0);
      layers::init::constant(ln->bias, 0.0);
    } else if (auto* msa = dynamic_cast<WindowMSA*>(m)) {
      layers::init::trunc_normal(msa->relative_position_bias_table, 0.02, gen);
    }
  }
}

void SwinTransformer::init_head(layers::Linear& fc, Generator& gen) const {
  layers::init::trunc_normal(fc.weight, 0.02, gen);
  layers::init::constant(fc.bias, 0.0);
}

SwinOptions swin_tiny_options(const NetOptions& o) {
  NKD_CHECK(o.width > 0, "swin_tiny: width must be positive, got ", o.width);
  SwinOptions s;
  s.in_channels = o.in_channels;
  s.embed_dims = 3 * std::max<int64_t>(1, std::llround(32.0 * o.width));
  s.drop_path_rate = o.drop_path_rate;
  return s;
}

std::shared_ptr<Backbone> swin_tiny_backbone(const NetOptions& o) {
  NKD_CHECK(!o.small_input, "swin_tiny: small_input (the CIFAR stem) is a ResNet option");
  return std::make_shared<SwinTransformer>(swin_tiny_options(o));
}

}  // namespace nkd::nets
