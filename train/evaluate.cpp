// Top-k evaluation (see evaluate.h). Ties in the ranking go to the smaller class index.
#include "train/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <string>

#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "nets/inference.h"

namespace nkd::train {

namespace {

// Top-k hits of one batch's rows (and their predictions), the rows past count_first left out.
void score_batch(const data::Batch& batch, const Tensor& logits_dev, const std::vector<int64_t>& topk,
                 int64_t count_first, std::vector<int64_t>& correct, EvalResult& r,
                 const std::function<void(const Prediction&)>& on_prediction) {
  const Tensor logits = logits_dev.to(kCPU).contiguous();
  const auto z = to_vector<float>(logits);
  const auto labels = to_vector<int64_t>(batch.labels);
  const int64_t c = logits.size(1);
  const int64_t kmax = std::max<int64_t>(5, topk.empty() ? 5 : *std::max_element(topk.begin(), topk.end()));
  std::vector<int64_t> order(static_cast<size_t>(c));
  for (int64_t i = 0; i < logits.size(0); ++i) {
    if (count_first >= 0 && batch.positions[size_t(i)] >= count_first) continue;
    const float* row = z.data() + i * c;
    std::iota(order.begin(), order.end(), 0);
    const int64_t keep = std::min<int64_t>(c, kmax);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int64_t a, int64_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    for (size_t k = 0; k < topk.size(); ++k)
      for (int64_t j = 0; j < std::min(topk[k], c); ++j) correct[k] += order[size_t(j)] == labels[size_t(i)];
    ++r.images;
    if (!on_prediction) continue;
    const float mx = row[order[0]];
    double denom = 0;
    for (int64_t j = 0; j < c; ++j) denom += std::exp(double(row[j] - mx));
    Prediction p{batch.indices[size_t(i)], labels[size_t(i)], {}, {}};
    for (int64_t j = 0; j < std::min<int64_t>(keep, 5); ++j) {
      p.classes.push_back(order[size_t(j)]);
      p.scores.push_back(float(std::exp(double(row[order[size_t(j)]] - mx)) / denom));
    }
    on_prediction(p);
  }
}

}  // namespace

EvalResult evaluate(nets::ImageClassifier& net, data::Loader& loader, Device device,
                    const std::vector<int64_t>& topk, const std::function<void(const Prediction&)>& on_prediction,
                    int64_t count_first, const std::function<void(const EvalProgress&)>& on_progress,
                    bool fuse) {
  const auto start = std::chrono::steady_clock::now();
  NoGradGuard no_grad;
  net.eval();
  // The inference form computes in F32; under bf16 autocast the net itself runs, in bf16.
  std::optional<nets::InferenceNet> form;  // holds the net without owning it: it outlives this call
  if (fuse && !autocast_enabled()) form.emplace(std::shared_ptr<nets::ImageClassifier>(&net, [](nets::ImageClassifier*) {}));
  EvalResult r;
  r.topk = topk;
  r.skipped_by_kind.assign(data::bad_sample_kinds().size(), 0);
  std::vector<int64_t> correct(topk.size(), 0);
  EvalProgress progress;
  progress.total = count_first < 0 ? loader.samples_per_epoch() : count_first;
  loader.set_epoch(0);
  while (auto batch = loader.next()) {
    for (const data::BadSample& b : batch->skipped) {
      if (count_first >= 0 && b.position >= count_first) continue;
      const auto& kinds = data::bad_sample_kinds();
      const auto kind = std::find(kinds.begin(), kinds.end(), data::bad_sample_kind(b.reason)) - kinds.begin();
      ++r.skipped_by_kind[size_t(kind)];
      ++r.skipped;
      r.skipped_samples.push_back(b);
    }
    if (batch->labels.numel() > 0) {
      const Tensor images = batch->images.to(device);
      score_batch(*batch, widen_to_f32(form ? form->forward(images) : net.forward(images)), topk, count_first,
                  correct, r, on_prediction);
    }
    progress.done = r.images + r.skipped;
    progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (on_progress) on_progress(progress);
  }
  r.correct = correct;
  for (int64_t c : correct) r.accuracy.push_back(r.images ? 100.0 * double(c) / double(r.images) : 0.0);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::map<std::string, int64_t> skipped_kinds(const EvalResult& r) {
  std::map<std::string, int64_t> out;
  for (size_t k = 0; k < r.skipped_by_kind.size(); ++k)
    if (r.skipped_by_kind[k] > 0) out[data::bad_sample_kinds()[k]] = r.skipped_by_kind[k];
  return out;
}

std::string eval_summary(const EvalResult& r) {
  std::string s = "top-1 over " + std::to_string(r.images) + " images, " + std::to_string(r.skipped) + " skipped";
  std::string kinds;
  for (const auto& [kind, n] : skipped_kinds(r)) kinds += (kinds.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
  return kinds.empty() ? s : s + " (" + kinds + ")";
}

}  // namespace nkd::train
