// ShuffleNetV2 blocks and backbone. Width: mmcls's tables for 0.5/1.0/1.5/2.0, otherwise the 1.0x
// stage channels scaled and rounded to an even count (the block splits channels in halves); the stem
// stays 24 channels and conv5 1024 (2048 from width 2), as mmcls. small_input: stem stride 1, no
// max-pool.
#include "nets/shufflenet_v2.h"

#include <array>

#include "engine/ops/pool.h"
#include "engine/ops/shape_ops.h"
#include "layers/init.h"
#include "layers/module.h"

namespace nkd::nets {
namespace {

class ShuffleBlock final : public layers::UnaryModule, public Fusible {
 public:
  ShuffleBlock(int64_t in, int64_t out, int64_t stride) : stride_(stride) {
    NKD_CHECK(out % 2 == 0, "shufflenet_v2: block output channels must be even, got ", out);
    const int64_t half = out / 2;
    if (stride > 1) {
      branch1_ = std::make_shared<layers::Sequential>();
      branch1_->add(std::make_shared<ConvModule>(in, in, 3, stride, in, Act::kNone));
      branch1_->add(std::make_shared<ConvModule>(in, half, 1, 1, 1, Act::kReLU));
      register_module("branch1", branch1_);
    } else {
      NKD_CHECK(in == out, "shufflenet_v2: a stride-1 block needs in == out, got ", in, " -> ", out);
    }
    branch2_ = std::make_shared<layers::Sequential>();
    branch2_->add(std::make_shared<ConvModule>(stride > 1 ? in : half, half, 1, 1, 1, Act::kReLU));
    branch2_->add(std::make_shared<ConvModule>(half, half, 3, stride, half, Act::kNone));
    branch2_->add(std::make_shared<ConvModule>(half, half, 1, 1, 1, Act::kReLU));
    register_module("branch2", branch2_);
  }

  Tensor forward(const Tensor& x) override {
    Tensor out;
    if (stride_ > 1) {
      out = ops::concat({branch1_->forward(x), branch2_->forward(x)}, 1);
    } else {  // the first ceil(C/2) channels pass through
      const int64_t c = x.size(1), keep = c / 2 + c % 2;
      out = ops::concat({x.narrow(1, 0, keep), branch2_->forward(x.narrow(1, keep, c - keep))}, 1);
    }
    return ops::channel_shuffle(out, 2);
  }
  InferenceFn fused() override {  // forward() with the branches fused
    InferenceFn b1 = branch1_ ? fuse_module(*branch1_) : InferenceFn(), b2 = fuse_module(*branch2_);
    return [b1, b2, stride = stride_](const Tensor& x) {
      if (stride > 1) return ops::channel_shuffle(ops::concat({b1(x), b2(x)}, 1), 2);
      const int64_t c = x.size(1), keep = c / 2 + c % 2;
      return ops::channel_shuffle(ops::concat({x.narrow(1, 0, keep), b2(x.narrow(1, keep, c - keep))}, 1), 2);
    };
  }

 private:
  std::shared_ptr<layers::Sequential> branch1_, branch2_;
  int64_t stride_;
};

std::array<int64_t, 4> channels_for(double width) {
  if (width == 0.5) return {48, 96, 192, 1024};
  if (width == 1.0) return {116, 232, 464, 1024};
  if (width == 1.5) return {176, 352, 704, 1024};
  if (width == 2.0) return {244, 488, 976, 2048};
  auto even = [&](int64_t c) { return 2 * scale_width(c / 2, width); };
  return {even(116), even(232), even(464), width < 2.0 ? 1024 : 2048};
}

}  // namespace

ShuffleNetV2::ShuffleNetV2(const NetOptions& o) : small_input_(o.small_input) {
  const std::array<int64_t, 4> ch = channels_for(o.width);
  const int64_t stem = 24;
  conv1_ = register_module("conv1", std::make_shared<ConvModule>(o.in_channels, stem, 3,
                                                                 o.small_input ? 1 : 2, 1, Act::kReLU));
  layers_ = register_module("layers", std::make_shared<layers::ModuleList<layers::UnaryModule>>());
  const int64_t blocks[3] = {4, 8, 4};
  int64_t in = stem;
  for (int s = 0; s < 3; ++s) {
    auto stage = std::make_shared<layers::Sequential>();
    for (int64_t b = 0; b < blocks[s]; ++b) {
      stage->add(std::make_shared<ShuffleBlock>(in, ch[s], b == 0 ? 2 : 1));
      in = ch[s];
    }
    layers_->add(stage);
  }
  mid_channels_ = in;
  out_channels_ = ch[3];
  layers_->add(std::make_shared<ConvModule>(in, out_channels_, 1, 1, 1, Act::kReLU));  // conv5
}

std::vector<Tensor> ShuffleNetV2::forward_stages(const Tensor& x) {
  Tensor y = conv1_->forward(x);
  if (!small_input_) y = ops::max_pool2d(y, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
  std::vector<Tensor> outs;
  for (const auto& stage_or_conv5 : *layers_) {
    y = stage_or_conv5->forward(y);
    outs.push_back(y);
  }
  return outs;
}

InferenceFn ShuffleNetV2::fused() {
  std::vector<InferenceFn> steps;
  for (const auto& stage_or_conv5 : *layers_) steps.push_back(fuse_module(*stage_or_conv5));
  return [stem = fuse_module(*conv1_), steps = std::move(steps), pool = !small_input_](const Tensor& x) {
    Tensor y = stem(x);
    if (pool) y = ops::max_pool2d(y, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
    for (const InferenceFn& f : steps) y = f(y);
    return y;
  };
}

void ShuffleNetV2::init_weights(Generator& gen) {
  for (auto& [name, m] : named_modules()) {
    if (auto* c = dynamic_cast<layers::Conv2d*>(m)) {
      const double sd = name.find("conv1") != std::string::npos
                             ? 0.01
                             : 1.0 / static_cast<double>(c->weight.size(1));
      layers::init::normal(c->weight, 0.0, sd, gen);
    } else if (auto* b = dynamic_cast<layers::BatchNorm2d*>(m)) {
      layers::init::constant(b->weight, 1.0);
      layers::init::constant(b->bias, 0.0);
    }
  }
}

std::shared_ptr<Backbone> shufflenet_v2_backbone(const NetOptions& options) {
  return std::make_shared<ShuffleNetV2>(options);
}

}  // namespace nkd::nets
