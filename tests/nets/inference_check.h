// Shared by the inference-form tests (CPU: test_inference.cpp, GPU: gpu_inference.cpp): every net of
// the zoo with non-trivial batch-norm statistics, its eval-mode logits and its inference form's.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "layers/init.h"
#include "layers/norm.h"
#include "nets/classifier.h"
#include "nets/inference.h"

namespace nkd::testing {

struct InferenceCase {
  std::string net;
  nets::NetOptions options;
  int64_t size;  // input H = W
};

// Every net of the registry as a teacher: the ImageNet layout at reduced width and size (and the
// demo's small-input ResNet-18), 10 classes.
inline std::vector<InferenceCase> inference_cases() {
  const nets::NetOptions quarter{.num_classes = 10, .width = 0.25};
  return {{"resnet18", {.num_classes = 10, .in_channels = 1, .width = 0.25, .small_input = true}, 28},
          {"resnet18", quarter, 64},
          {"resnet34", quarter, 64},
          {"resnet50", quarter, 64},
          {"mobilenet_v1", quarter, 64},
          {"mobilenet_v2", quarter, 64},
          {"shufflenet_v2", {.num_classes = 10, .width = 0.5}, 64},
          {"swin_tiny", quarter, 224}};
}

// The net with random batch-norm affine parameters and running statistics from a few train-mode
// forwards of shifted, scaled input (init_weights leaves gamma 1 or 0 and beta 0, the running
// statistics 0 and 1: folding them would test little) and a head with N(0, 1) weights (logits of
// order 1-10 instead of 0.01), then in eval mode.
inline std::shared_ptr<nets::ImageClassifier> net_with_bn_statistics(const InferenceCase& c, Generator& gen) {
  auto net = nets::build_net(c.net, c.options, 0);
  for (auto& [name, m] : net->named_modules())
    if (auto* bn = dynamic_cast<layers::BatchNorm2d*>(m)) {
      layers::init::uniform(bn->weight, 0.5, 1.5, gen);
      layers::init::uniform(bn->bias, -0.5, 0.5, gen);
    }
  layers::init::normal(net->head().fc->weight, 0.0, 1.0, gen);
  net->train();
  {
    NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i)
      net->forward(ops::add(ops::mul(randn({4, c.options.in_channels, c.size, c.size}, gen), 2.0), 0.5));
  }
  net->eval();
  return net;
}

// The eval-mode net's own logits for x, without a graph: what the inference form is checked against.
inline Tensor eval_logits(nets::ImageClassifier& net, const Tensor& x) {
  NoGradGuard no_grad;
  return net.forward(x);
}

// max |a - b| / max(1, max |b|).
inline double relative_max_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = to_vector<double>(a.to(kCPU).to(DType::F64)), y = to_vector<double>(b.to(kCPU).to(DType::F64));
  double diff = 0, scale = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

}  // namespace nkd::testing
