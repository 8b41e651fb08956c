// IdxDataset: MNIST / Fashion-MNIST IDX files (gzip-compressed or not, read through zlib), held in
// memory as uint8 [N, H, W] grayscale images plus uint8 labels; a sample is its raw 1-channel
// pixels. Malformed files give nkd::Error naming the file and the byte offset at fault.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace nkd::data {

// A whole IDX file: dims and the raw unsigned-byte payload (type code 0x08 only).
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
IdxArray read_idx(const std::string& path);
// Writes an uncompressed IDX file (for tests and tools).
void write_idx(const std::string& path, const std::vector<int64_t>& dims, const uint8_t* data);

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path);
  // Fashion-MNIST split under Debian's layout: root/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.
  static IdxDataset fashion_mnist(const std::string& root, bool train);

  int64_t size() const override { return n_; }
  int64_t label(int64_t index) const override { return labels_[size_t(index)]; }
  int64_t num_classes() const override { return num_classes_; }
  std::string describe(int64_t index) const override;
  Sample load(int64_t index) const override;

  int height() const { return h_; }
  int width() const { return w_; }
  const uint8_t* image(int64_t index) const { return images_.data() + size_t(index) * h_ * w_; }

 private:
  std::string path_;
  int64_t n_ = 0, num_classes_ = 0;
  int h_ = 0, w_ = 0;
  std::vector<uint8_t> images_, labels_;
};

}  // namespace nkd::data
