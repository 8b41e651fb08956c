// Pipelines: per-sample decode + augmentation producing an HWC uint8 sample of a fixed size, plus
// the normalisation (mean/std in 0-255 units) the loader fuses into the batch write. A pipeline
// owns its decoding: it opens the sample, plans its crop from the image size and has a
// SampleDecoder decode only what that plan needs (decode options and shortcuts are its own). The
// ImageNet pipelines follow NKD_SPEC.md 5.1 with either mmcls backend: Pillow (torchvision
// semantics, "pil_resize" configs and Swin) or cv2 (the "standard CNN" configs: OpenCV decode with
// EXIF orientation, integer crop, cv2.resize INTER_LINEAR); the Fashion-MNIST ones pad + random-crop
// + flip.
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "data/dataset.h"
#include "data/rand_augment.h"
#include "data/resample.h"
#include "data/sample_decoder.h"
#include "data/sample_rng.h"
#include "data/transforms.h"

namespace nkd::data {

struct Normalization {
  std::vector<float> mean, std;  // per channel, 0-255 units
};
Normalization imagenet_normalization();       // (123.675, 116.28, 103.53) / (58.395, 57.12, 57.375)
Normalization fashion_mnist_normalization();  // 0.2860 / 0.3530 in 0-1 units, times 255

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  virtual int channels() const = 0;
  virtual int height() const = 0;
  virtual int width() const = 0;
  // Decodes and augments `sample` (its label is not used) and writes height x width x channels
  // uint8 to `out`. Throws DecodeError for bad input.
  virtual void run(Sample sample, SampleRng& rng, uint8_t* out) const = 0;

  Normalization normalization;
  DecodeOptions decode;
  DecodeShortcuts shortcuts;
};

// ImageNet train: RandomResizedCrop(size) + horizontal flip (p = flip).
// backend kCv2 (mmcls RandomResizedCrop(backend='cv2')): the crop is cut at integer pixels and
// resized by resize_cv2_linear (bilinear only); the constructor sets the decoding to
// cv2.imdecode's: EXIF orientation on, DCT scaling off (full size), OpenCV's CMYK conversion.
struct ImagenetTrainOptions {
  int size = 224;
  Filter filter = Filter::kBilinear;
  ResizeBackend backend = ResizeBackend::kPillow;
  RandomResizedCropOptions crop;
  double flip = 0.5;
  std::optional<RandAugmentOptions> rand_augment;  // after the flip (Swin recipe)
  std::optional<RandomErasingOptions> erasing;     // after RandAugment (Swin recipe: p 0.25, "rand")
};
class ImagenetTrain : public Pipeline {
 public:
  explicit ImagenetTrain(ImagenetTrainOptions options = {});
  int channels() const override { return 3; }
  int height() const override { return o_.size; }
  int width() const override { return o_.size; }
  void run(Sample sample, SampleRng& rng, uint8_t* out) const override;

 private:
  ImagenetTrainOptions o_;
};

// ImageNet test: resize the short side to `resize`, centre-crop `size` (only that window of the
// resized image is computed). backend kCv2: mmcls Resize(backend='cv2'), as for ImagenetTrain.
struct ImagenetTestOptions {
  int resize = 256, size = 224;
  Filter filter = Filter::kBilinear;
  ResizeBackend backend = ResizeBackend::kPillow;
};
class ImagenetTest : public Pipeline {
 public:
  explicit ImagenetTest(ImagenetTestOptions options = {});
  int channels() const override { return 3; }
  int height() const override { return o_.size; }
  int width() const override { return o_.size; }
  void run(Sample sample, SampleRng& rng, uint8_t* out) const override;

 private:
  ImagenetTestOptions o_;
};

// Small images (Fashion-MNIST): zero-pad by `pad`, random crop `size` (offsets uniform in
// [0, 2 pad]), flip with p = flip. pad = 0 and flip = 0 give the test pipeline (centre = identity).
struct PadCropOptions {
  int size = 28, pad = 2, channels = 1;
  double flip = 0.5;
  bool random = true;  // false: centre crop of the padded image, no flip
};
class PadCropFlip : public Pipeline {
 public:
  explicit PadCropFlip(PadCropOptions options = {});
  int channels() const override { return o_.channels; }
  int height() const override { return o_.size; }
  int width() const override { return o_.size; }
  void run(Sample sample, SampleRng& rng, uint8_t* out) const override;

 private:
  PadCropOptions o_;
};

// The Swin/DeiT train pipeline (NKD_SPEC.md 5.1): bicubic RandomResizedCrop 224, flip,
// RandAugment (rand-m9-mstd0.5-inc1, fill = the rounded mean), RandomErasing(p 0.25, per-pixel
// normal with the ImageNet mean/std). The second one omits RandAugment (kept for its callers).
std::shared_ptr<Pipeline> swin_train();
std::shared_ptr<Pipeline> swin_train_without_randaugment();

std::shared_ptr<Pipeline> fashion_mnist_train();
std::shared_ptr<Pipeline> fashion_mnist_test();

}  // namespace nkd::data
