// A small BN-free net for the data-parallel tests (conv 3x3 -> ReLU -> linear on 6x6 inputs), its
// loss on a batch, and a deterministic synthetic batch: the same on every rank and every run.
#pragma once
#include <memory>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/random.h"
#include "layers/conv.h"
#include "losses/losses.h"

namespace nkd::dist::testing {

struct TinyNet {
  std::shared_ptr<layers::Conv2d> conv = std::make_shared<layers::Conv2d>(
      layers::Conv2dOptions{.in = 1, .out = 4, .kernel = 3, .padding = 1});
  std::shared_ptr<layers::Linear> fc = std::make_shared<layers::Linear>(4 * 6 * 6, 10);

  explicit TinyNet(uint64_t seed) {
    Generator gen(seed);
    conv->reset_parameters(gen);
    fc->reset_parameters(gen);
  }
  std::vector<Tensor> params() const { return {conv->weight, conv->bias, fc->weight, fc->bias}; }
  void to(Device d) {
    conv->to(d);
    fc->to(d);
  }
  Tensor loss(const Tensor& x, const Tensor& y) {
    const Tensor h = ops::relu(conv->forward(x)).reshape({x.size(0), 4 * 6 * 6});
    return losses::cross_entropy(fc->forward(h), y);
  }
};

// Batch `step` of n samples: images [n, 1, 6, 6] and labels [n].
inline std::pair<Tensor, Tensor> synthetic_batch(int64_t n, int64_t step) {
  Generator gen(1234, uint64_t(step));
  const Tensor x = randn({n, 1, 6, 6}, gen);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back((i * 7 + step * 3) % 10);
  return {x, from_vector(labels, {n})};
}

}  // namespace nkd::dist::testing
