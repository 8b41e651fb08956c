// Prediction on image files (see predict.h). The ranking is evaluation's: the loader's batches go
// through train::evaluate, whose per-image top-5 is what nkd_eval --out writes.
#include "train/predict.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>

#include "data/image_folder.h"
#include "engine/autograd/grad_mode.h"
#include "engine/check.h"
#include "engine/factory.h"
#include "train/evaluate.h"

namespace nkd::train {
namespace fs = std::filesystem;

std::vector<std::string> image_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& path : paths) {
    NKD_CHECK(fs::exists(path), "'", path, "' does not exist (an image file or a folder of images expected)");
    if (!fs::is_directory(path)) {
      out.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink))
      if (e.is_regular_file() && data::has_image_extension(e.path().filename().string()))
        found.push_back(e.path().string());
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

data::Sample ImageFiles::load(int64_t index) const { return {data::read_file(files_[size_t(index)]), 0}; }

namespace {

std::string class_name(const std::vector<std::string>& names, int64_t c) {
  return c < int64_t(names.size()) ? names[size_t(c)] : std::to_string(c);
}

data::LoaderOptions loader_options(const PredictOptions& o) {
  data::LoaderOptions l;
  l.batch_size = std::max<int64_t>(1, o.batch_size);
  l.workers = std::max(1, o.workers);
  l.shuffle = false;
  l.replace_bad = false;                    // a bad file is left out and reported
  l.warn = [](const std::string&) {};       // reported in the predictions instead
  return l;
}

}  // namespace

std::vector<ImagePrediction> predict_files(nets::ImageClassifier& net, std::shared_ptr<const data::Pipeline> pipeline,
                                           const std::vector<std::string>& files, const PredictOptions& options,
                                           const std::vector<std::string>& names) {
  std::vector<ImagePrediction> out(files.size());
  for (size_t i = 0; i < files.size(); ++i) out[i].file = files[i];
  if (files.empty()) return out;
  data::Loader loader(std::make_shared<ImageFiles>(files), std::move(pipeline), loader_options(options));
  const EvalResult r = evaluate(net, loader, options.device, {1}, [&](const Prediction& p) {
    ImagePrediction& image = out[size_t(p.index)];
    for (size_t j = 0; j < p.classes.size(); ++j)
      image.top.push_back({p.classes[j], class_name(names, p.classes[j]), p.scores[j]});
  }, -1, nullptr, options.fuse);
  for (const data::BadSample& b : r.skipped_samples) out[size_t(b.index)].skipped = b.reason;
  return out;
}

Tensor image_tensor(const data::Pipeline& pipeline, const std::string& file) {
  // The loader's own sample writing (decode, pipeline, normalisation), for one file.
  auto view = std::shared_ptr<const data::Pipeline>(&pipeline, [](const data::Pipeline*) {});
  data::Loader loader(std::make_shared<ImageFiles>(std::vector<std::string>{file}), view,
                      loader_options({.batch_size = 1, .workers = 1}));
  loader.set_epoch(0);
  std::optional<data::Batch> batch = loader.next();
  NKD_CHECK(batch.has_value(), "no batch for '", file, "'");
  if (!batch->skipped.empty()) throw data::DecodeError(file + ": " + batch->skipped[0].reason);
  return batch->images.clone();
}

std::vector<std::vector<ClassScore>> top_k(const Tensor& logits, int64_t k, const std::vector<std::string>& names) {
  NKD_CHECK(logits.ndim() == 2, "top_k: logits [N, classes] expected, got ", logits.ndim(), " dimensions");
  const Tensor cpu = logits.to(kCPU).contiguous();
  const std::vector<float> z = to_vector<float>(cpu);
  const int64_t n = cpu.size(0), c = cpu.size(1), keep = std::min(k, c);
  std::vector<std::vector<ClassScore>> out(static_cast<size_t>(n));
  std::vector<int64_t> order(static_cast<size_t>(c));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = z.data() + i * c;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int64_t a, int64_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    const float mx = row[order[0]];
    double denom = 0;
    for (int64_t j = 0; j < c; ++j) denom += std::exp(double(row[j] - mx));
    for (int64_t j = 0; j < keep; ++j) {
      const int64_t cls = order[size_t(j)];
      out[size_t(i)].push_back({cls, class_name(names, cls), float(std::exp(double(row[cls] - mx)) / denom)});
    }
  }
  return out;
}

std::string predictions_text(const std::vector<ImagePrediction>& predictions) {
  std::string s;
  char line[512];
  for (const ImagePrediction& p : predictions) {
    if (!p.skipped.empty()) {
      s += p.file + ": skipped: " + p.skipped + "\n";
      continue;
    }
    s += p.file + "\n";
    for (size_t j = 0; j < p.top.size(); ++j) {
      std::snprintf(line, sizeof line, "  %zu. %4lld %-20s %.6f\n", j + 1, static_cast<long long>(p.top[j].cls),
                    p.top[j].name.c_str(), double(p.top[j].score));
      s += line;
    }
  }
  return s;
}

nlohmann::json predictions_json(const std::vector<ImagePrediction>& predictions) {
  nlohmann::json images = nlohmann::json::array();
  int64_t predicted = 0, skipped = 0;
  for (const ImagePrediction& p : predictions) {
    nlohmann::json j = {{"file", p.file}};
    if (!p.skipped.empty()) {
      j["skipped"] = p.skipped;
      ++skipped;
    } else {
      nlohmann::json top = nlohmann::json::array();
      for (const ClassScore& c : p.top) top.push_back({{"class", c.cls}, {"name", c.name}, {"score", c.score}});
      j["top"] = top;
      ++predicted;
    }
    images.push_back(j);
  }
  return {{"predicted", predicted}, {"skipped", skipped}, {"images", images}};
}

std::string predict_summary(const std::vector<ImagePrediction>& predictions) {
  std::map<std::string, int64_t> kinds;
  int64_t skipped = 0;
  for (const ImagePrediction& p : predictions)
    if (!p.skipped.empty()) ++skipped, ++kinds[data::bad_sample_kind(p.skipped)];
  std::string s = "nkd_predict: " + std::to_string(int64_t(predictions.size()) - skipped) + " images predicted, " +
                  std::to_string(skipped) + " skipped";
  std::string k;
  for (const auto& [kind, n] : kinds) k += (k.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
  return k.empty() ? s : s + " (" + k + ")";
}

}  // namespace nkd::train
