// ConvModule, make_divisible and the shared Kaiming / BN initialisation.
#include "nets/conv_module.h"

#include <cmath>

#include "engine/ops/activation.h"
#include "layers/init.h"

namespace nkd::nets {

std::shared_ptr<layers::Conv2d> conv_nobias(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                            int64_t groups) {
  return std::make_shared<layers::Conv2d>(layers::Conv2dOptions{
      .in = in, .out = out, .kernel = kernel, .stride = stride, .padding = kernel / 2,
      .groups = groups, .bias = false});
}

ConvModule::ConvModule(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, Act act)
    : act_(act) {
  conv = register_module("conv", conv_nobias(in, out, kernel, stride, groups));
  bn = register_module("bn", std::make_shared<layers::BatchNorm2d>(out));
}

Tensor ConvModule::forward(const Tensor& x) { return bn->forward_act(conv->forward(x), act_); }

InferenceFn ConvModule::fused() {
  return [c = fused_conv()](const Tensor& x) { return c(x); };
}

int64_t make_divisible(double value, int64_t divisor) {
  const auto d = static_cast<double>(divisor);
  int64_t v = std::max<int64_t>(divisor, static_cast<int64_t>(value + d / 2) / divisor * divisor);
  if (static_cast<double>(v) < 0.9 * value) v += divisor;
  return v;
}

int64_t scale_width(int64_t base, double width) {
  NKD_CHECK(width > 0, "net width must be positive, got ", width);
  return std::max<int64_t>(1, std::llround(static_cast<double>(base) * width));
}

void init_kaiming_conv_bn(layers::Module& root, Generator& gen) {
  for (auto& [name, m] : root.named_modules()) {
    if (auto* c = dynamic_cast<layers::Conv2d*>(m)) {
      layers::init::kaiming_normal(c->weight, /*use_fan_out=*/true, gen);
      if (c->bias.defined()) layers::init::constant(c->bias, 0.0);
    } else if (auto* b = dynamic_cast<layers::BatchNorm2d*>(m)) {
      if (b->weight.defined()) {
        layers::init::constant(b->weight, 1.0);
        layers::init::constant(b->bias, 0.0);
      }
    }
  }
}

}  // namespace nkd::nets
