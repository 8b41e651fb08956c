// Prediction on image files (nkd_predict, docs/API.md): the files named and the image files of the
// folders named, decoded by the config's test pipeline through a data::Loader (batches, its worker
// threads), each image's top-5 classes with their names and softmax scores exactly as evaluation
// ranks them (train/evaluate.h); an unreadable file is reported and skipped. Also one image file or
// one image tensor to logits, and the top-k of logits, for programs that use nkd as a library.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "nets/classifier.h"

namespace nkd::train {

// The files of `paths` in order: a file as named, a folder's files with an image extension
// (.jpg/.jpeg/.png, any case; subfolders included), sorted. A path that does not exist throws.
std::vector<std::string> image_files(const std::vector<std::string>& paths);

// Image files as a data set (label 0: prediction has no labels).
class ImageFiles final : public data::Dataset {
 public:
  explicit ImageFiles(std::vector<std::string> files) : files_(std::move(files)) {}
  int64_t size() const override { return int64_t(files_.size()); }
  int64_t label(int64_t) const override { return 0; }
  int64_t num_classes() const override { return 1; }
  std::string describe(int64_t index) const override { return files_[size_t(index)]; }
  data::Sample load(int64_t index) const override;

 private:
  std::vector<std::string> files_;
};

struct ClassScore {
  int64_t cls = 0;
  std::string name;
  float score = 0;  // softmax probability
};

struct ImagePrediction {
  std::string file;
  std::vector<ClassScore> top;  // best first; empty when skipped
  std::string skipped;          // why the file could not be read ("": predicted)
};

struct PredictOptions {
  int64_t batch_size = 32;
  int workers = 2;
  Device device = kCPU;
  bool fuse = true;  // the inference form (train/evaluate.h)
};

// Every file in order, predicted or skipped with the reason; `names` names the classes (empty: the
// class indices).
std::vector<ImagePrediction> predict_files(nets::ImageClassifier& net, std::shared_ptr<const data::Pipeline> pipeline,
                                           const std::vector<std::string>& files, const PredictOptions& options,
                                           const std::vector<std::string>& names = {});

// The pipeline's input for one image file: F32 [1, C, H, W], normalised. Throws data::DecodeError.
Tensor image_tensor(const data::Pipeline& pipeline, const std::string& file);
// The k best classes of each row of logits [N, classes] with softmax scores (ties: the smaller class).
std::vector<std::vector<ClassScore>> top_k(const Tensor& logits, int64_t k,
                                           const std::vector<std::string>& names = {});

// "<file>\n  1. 3 Dress  0.912345\n ..." per image, "<file>: skipped: <reason>" per bad file.
std::string predictions_text(const std::vector<ImagePrediction>& predictions);
// {"predicted": N, "skipped": K, "images": [{"file", "top": [{"class", "name", "score"}]} or
// {"file", "skipped": reason}]}.
nlohmann::json predictions_json(const std::vector<ImagePrediction>& predictions);
// "nkd_predict: 12 images predicted, 1 skipped (1 not an image)".
std::string predict_summary(const std::vector<ImagePrediction>& predictions);

}  // namespace nkd::train
