// Evaluation of a classifier on a loader: top-k accuracy (in %) over the images that could be read
// and, optionally, each image's top-5 classes and scores (softmax probabilities). An unreadable
// image is left out of the metric and counted (never replaced). The net runs in eval mode, no-grad;
// with fuse, through its inference form (nets/inference.h: batch norm folded, ReLU and residual
// fused; logits equal to rounding), as nkd_eval and nkd_predict do by default.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/loader.h"
#include "nets/classifier.h"

namespace nkd::train {

struct EvalResult {
  std::vector<int64_t> topk;     // e.g. {1, 5}
  std::vector<double> accuracy;  // % per topk entry, over `images`
  std::vector<int64_t> correct;  // images with the label in the top k, per topk entry
  int64_t images = 0;            // images read and scored
  int64_t skipped = 0;           // images that could not be read (not scored)
  std::vector<int64_t> skipped_by_kind;         // per data::bad_sample_kinds()
  std::vector<data::BadSample> skipped_samples;  // this process's, in order
  double seconds = 0;
};

struct Prediction {
  int64_t index, label;
  std::vector<int64_t> classes;  // best first
  std::vector<float> scores;
};

struct EvalProgress {
  int64_t done = 0, total = 0;  // samples handled (scored or skipped) of this process's share
  double seconds = 0;
};

// count_first >= 0: only the loader's first count_first samples are counted (and predicted); the
// rest are a distributed sampler's padding (distributed.h: real_images_of_rank). on_progress is
// called after every batch.
EvalResult evaluate(nets::ImageClassifier& net, data::Loader& loader, Device device,
                    const std::vector<int64_t>& topk,
                    const std::function<void(const Prediction&)>& on_prediction = nullptr,
                    int64_t count_first = -1,
                    const std::function<void(const EvalProgress&)>& on_progress = nullptr,
                    bool fuse = false);

// The skipped images by kind, the kinds with a count only: {"empty file": 2, "truncated": 1}.
std::map<std::string, int64_t> skipped_kinds(const EvalResult& r);
// "top-1 over 1007 images, 5 skipped (2 empty file, 1 truncated, 2 not an image)"; without skips
// "top-1 over 1007 images, 0 skipped".
std::string eval_summary(const EvalResult& r);

}  // namespace nkd::train
