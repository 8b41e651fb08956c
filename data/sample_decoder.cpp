// SampleDecoder: opening an encoded or raw sample and turning a pipeline's plan into a decode
// request (window and DCT scale).
#include "data/sample_decoder.h"

#include <utility>

namespace nkd::data {

int dct_scale_denom(const DecodePlan& p, const DecodeShortcuts& s) {
  if (!s.dct_scaling || p.out_w <= 0 || p.out_h <= 0) return 1;
  for (int d : {8, 4, 2})
    if (p.crop.w >= s.dct_gap * d * p.out_w && p.crop.h >= s.dct_gap * d * p.out_h) return d;
  return 1;
}

SampleDecoder::SampleDecoder(Sample sample, const DecodeOptions& options, const DecodeShortcuts& shortcuts)
    : sample_(std::move(sample)), shortcuts_(shortcuts) {
  if (const auto* bytes = std::get_if<std::vector<uint8_t>>(&sample_.content)) {
    reader_ = open_image(bytes->data(), bytes->size(), options);
    width_ = reader_->width();
    height_ = reader_->height();
  } else {
    const Image& image = std::get<Image>(sample_.content);
    width_ = image.width;
    height_ = image.height;
  }
}

Decoded SampleDecoder::decode(const DecodePlan& plan) {
  const DecodePlan p{resolve_window(plan.crop, width_, height_), plan.out_w, plan.out_h};
  if (reader_) {
    const Rect window = shortcuts_.partial ? p.crop : Rect{0, 0, width_, height_};
    return reader_->decode({window, dct_scale_denom(p, shortcuts_)});
  }
  Decoded d;
  d.image = std::move(std::get<Image>(sample_.content));
  d.full_w = width_;
  d.full_h = height_;
  return d;
}

Decoded decode_sample(Sample sample, const DecodeOptions& options) {
  return SampleDecoder(std::move(sample), options).decode({});
}

}  // namespace nkd::data
