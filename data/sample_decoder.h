// SampleDecoder: the pipelines' decoding step. It opens a dataset sample (reads an encoded file's
// header; raw pixels need nothing), so the pipeline can plan its crop from the full image size,
// then decodes what the plan needs: only the crop window, at a libjpeg DCT scale 1/d when the crop
// is large enough for the size it will be resized to (see DecodeShortcuts).
#pragma once
#include <memory>

#include "data/dataset.h"
#include "data/decode.h"

namespace nkd::data {

// What a pipeline will read from an image: the crop window in full-image pixels (empty = the whole
// image) and the size that window will be resized to (0 = unknown: no DCT scaling).
struct DecodePlan {
  Rect crop;
  int out_w = 0, out_h = 0;
};

// The decoding work a pipeline may skip (both change no output pixel beyond what is stated).
struct DecodeShortcuts {
  // Decode only the crop window (JPEG: its rows and iMCU columns plus a margin; the result equals
  // the same pixels of a full decode). Off: the whole image is decoded.
  bool partial = true;
  // DCT-domain downscaling by d in {2, 4, 8}: used only when the scaled crop stays at least
  // dct_gap times the output size on both axes (Pillow's reducing_gap idea: then the result is
  // indistinguishable from a full decode + antialiased resize).
  bool dct_scaling = true;
  double dct_gap = 2.0;
};

// The DCT scale denominator (1, 2, 4 or 8) for `plan` (crop resolved, not empty).
int dct_scale_denom(const DecodePlan& plan, const DecodeShortcuts& shortcuts);

class SampleDecoder {
 public:
  // Throws DecodeError when an encoded sample's header is bad.
  SampleDecoder(Sample sample, const DecodeOptions& options, const DecodeShortcuts& shortcuts = {});
  int width() const { return width_; }  // full image (after EXIF orientation when that is on)
  int height() const { return height_; }
  // The pixels that hold plan.crop (once); Decoded says where they sit.
  Decoded decode(const DecodePlan& plan);

 private:
  Sample sample_;
  DecodeShortcuts shortcuts_;
  std::unique_ptr<ImageReader> reader_;  // null for raw pixels
  int width_ = 0, height_ = 0;
};

// The whole image of a sample at full scale (tools and tests).
Decoded decode_sample(Sample sample, const DecodeOptions& options = {});

}  // namespace nkd::data
