// Test fixtures for the data pipeline: temporary folders, deterministic images, PNG encoding
// (any colour type / bit depth), an in-memory dataset, and helpers to patch file headers.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/idx_dataset.h"
#include "data/image.h"

namespace nkd::data::testing {

struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// A smooth photograph-like pattern (gradients + blobs) plus a little noise; deterministic in seed.
Image test_image(int width, int height, int channels, uint32_t seed);

// PNG bytes from already packed rows (16-bit samples big-endian, as PNG stores them).
std::vector<uint8_t> encode_png(int width, int height, int color_type, int bit_depth,
                                const std::vector<uint8_t>& packed,
                                const std::vector<uint8_t>& palette_rgb = {},
                                const std::vector<uint8_t>& trns = {}, bool interlace = false);
std::vector<uint8_t> encode_png(const Image& image);  // 8-bit gray / RGB / RGBA

// Rewrites the size in the first JPEG SOFn segment / the PNG IHDR (with a fixed CRC).
void patch_jpeg_size(std::vector<uint8_t>& jpeg, int width, int height);
void patch_png_size(std::vector<uint8_t>& png, int width, int height);
// Inserts an EXIF APP1 segment carrying `orientation` right after SOI.
std::vector<uint8_t> with_exif_orientation(const std::vector<uint8_t>& jpeg, int orientation,
                                           bool big_endian);

// A dataset over images in memory, returned as raw pixels (label = index % classes).
class MemoryDataset : public Dataset {
 public:
  MemoryDataset(std::vector<Image> images, int64_t classes) : images_(std::move(images)), classes_(classes) {}
  int64_t size() const override { return int64_t(images_.size()); }
  int64_t label(int64_t i) const override { return i % classes_; }
  int64_t num_classes() const override { return classes_; }
  std::string describe(int64_t i) const override { return "mem[" + std::to_string(i) + "]"; }
  Sample load(int64_t i) const override { return {images_[size_t(i)], label(i)}; }

 private:
  std::vector<Image> images_;
  int64_t classes_;
};

int max_abs_diff(const Image& a, const Image& b);

// n pseudo-random 28x28 images with labels i % 10, written as IDX files into dir (im, lb).
std::shared_ptr<IdxDataset> idx_28x28(TempDir& dir, int64_t n);

}  // namespace nkd::data::testing
