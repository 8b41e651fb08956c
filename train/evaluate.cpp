// Top-k evaluation (see evaluate.h). Ties in the ranking go to the smaller class index.
#include "train/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"

namespace nkd::train {

EvalResult evaluate(nets::ImageClassifier& net, data::Loader& loader, Device device,
                    const std::vector<int64_t>& topk, const std::function<void(const Prediction&)>& on_prediction,
                    int64_t count_first) {
  const auto start = std::chrono::steady_clock::now();
  NoGradGuard no_grad;
  net.eval();
  EvalResult r;
  r.topk = topk;
  std::vector<int64_t> correct(topk.size(), 0);
  const int64_t kmax = std::max<int64_t>(5, topk.empty() ? 5 : *std::max_element(topk.begin(), topk.end()));
  loader.set_epoch(0);
  while (auto batch = loader.next()) {
    const Tensor logits = net.forward(batch->images.to(device)).to(kCPU).contiguous();
    const auto z = to_vector<float>(logits);
    const auto labels = to_vector<int64_t>(batch->labels);
    const int64_t c = logits.size(1);
    const int64_t n = count_first < 0 ? logits.size(0) : std::min(logits.size(0), count_first - r.images);
    std::vector<int64_t> order(static_cast<size_t>(c));
    for (int64_t i = 0; i < n; ++i) {
      const float* row = z.data() + i * c;
      std::iota(order.begin(), order.end(), 0);
      const int64_t keep = std::min<int64_t>(c, kmax);
      std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int64_t a, int64_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
      for (size_t k = 0; k < topk.size(); ++k)
        for (int64_t j = 0; j < std::min(topk[k], c); ++j) correct[k] += order[size_t(j)] == labels[size_t(i)];
      if (on_prediction) {
        const float mx = row[order[0]];
        double denom = 0;
        for (int64_t j = 0; j < c; ++j) denom += std::exp(double(row[j] - mx));
        Prediction p{batch->indices[size_t(i)], labels[size_t(i)], {}, {}};
        for (int64_t j = 0; j < std::min<int64_t>(keep, 5); ++j) {
          p.classes.push_back(order[size_t(j)]);
          p.scores.push_back(float(std::exp(double(row[order[size_t(j)]] - mx)) / denom));
        }
        on_prediction(p);
      }
    }
    r.images += n;
  }
  r.correct = correct;
  for (int64_t c : correct) r.accuracy.push_back(r.images ? 100.0 * double(c) / double(r.images) : 0.0);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace nkd::train
