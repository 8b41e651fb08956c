// Evaluation of a classifier on a loader: top-k accuracy (in %) and, optionally, each image's
// top-5 classes and scores (softmax probabilities). The net runs in eval mode under no-grad.
#pragma once
#include <functional>
#include <vector>

#include "data/loader.h"
#include "nets/classifier.h"

namespace nkd::train {

struct EvalResult {
  std::vector<int64_t> topk;     // e.g. {1, 5}
  std::vector<double> accuracy;  // % per topk entry
  std::vector<int64_t> correct;  // images with the label in the top k, per topk entry
  int64_t images = 0;
  double seconds = 0;
};

struct Prediction {
  int64_t index, label;
  std::vector<int64_t> classes;  // best first
  std::vector<float> scores;
};

// count_first >= 0: only the loader's first count_first images are counted (and predicted); the
// rest are a distributed sampler's padding (distributed.h: real_images_of_rank).
EvalResult evaluate(nets::ImageClassifier& net, data::Loader& loader, Device device,
                    const std::vector<int64_t>& topk,
                    const std::function<void(const Prediction&)>& on_prediction = nullptr,
                    int64_t count_first = -1);

}  // namespace nkd::train
