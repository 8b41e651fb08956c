// The ImageNet and pad-crop pipelines: plan the crop from the image size, decode it, resample, flip.
#include <cstring>
#include <utility>

#include "data/pipeline.h"

namespace nkd::data {

Normalization imagenet_normalization() {
  return {{123.675f, 116.28f, 103.53f}, {58.395f, 57.12f, 57.375f}};
}
Normalization fashion_mnist_normalization() { return {{0.2860f * 255.0f}, {0.3530f * 255.0f}}; }

namespace {

// The cv2 backend's decode settings: cv2.imdecode(IMREAD_COLOR) applies EXIF orientation,
// decodes at full size and converts CMYK its own way.
void use_cv2_decode(Pipeline& p, Filter filter, const char* who) {
  NKD_CHECK(filter == Filter::kBilinear, who, ": the cv2 backend implements bilinear only");
  p.decode.exif_orientation = true;
  p.decode.cmyk = CmykToRgb::kOpenCv;
  p.shortcuts.dct_scaling = false;
}

// The full-resolution pixels of `r` (full-image coordinates) in a decode at scale 1.
ImageView full_scale_view(const Decoded& d, Rect r) {
  NKD_CHECK(d.scale == 1.0, "cv2 backend: the image was decoded at scale ", d.scale, " (DCT scaling must be off)");
  return view_of(d.image, {r.x - d.off_x, r.y - d.off_y, r.w, r.h});
}

}  // namespace

ImagenetTrain::ImagenetTrain(ImagenetTrainOptions options) : o_(options) {
  normalization = imagenet_normalization();
  if (o_.backend == ResizeBackend::kCv2) use_cv2_decode(*this, o_.filter, "ImagenetTrain");
}

void ImagenetTrain::run(Sample sample, SampleRng& rng, uint8_t* out) const {
  const int size = o_.size;
  SampleDecoder source(std::move(sample), decode, shortcuts);
  const Rect crop = random_resized_crop_params(source.width(), source.height(), rng, o_.crop);
  Decoded d = source.decode({crop, size, size});
  convert_channels(d.image, 3);
  if (o_.backend == ResizeBackend::kCv2) {
    resize_cv2_linear(full_scale_view(d, crop), size, size, {0, 0, size, size}, out);
  } else {
    const auto [view, box] = locate(d, crop);
    resample(view, box, size, size, o_.filter, {0, 0, size, size}, out);
  }
  if (rng.bernoulli(o_.flip)) hflip(out, size, size, 3);
  if (o_.rand_augment) rand_augment(out, size, size, 3, rng, *o_.rand_augment);
  if (o_.erasing) random_erasing(out, size, size, 3, rng, *o_.erasing);
}

ImagenetTest::ImagenetTest(ImagenetTestOptions options) : o_(options) {
  normalization = imagenet_normalization();
  if (o_.backend == ResizeBackend::kCv2) use_cv2_decode(*this, o_.filter, "ImagenetTest");
}

void ImagenetTest::run(Sample sample, SampleRng&, uint8_t* out) const {
  SampleDecoder source(std::move(sample), decode, shortcuts);
  const Rect whole{0, 0, source.width(), source.height()};
  const auto [rw, rh] = short_side_size(whole.w, whole.h, o_.resize);
  Decoded d = source.decode({whole, rw, rh});
  convert_channels(d.image, 3);
  const Rect window = center_crop_rect(rw, rh, o_.size, o_.size);
  if (o_.backend == ResizeBackend::kCv2) {
    resize_cv2_linear(full_scale_view(d, whole), rw, rh, window, out);
  } else {
    const auto [view, box] = locate(d, whole);
    resample(view, box, rw, rh, o_.filter, window, out);
  }
}

PadCropFlip::PadCropFlip(PadCropOptions options) : o_(options) {
  normalization = o_.channels == 1 ? fashion_mnist_normalization() : imagenet_normalization();
}

void PadCropFlip::run(Sample sample, SampleRng& rng, uint8_t* out) const {
  Decoded d = SampleDecoder(std::move(sample), decode, shortcuts).decode({});
  convert_channels(d.image, o_.channels);
  const Image& im = d.image;
  const int C = o_.channels, S = o_.size, P = o_.pad;
  const int pw = im.width + 2 * P, ph = im.height + 2 * P;
  NKD_CHECK(S <= pw && S <= ph, "PadCropFlip: crop ", S, " of a padded ", pw, "x", ph, " image");
  int top = (ph - S) / 2, left = (pw - S) / 2;
  bool flip = false;
  if (o_.random) {
    top = int(rng.randint(0, ph - S));
    left = int(rng.randint(0, pw - S));
    flip = rng.bernoulli(o_.flip);
  }
  for (int y = 0; y < S; ++y) {
    const int sy = top + y - P;
    uint8_t* row = out + size_t(y) * S * C;
    for (int x = 0; x < S; ++x) {
      const int sx = left + x - P;
      const bool inside = sy >= 0 && sy < im.height && sx >= 0 && sx < im.width;
      for (int c = 0; c < C; ++c) row[x * C + c] = inside ? im.at(sy, sx, c) : 0;
    }
  }
  if (flip) hflip(out, S, S, C);
}

std::shared_ptr<Pipeline> swin_train_without_randaugment() {
  const Normalization n = imagenet_normalization();
  ImagenetTrainOptions o{.filter = Filter::kBicubic};
  o.erasing = RandomErasingOptions{.mean = n.mean, .std = n.std};
  return std::make_shared<ImagenetTrain>(o);
}

std::shared_ptr<Pipeline> swin_train() {
  const Normalization n = imagenet_normalization();
  ImagenetTrainOptions o{.filter = Filter::kBicubic};
  o.rand_augment = RandAugmentOptions{};
  o.erasing = RandomErasingOptions{.mean = n.mean, .std = n.std};
  return std::make_shared<ImagenetTrain>(o);
}

std::shared_ptr<Pipeline> fashion_mnist_train() { return std::make_shared<PadCropFlip>(PadCropOptions{}); }
std::shared_ptr<Pipeline> fashion_mnist_test() {
  return std::make_shared<PadCropFlip>(PadCropOptions{.size = 28, .pad = 0, .channels = 1, .flip = 0, .random = false});
}

}  // namespace nkd::data
