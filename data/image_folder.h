// ImageFolder: image files with labels, in the ImageNet layout mmcls reads: either a folder scan
// <dir>/<class>/**/<file> (classes sorted by folder name, like torchvision's ImageFolder) or a list
// file of `relative/path label` lines (meta/val.txt, meta/train.txt). Extensions .jpg/.jpeg/.png,
// case-insensitive; a sample is the file's bytes, whose real format the decoder sniffs. Missing
// folders or files fail at construction.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace nkd::data {

class ImageFolder : public Dataset {
 public:
  struct Entry {
    std::string path;  // full path
    int64_t label;
  };

  static ImageFolder scan(const std::string& dir);
  static ImageFolder from_list(const std::string& dir, const std::string& list_file);
  // root/meta/<split>.txt when it exists (paths relative to root/<split>), else a scan of root/<split>.
  static ImageFolder imagenet(const std::string& root, const std::string& split);

  int64_t size() const override { return int64_t(entries_.size()); }
  int64_t label(int64_t index) const override { return entries_[size_t(index)].label; }
  int64_t num_classes() const override { return num_classes_; }
  std::string describe(int64_t index) const override { return entries_[size_t(index)].path; }
  Sample load(int64_t index) const override;

  const std::vector<std::string>& classes() const { return classes_; }  // scan only
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
  std::vector<std::string> classes_;
  int64_t num_classes_ = 0;
};

bool has_image_extension(const std::string& name);
// Reads a whole file; throws DecodeError when it cannot be opened or read.
std::vector<uint8_t> read_file(const std::string& path);

}  // namespace nkd::data
