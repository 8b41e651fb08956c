// MobileNetV2: inverted residual blocks (expand 1x1 -> dw3x3 -> project 1x1, residual iff stride 1
// and in == out). Width: channels make_divisible(c * width, 8); conv2 stays 1280 unless width > 1
// (mmcls). small_input makes the stem stride 1.
#include "nets/mobilenet_v2.h"

#include "engine/ops/elementwise.h"

namespace nkd::nets {
namespace {

class InvertedResidual final : public layers::UnaryModule, public Fusible {
 public:
  InvertedResidual(int64_t in, int64_t out, int64_t stride, int64_t expand)
      : residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expand;  // int(round(in * t)) for integer t
    conv_ = std::make_shared<layers::Sequential>();
    if (expand != 1) conv_->add(std::make_shared<ConvModule>(in, hidden, 1, 1, 1, Act::kReLU6));
    conv_->add(std::make_shared<ConvModule>(hidden, hidden, 3, stride, hidden, Act::kReLU6));
    conv_->add(std::make_shared<ConvModule>(hidden, out, 1, 1, 1, Act::kNone));
    register_module("conv", conv_);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = conv_->forward(x);
    return residual_ ? ops::add(x, y) : y;
  }
  InferenceFn fused() override {  // the residual added in the projection's output pass
    std::vector<FusedConv> convs;
    for (size_t i = 0; i < conv_->size(); ++i) convs.push_back(dynamic_cast<ConvModule&>((*conv_)[i]).fused_conv());
    return [convs = std::move(convs), residual = residual_](const Tensor& x) {
      Tensor y = x;
      for (size_t i = 0; i + 1 < convs.size(); ++i) y = convs[i](y);
      return convs.back()(y, residual ? x : Tensor());
    };
  }

 private:
  std::shared_ptr<layers::Sequential> conv_;
  bool residual_;
};

struct StageSetting {
  int64_t expand, channels, blocks, stride;
};
constexpr StageSetting kArch[7] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2},  {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

}  // namespace

MobileNetV2::MobileNetV2(const NetOptions& o) {
  int64_t in = make_divisible(32 * o.width, 8);
  conv1_ = register_module("conv1", std::make_shared<ConvModule>(o.in_channels, in, 3,
                                                                 o.small_input ? 1 : 2, 1, Act::kReLU6));
  for (int s = 0; s < 7; ++s) {
    const StageSetting& st = kArch[s];
    const int64_t out = make_divisible(static_cast<double>(st.channels) * o.width, 8);
    layers_[s] = std::make_shared<layers::Sequential>();
    for (int64_t b = 0; b < st.blocks; ++b) {
      layers_[s]->add(std::make_shared<InvertedResidual>(in, out, b == 0 ? st.stride : 1, st.expand));
      in = out;
    }
    register_module("layer" + std::to_string(s + 1), layers_[s]);
  }
  mid_channels_ = in;
  out_channels_ = o.width > 1.0 ? static_cast<int64_t>(1280 * o.width) : 1280;
  conv2_ = register_module("conv2", std::make_shared<ConvModule>(in, out_channels_, 1, 1, 1, Act::kReLU6));
}

std::vector<Tensor> MobileNetV2::forward_stages(const Tensor& x) {
  Tensor y = conv1_->forward(x);
  std::vector<Tensor> outs;
  for (auto& layer : layers_) {
    y = layer->forward(y);
    outs.push_back(y);
  }
  outs.push_back(conv2_->forward(y));
  return outs;
}

InferenceFn MobileNetV2::fused() {
  std::vector<InferenceFn> steps{fuse_module(*conv1_)};
  for (auto& layer : layers_) steps.push_back(fuse_module(*layer));
  steps.push_back(fuse_module(*conv2_));
  return [steps = std::move(steps)](const Tensor& x) {
    Tensor y = x;
    for (const InferenceFn& f : steps) y = f(y);
    return y;
  };
}

void MobileNetV2::init_weights(Generator& gen) { init_kaiming_conv_bn(*this, gen); }

std::shared_ptr<Backbone> mobilenet_v2_backbone(const NetOptions& options) {
  return std::make_shared<MobileNetV2>(options);
}

}  // namespace nkd::nets
