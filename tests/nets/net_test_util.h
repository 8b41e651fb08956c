// Helpers shared by the net tests: a log_softmax + gather cross entropy (the losses library is
// separate), nets without the (slow) seeded init, the key list of a state dict, finite checks.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "layers/module.h"
#include "nets/classifier.h"
#include "nets/mobilenet_v1.h"
#include "nets/mobilenet_v2.h"
#include "nets/resnet.h"
#include "nets/shufflenet_v2.h"

namespace nkd::testing {

// Mean over the batch of -log_softmax(logits)[label]; logits [N, K], labels I64 [N].
inline Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  const Tensor picked = ops::gather(ops::log_softmax(logits, 1), 1, labels.reshape({labels.numel(), 1}));
  return ops::neg(ops::mean(picked));
}

// A net as build_net makes it, without init_weights (PyTorch-default weights): for the tests that
// only look at structure, since initialising 25M parameters costs seconds on the CI machine.
inline std::shared_ptr<nets::ImageClassifier> uninitialised_net(const std::string& name,
                                                                 const nets::NetOptions& o) {
  std::shared_ptr<nets::Backbone> b;
  if (name.rfind("resnet", 0) == 0) b = nets::resnet_backbone(std::stoi(name.substr(6)), o);
  else if (name == "mobilenet_v1") b = nets::mobilenet_v1_backbone(o);
  else if (name == "mobilenet_v2") b = nets::mobilenet_v2_backbone(o);
  else if (name == "shufflenet_v2") b = nets::shufflenet_v2_backbone(o);
  else NKD_FAIL("uninitialised_net: unknown net ", name);
  return std::make_shared<nets::ImageClassifier>(b, o.num_classes);
}

inline std::vector<std::string> keys_of(const layers::NamedTensors& state) {
  std::vector<std::string> keys;
  for (const auto& [name, t] : state) keys.push_back(name);
  return keys;
}

inline bool all_finite(const Tensor& t) {
  for (double v : to_vector<double>(t.to(DType::F64)))
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace nkd::testing
