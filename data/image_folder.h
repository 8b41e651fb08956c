// ImageFolder: image files with labels, in the ImageNet layout mmcls reads: either a folder scan
// <dir>/<class>/**/<file> (classes sorted by folder name, like torchvision's ImageFolder) or a list
// file of `relative/path label` lines (meta/val.txt, meta/train.txt). Extensions .jpg/.jpeg/.png,
// case-insensitive; the decoder sniffs the real format. Missing folders or files fail at construction.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace nkd::data {

class ImageFolder : public Dataset {
 public:
  struct Sample {
    std::string path;  // full path
    int64_t label;
  };

  static ImageFolder scan(const std::string& dir);
  static ImageFolder from_list(const std::string& dir, const std::string& list_file);
  // root/meta/<split>.txt when it exists (paths relative to root/<split>), else a scan of root/<split>.
  static ImageFolder imagenet(const std::string& root, const std::string& split);

  int64_t size() const override { return int64_t(samples_.size()); }
  int64_t label(int64_t index) const override { return samples_[size_t(index)].label; }
  int64_t num_classes() const override { return num_classes_; }
  std::string describe(int64_t index) const override { return samples_[size_t(index)].path; }
  Decoded load(int64_t index, const DecodeOptions& options, const PlanFn& plan) const override;

  const std::vector<std::string>& classes() const { return classes_; }  // scan only
  const std::vector<Sample>& samples() const { return samples_; }

 private:
  std::vector<Sample> samples_;
  std::vector<std::string> classes_;
  int64_t num_classes_ = 0;
};

bool has_image_extension(const std::string& name);
// Reads a whole file; throws DecodeError when it cannot be opened or read.
std::vector<uint8_t> read_file(const std::string& path);

}  // namespace nkd::data
