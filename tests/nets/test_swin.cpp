// Swin-T structure: exact parameter counts (with and without norm0-norm2), mmcls state-dict names,
// stage channels, drop-path rates, the mmcls init, and the torchvision name mapping both ways
// (names, entry count, patch-merging permutation). Numerical checks: tests/nets/test_swin_attention.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/factory.h"
#include "nets/swin.h"
#include "nets/swin_torchvision_names.h"

namespace nkd::nets {
namespace {

// A Swin-T classifier without init_weights (the seeded trunc-normal of 28M weights costs seconds).
std::shared_ptr<ImageClassifier> swin_classifier(std::vector<int64_t> out_indices, double width = 1.0,
                                                 int64_t classes = 1000) {
  SwinOptions o = swin_tiny_options({.num_classes = classes, .width = width});
  o.out_indices = std::move(out_indices);
  return std::make_shared<ImageClassifier>(std::make_shared<SwinTransformer>(o), classes);
}

// The full-size distillation layout (out_indices (0, 1, 2, 3)), built once for the structural tests.
ImageClassifier& full_swin() {
  static const std::shared_ptr<ImageClassifier> net = swin_classifier({0, 1, 2, 3});
  return *net;
}

bool has_key(const layers::NamedTensors& state, const std::string& key) {
  return std::any_of(state.begin(), state.end(), [&](const auto& e) { return e.first == key; });
}

TEST(Swin, ParameterCountMatchesTorchvisionSwinT) {
  // torchvision swin_t and mmcls SwinTransformer(arch="tiny", out_indices=(3,)): 28,288,354.
  const auto plain = swin_classifier({3});
  EXPECT_EQ(plain->num_parameters(), 28288354);
  // The distillation config (out_indices (0, 1, 2, 3)) adds norm0-norm2: 2 * (96 + 192 + 384) = 1,344.
  const int64_t distill = full_swin().num_parameters();
  EXPECT_EQ(distill, 28289698);
  EXPECT_EQ(distill - plain->num_parameters(), 1344);
  std::printf("[ swin     ] Swin-T parameters: %lld with out_indices (3,), %lld with (0, 1, 2, 3)\n",
              static_cast<long long>(plain->num_parameters()), static_cast<long long>(distill));
}

TEST(Swin, RegistryBuildsTheDistillationLayout) {
  const std::vector<std::string> names = net_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "swin_tiny"), names.end());
  const auto net = build_net("swin_tiny", {.num_classes = 10, .width = 0.25}, 0);
  EXPECT_EQ(net->backbone().out_channels(), 192);
  EXPECT_EQ(net->backbone().mid_channels(), 96);
  EXPECT_EQ(full_swin().backbone().out_channels(), 768);
  EXPECT_EQ(full_swin().backbone().mid_channels(), 384);  // norm2(stage 3), USKD's channel
}

TEST(Swin, StateDictNamesAreMmcls) {
  const layers::NamedTensors state = full_swin().state_dict();
  for (const char* key :
       {"backbone.patch_embed.projection.weight", "backbone.patch_embed.projection.bias",
        "backbone.patch_embed.norm.weight", "backbone.stages.0.blocks.0.norm1.weight",
        "backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias_table",
        "backbone.stages.0.blocks.0.attn.w_msa.qkv.weight", "backbone.stages.0.blocks.0.attn.w_msa.qkv.bias",
        "backbone.stages.0.blocks.1.attn.w_msa.proj.bias", "backbone.stages.0.blocks.0.norm2.bias",
        "backbone.stages.0.blocks.0.ffn.layers.0.0.weight", "backbone.stages.0.blocks.0.ffn.layers.1.bias",
        "backbone.stages.2.blocks.5.ffn.layers.1.weight", "backbone.stages.0.downsample.norm.weight",
        "backbone.stages.2.downsample.reduction.weight", "backbone.norm0.weight", "backbone.norm2.bias",
        "backbone.norm3.weight", "head.fc.weight", "head.fc.bias"})
    EXPECT_TRUE(has_key(state, key)) << key;
  for (const auto& [name, t] : state) {
    EXPECT_EQ(name.find("relative_position_index"), std::string::npos) << name;
    EXPECT_EQ(name.find("stages.3.downsample"), std::string::npos) << name;
  }
  // 4 patch embed + 12 blocks x 13 + 3 merges x 3 + 4 norms x 2 + 2 head.
  EXPECT_EQ(state.size(), 179u);
  EXPECT_EQ(state.front().first, "backbone.patch_embed.projection.weight");
  EXPECT_EQ(state.back().first, "head.fc.bias");
  const auto plain = swin_classifier({3}, 0.25)->state_dict();
  EXPECT_FALSE(has_key(plain, "backbone.norm0.weight"));
  EXPECT_EQ(plain.size(), 173u);
}

TEST(Swin, ShapesOfTheTinyLayout) {
  const layers::NamedTensors state = full_swin().state_dict();
  auto shape_of = [&](const std::string& key) {
    for (const auto& [n, t] : state)
      if (n == key) return t.shape();
    return Shape{};
  };
  EXPECT_EQ(shape_of("backbone.patch_embed.projection.weight"), (Shape{96, 3, 4, 4}));
  EXPECT_EQ(shape_of("backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias_table"), (Shape{169, 3}));
  EXPECT_EQ(shape_of("backbone.stages.3.blocks.1.attn.w_msa.relative_position_bias_table"), (Shape{169, 24}));
  EXPECT_EQ(shape_of("backbone.stages.1.blocks.0.attn.w_msa.qkv.weight"), (Shape{576, 192}));
  EXPECT_EQ(shape_of("backbone.stages.2.blocks.0.ffn.layers.0.0.weight"), (Shape{1536, 384}));
  EXPECT_EQ(shape_of("backbone.stages.0.downsample.norm.weight"), (Shape{384}));
  EXPECT_EQ(shape_of("backbone.stages.2.downsample.reduction.weight"), (Shape{768, 1536}));
  EXPECT_EQ(shape_of("backbone.norm2.weight"), (Shape{384}));
  EXPECT_EQ(shape_of("head.fc.weight"), (Shape{1000, 768}));
}

TEST(Swin, WidthKeepsHeadsDividingChannels) {
  for (double width : {0.01, 0.1, 0.25, 0.33, 0.77}) {
    const SwinOptions o = swin_tiny_options({.width = width});
    EXPECT_EQ(o.embed_dims % 3, 0) << width;
    EXPECT_NO_THROW(SwinTransformer{o}) << width;
  }
  EXPECT_EQ(swin_tiny_options({.width = 0.01}).embed_dims, 3);
  EXPECT_EQ(swin_tiny_options({.width = 0.25}).embed_dims, 24);
  EXPECT_EQ(swin_tiny_options({.width = 1.0}).embed_dims, 96);
  EXPECT_EQ(swin_tiny_options({.width = 1.5}).embed_dims, 144);
  EXPECT_THROW(swin_tiny_options({.width = 0.0}), Error);
}

TEST(Swin, DropPathRatesRiseLinearlyOverTwelveBlocks) {
  SwinOptions o = swin_tiny_options({.width = 0.25});
  o.drop_path_rate = 0.2;
  SwinTransformer net(o);
  std::vector<double> rates;
  for (auto& [name, m] : net.named_modules())
    if (name.size() > 9 && name.compare(name.size() - 9, 9, "attn.drop") == 0)
      rates.push_back(dynamic_cast<layers::DropPath*>(m)->p());
  ASSERT_EQ(rates.size(), 12u);
  for (size_t k = 0; k < rates.size(); ++k) EXPECT_NEAR(rates[k], 0.2 * static_cast<double>(k) / 11, 1e-12);
  for (auto& [name, m] : net.named_modules()) {  // the FFN's DropPath matches its block's attention one
    if (name == "stages.2.blocks.5.ffn.dropout_layer") {
      EXPECT_NEAR(dynamic_cast<layers::DropPath*>(m)->p(), 0.2 * 9 / 11.0, 1e-12);
    }
  }
}

TEST(Swin, InitIsMmclsTruncNormalAndLayerNormOnesZeros) {
  const NetOptions o{.num_classes = 10, .width = 0.1};  // 9 channels: about 280k weights to sample
  const auto net = build_net("swin_tiny", o, 5);
  double sum = 0, sq = 0, n = 0;
  for (const auto& [name, t] : net->backbone().named_parameters()) {
    const std::vector<double> v = to_vector<double>(t.to(DType::F64));
    const bool ln = name.find("norm") != std::string::npos;
    if (ln && name.find(".weight") != std::string::npos) {
      EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](double x) { return x == 1.0; })) << name;
    } else if (name.find(".bias") != std::string::npos && name.find("projection") == std::string::npos) {
      EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0; })) << name;
    } else if (name.find("projection") == std::string::npos) {  // Linear weights and bias tables
      for (double x : v) {
        EXPECT_LE(std::abs(x), 2.0) << name;
        sum += x, sq += x * x, n += 1;
      }
    }
  }
  const double mean = sum / n, stddev = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 1e-3);
  EXPECT_NEAR(stddev, 0.02, 5e-4);
  const auto same = build_net("swin_tiny", o, 5);
  const auto other = build_net("swin_tiny", o, 6);
  const std::string key = "backbone.stages.1.blocks.1.attn.w_msa.relative_position_bias_table";
  Tensor a, b, c;
  for (const auto& [k, t] : net->state_dict()) if (k == key) a = t;
  for (const auto& [k, t] : same->state_dict()) if (k == key) b = t;
  for (const auto& [k, t] : other->state_dict()) if (k == key) c = t;
  EXPECT_EQ(to_vector<float>(a), to_vector<float>(b));
  EXPECT_NE(to_vector<float>(a), to_vector<float>(c));
}

TEST(SwinTorchvisionNames, NamesMapBothWays) {
  const std::pair<const char*, const char*> pairs[] = {
      {"backbone.patch_embed.projection.weight", "features.0.0.weight"},
      {"backbone.patch_embed.norm.bias", "features.0.2.bias"},
      {"backbone.stages.0.blocks.1.norm1.weight", "features.1.1.norm1.weight"},
      {"backbone.stages.1.blocks.0.attn.w_msa.qkv.weight", "features.3.0.attn.qkv.weight"},
      {"backbone.stages.2.blocks.5.attn.w_msa.proj.bias", "features.5.5.attn.proj.bias"},
      {"backbone.stages.3.blocks.1.attn.w_msa.relative_position_bias_table",
       "features.7.1.attn.relative_position_bias_table"},
      {"backbone.stages.3.blocks.0.attn.w_msa.relative_position_index",
       "features.7.0.attn.relative_position_index"},
      {"backbone.stages.2.blocks.3.ffn.layers.0.0.weight", "features.5.3.mlp.0.weight"},
      {"backbone.stages.0.blocks.0.ffn.layers.1.bias", "features.1.0.mlp.3.bias"},
      {"backbone.stages.0.downsample.norm.weight", "features.2.norm.weight"},
      {"backbone.stages.2.downsample.reduction.weight", "features.6.reduction.weight"},
      {"backbone.norm3.bias", "norm.bias"},
      {"head.fc.weight", "head.weight"},
  };
  for (const auto& [mm, tv] : pairs) {
    EXPECT_EQ(swin_to_torchvision_name(mm), tv);
    EXPECT_EQ(swin_from_torchvision_name(tv), mm);
  }
  for (const char* bad : {"backbone.norm0.weight", "backbone.stages.0.blocks.0.ffn.layers.2.weight",
                          "backbone.stages.3.downsample.reduction.bias", "neck.weight"})
    EXPECT_THROW(swin_to_torchvision_name(bad), Error) << bad;
  for (const char* bad : {"features.1.0.mlp.1.weight", "features.0.1.weight", "classifier.weight"})
    EXPECT_THROW(swin_from_torchvision_name(bad), Error) << bad;
}

TEST(SwinTorchvisionNames, MergeChannelIndexIsTheUnfoldOrder) {
  const int64_t c = 5;
  const std::vector<int64_t> to_tv = to_vector<int64_t>(swin_merge_channel_index(c, true));
  const std::vector<int64_t> from_tv = to_vector<int64_t>(swin_merge_channel_index(c, false));
  for (int64_t i = 0; i < 4 * c; ++i) EXPECT_EQ(from_tv[to_tv[i]], i);
  // torchvision's x1 = x[1::2, 0::2] (kh 1, kw 0) holds channels [C, 2C); mmcls puts (c, kh 1, kw 0) at 4c + 2.
  EXPECT_EQ(to_tv[c + 3], 4 * 3 + 2);
  // torchvision's x2 = x[0::2, 1::2] (kh 0, kw 1): channels [2C, 3C) <- mmcls 4c + 1.
  EXPECT_EQ(to_tv[2 * c + 4], 4 * 4 + 1);
  EXPECT_EQ(from_tv[1], 2 * c);  // mmcls channel 1 = (c 0, kh 0, kw 1) = torchvision x2's channel 0
}

TEST(SwinTorchvisionNames, StateDictsRoundTrip) {
  const auto net = swin_classifier({0, 1, 2, 3}, 0.25, 10);
  const layers::NamedTensors mm = net->state_dict();
  const layers::NamedTensors tv = swin_to_torchvision(mm);
  // torchvision swin_t: 4 + 12 x 14 (with relative_position_index) + 3 x 3 + 2 + 2 entries.
  EXPECT_EQ(tv.size(), 185u);
  int64_t tv_params = 0;
  for (const auto& [n, t] : tv)
    if (n.find("relative_position_index") == std::string::npos) tv_params += t.numel();
  EXPECT_EQ(tv_params, swin_classifier({3}, 0.25, 10)->num_parameters());
  const layers::NamedTensors back = swin_from_torchvision(tv);
  ASSERT_EQ(back.size(), mm.size() - 6);  // norm0-norm2 have no torchvision counterpart
  size_t j = 0;
  for (const auto& [name, t] : mm) {
    if (name.rfind("backbone.norm", 0) == 0 && name.rfind("backbone.norm3", 0) != 0) continue;
    ASSERT_EQ(back[j].first, name);
    EXPECT_EQ(to_vector<float>(back[j].second), to_vector<float>(t)) << name;
    ++j;
  }
  // The merge tensors really move: the torchvision norm weight is the mmcls one permuted.
  const auto merged = layers::NamedTensors{{"backbone.stages.0.downsample.norm.weight", arange(96)}};
  const std::vector<float> moved = to_vector<float>(swin_to_torchvision(merged)[0].second);
  EXPECT_EQ(moved[24], 2.0f);  // torchvision channel C + 0 (x1, c 0) <- mmcls 0 * 4 + 2
  layers::NamedTensors bad_index = tv;  // an index buffer nkd would not reproduce is refused
  for (auto& [n, t] : bad_index)
    if (n == "features.1.0.attn.relative_position_index") t = zeros({2401}, {DType::I64});
  EXPECT_THROW(swin_from_torchvision(bad_index), Error);
}

}  // namespace
}  // namespace nkd::nets
