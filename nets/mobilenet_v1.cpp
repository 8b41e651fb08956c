// MobileNet (v1): a stem conv_bn and depthwise-separable conv_dw blocks, plain ReLU, no dropout.
// Width scales every channel count to a multiple of 8 (make_divisible); small_input makes the
// stem stride 1.
#include "nets/mobilenet_v1.h"

#include "nets/conv_module.h"

namespace nkd::nets {
namespace {

using layers::BatchNorm2d;

// conv_bn: conv3x3(stride) -> BN -> ReLU, children 0, 1, 2.
std::shared_ptr<layers::Sequential> conv_bn(int64_t in, int64_t out, int64_t stride) {
  auto s = std::make_shared<layers::Sequential>();
  s->add(conv_nobias(in, out, 3, stride)).add(std::make_shared<BatchNorm2d>(out)).add(layers::relu());
  return s;
}

// conv_dw: dw3x3(stride) -> BN -> ReLU -> pw1x1 -> BN -> ReLU, children 0 .. 5.
std::shared_ptr<layers::Sequential> conv_dw(int64_t in, int64_t out, int64_t stride) {
  auto s = std::make_shared<layers::Sequential>();
  s->add(conv_nobias(in, in, 3, stride, in)).add(std::make_shared<BatchNorm2d>(in)).add(layers::relu());
  s->add(conv_nobias(in, out, 1)).add(std::make_shared<BatchNorm2d>(out)).add(layers::relu());
  return s;
}

// The blocks of `stack` (conv_bn / conv_dw Sequentials of conv, BN, ReLU triples, built above) with
// each BN and its ReLU as one BatchNorm2d::forward_act (one pass in CPU training; the same bits as
// BN then ReLU). The ReLU modules stay children: the parameter names and the inference form
// (fuse_module) are unchanged.
Tensor run_blocks(layers::Sequential& stack, Tensor x) {
  for (size_t b = 0; b < stack.size(); ++b) {
    auto& block = static_cast<layers::Sequential&>(stack[b]);
    for (size_t i = 0; i + 2 < block.size(); i += 3)
      x = static_cast<BatchNorm2d&>(block[i + 1]).forward_act(block[i].forward(x), ops::Act::kReLU);
  }
  return x;
}

}  // namespace

MobileNetV1::MobileNetV1(const NetOptions& o) {
  auto ch = [&](int64_t c) { return make_divisible(static_cast<double>(c) * o.width, 8); };
  // (out, stride) of the 11 conv_dw blocks of the body, after the stem conv_bn(in, 32, 2).
  const std::pair<int64_t, int64_t> body[] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},
                                              {512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1}};
  model_ = std::make_shared<layers::Sequential>();
  model_->add(conv_bn(o.in_channels, ch(32), o.small_input ? 1 : 2));
  int64_t in = ch(32);
  for (const auto& [out, stride] : body) {
    model_->add(conv_dw(in, ch(out), stride));
    in = ch(out);
  }
  mid_channels_ = in;
  s4_ = std::make_shared<layers::Sequential>();
  s4_->add(conv_dw(in, ch(1024), 2)).add(conv_dw(ch(1024), ch(1024), 1));
  out_channels_ = ch(1024);
  register_module("model", model_);
  register_module("s4", s4_);
}

std::vector<Tensor> MobileNetV1::forward_stages(const Tensor& x) {
  Tensor mid = run_blocks(*model_, x);
  return {mid, run_blocks(*s4_, mid)};
}

InferenceFn MobileNetV1::fused() {  // conv_bn / conv_dw: Sequentials of conv, BN, ReLU
  return [model = fuse_module(*model_), s4 = fuse_module(*s4_)](const Tensor& x) { return s4(model(x)); };
}

void MobileNetV1::init_weights(Generator& gen) { init_kaiming_conv_bn(*this, gen); }

std::shared_ptr<Backbone> mobilenet_v1_backbone(const NetOptions& options) {
  return std::make_shared<MobileNetV1>(options);
}

}  // namespace nkd::nets
