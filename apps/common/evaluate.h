// Evaluation of a classifier on a loader: top-k accuracy (in %) and, optionally, each image's
// top-5 classes and scores (softmax probabilities). The net runs in eval mode under no-grad.
#pragma once
#include <functional>
#include <vector>

#include "data/loader.h"
#include "nets/classifier.h"

namespace nkd::apps {

struct EvalResult {
  std::vector<int64_t> topk;     // e.g. {1, 5}
  std::vector<double> accuracy;  // % per topk entry
  int64_t images = 0;
  double seconds = 0;
};

struct Prediction {
  int64_t index, label;
  std::vector<int64_t> classes;  // best first
  std::vector<float> scores;
};

EvalResult evaluate(nets::ImageClassifier& net, data::Loader& loader, Device device,
                    const std::vector<int64_t>& topk,
                    const std::function<void(const Prediction&)>& on_prediction = nullptr);

}  // namespace nkd::apps
