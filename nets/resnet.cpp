// ResNet blocks (BasicBlock, Bottleneck) and the ResNet backbone.
#include "nets/resnet.h"

#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "layers/init.h"
#include "nets/conv_module.h"

namespace nkd::nets {
namespace {

using layers::BatchNorm2d;
using layers::Conv2d;

// Base class of both blocks: the optional downsample path and the zero-init hook.
class ResBlock : public layers::UnaryModule, public Fusible {
 public:
  virtual BatchNorm2d& last_bn() = 0;

 protected:
  // conv1x1(stride) + BN when the shape changes; registered last, as in mmcls.
  void make_downsample(int64_t in, int64_t out, int64_t stride) {
    if (stride == 1 && in == out) return;
    downsample_ = std::make_shared<layers::Sequential>();
    downsample_->add(conv_nobias(in, out, 1, stride)).add(std::make_shared<BatchNorm2d>(out));
    register_module("downsample", downsample_);
  }
  Tensor shortcut(const Tensor& x) { return downsample_ ? downsample_->forward(x) : x; }
  // The shortcut's inference function (the identity when there is no downsample).
  InferenceFn fused_shortcut() {
    if (!downsample_) return [](const Tensor& x) { return x; };
    return fuse_module(*downsample_);
  }

 private:
  std::shared_ptr<layers::Sequential> downsample_;
};

class BasicBlock final : public ResBlock {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module("conv1", conv_nobias(in, out, 3, stride));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(out));
    conv2_ = register_module("conv2", conv_nobias(out, out, 3));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(out));
    make_downsample(in, out, stride);
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = conv2_->forward(bn1_->forward_act(conv1_->forward(x), Act::kReLU));
    return bn2_->forward_act(y, Act::kReLU, shortcut(x));  // relu(bn2(y) + shortcut(x))
  }
  BatchNorm2d& last_bn() override { return *bn2_; }
  InferenceFn fused() override {  // relu(bn2(conv2(.)) + shortcut) in conv2's output pass
    return [c1 = FusedConv(*conv1_, bn1_.get(), Act::kReLU), c2 = FusedConv(*conv2_, bn2_.get(), Act::kReLU),
            sc = fused_shortcut()](const Tensor& x) { return c2(c1(x), sc(x)); };
  }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_;
};

// 1x1 -> 3x3 (stride) -> 1x1 (x4), mmcls style "pytorch".
class Bottleneck final : public ResBlock {
 public:
  Bottleneck(int64_t in, int64_t out, int64_t stride) {
    const int64_t mid = out / 4;
    conv1_ = register_module("conv1", conv_nobias(in, mid, 1));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(mid));
    conv2_ = register_module("conv2", conv_nobias(mid, mid, 3, stride));
    bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(mid));
    conv3_ = register_module("conv3", conv_nobias(mid, out, 1));
    bn3_ = register_module("bn3", std::make_shared<BatchNorm2d>(out));
    make_downsample(in, out, stride);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = bn1_->forward_act(conv1_->forward(x), Act::kReLU);
    y = conv3_->forward(bn2_->forward_act(conv2_->forward(y), Act::kReLU));
    return bn3_->forward_act(y, Act::kReLU, shortcut(x));  // relu(bn3(y) + shortcut(x))
  }
  BatchNorm2d& last_bn() override { return *bn3_; }
  InferenceFn fused() override {
    return [c1 = FusedConv(*conv1_, bn1_.get(), Act::kReLU), c2 = FusedConv(*conv2_, bn2_.get(), Act::kReLU),
            c3 = FusedConv(*conv3_, bn3_.get(), Act::kReLU),
            sc = fused_shortcut()](const Tensor& x) { return c3(c2(c1(x)), sc(x)); };
  }

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<BatchNorm2d> bn1_, bn2_, bn3_;
};

struct Arch {
  bool bottleneck;
  std::array<int, 4> depths;
};

Arch arch_of(int depth) {
  switch (depth) {
    case 18: return {false, {2, 2, 2, 2}};
    case 34: return {false, {3, 4, 6, 3}};
    case 50: return {true, {3, 4, 6, 3}};
    default: NKD_FAIL("resnet: depth must be 18, 34 or 50, got ", depth);
  }
}

}  // namespace

ResNet::ResNet(int depth, const NetOptions& o) : small_input_(o.small_input) {
  const Arch arch = arch_of(depth);
  const int64_t stem = scale_width(64, o.width);
  conv1_ = register_module("conv1", o.small_input ? conv_nobias(o.in_channels, stem, 3, 1)
                                                  : conv_nobias(o.in_channels, stem, 7, 2));
  bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(stem));
  int64_t in = stem;
  for (int s = 0; s < 4; ++s) {
    const int64_t out = scale_width(64 << s, o.width) * (arch.bottleneck ? 4 : 1);
    layers_[s] = std::make_shared<layers::Sequential>();
    for (int b = 0; b < arch.depths[s]; ++b) {
      const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
      if (arch.bottleneck) layers_[s]->add(std::make_shared<Bottleneck>(in, out, stride));
      else layers_[s]->add(std::make_shared<BasicBlock>(in, out, stride));
      in = out;
    }
    out_channels_[s] = out;
    register_module("layer" + std::to_string(s + 1), layers_[s]);
  }
}

std::vector<Tensor> ResNet::forward_stages(const Tensor& x) {
  Tensor y = bn1_->forward_act(conv1_->forward(x), Act::kReLU);
  if (!small_input_) y = ops::max_pool2d(y, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
  std::vector<Tensor> outs;
  for (auto& layer : layers_) {
    y = layer->forward(y);
    outs.push_back(y);
  }
  return outs;
}

InferenceFn ResNet::fused() {
  std::vector<InferenceFn> stages;
  for (auto& layer : layers_) stages.push_back(fuse_module(*layer));
  return [stem = FusedConv(*conv1_, bn1_.get(), Act::kReLU), stages, pool = !small_input_](const Tensor& x) {
    Tensor y = stem(x);
    if (pool) y = ops::max_pool2d(y, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
    for (const InferenceFn& stage : stages) y = stage(y);
    return y;
  };
}

void ResNet::init_weights(Generator& gen) {
  init_kaiming_conv_bn(*this, gen);
  for (auto& [name, m] : named_modules())
    if (auto* block = dynamic_cast<ResBlock*>(m)) layers::init::constant(block->last_bn().weight, 0.0);
}

std::shared_ptr<Backbone> resnet_backbone(int depth, const NetOptions& options) {
  return std::make_shared<ResNet>(depth, options);
}

}  // namespace nkd::nets
