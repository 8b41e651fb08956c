// Format sniffing and the checks shared by the JPEG and PNG decoders.
#include <algorithm>
#include <cstring>

#include "data/decode.h"

namespace nkd::data {

ImageFormat sniff_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::kJpeg;
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

Decoded decode_image(const uint8_t* data, size_t size, const DecodeOptions& options,
                     const PlanFn& plan) {
  if (size == 0) throw DecodeError("empty file (0 bytes)");
  switch (sniff_format(data, size)) {
    case ImageFormat::kJpeg: return decode_jpeg(data, size, options, plan);
    case ImageFormat::kPng: return decode_png(data, size, options, plan);
    default: break;
  }
  throw DecodeError("not an image (no JPEG or PNG signature)");
}

DecodePlan resolve_plan(const PlanFn& plan, int width, int height) {
  DecodePlan p;
  if (plan) p = plan(width, height);
  if (p.crop.empty()) p.crop = {0, 0, width, height};
  NKD_CHECK(p.crop.x >= 0 && p.crop.y >= 0 && p.crop.x + p.crop.w <= width &&
                p.crop.y + p.crop.h <= height,
            "decode: crop (", p.crop.x, ", ", p.crop.y, ", ", p.crop.w, ", ", p.crop.h,
            ") outside the ", width, "x", height, " image");
  return p;
}

void check_pixel_limit(int64_t width, int64_t height, const DecodeOptions& options) {
  if (width <= 0 || height <= 0)
    throw DecodeError(detail::cat("invalid image size ", width, "x", height));
  if (width * height > options.max_pixels)
    throw DecodeError(detail::cat("image is ", width, "x", height, " = ", width * height,
                                  " pixels, over the limit of ", options.max_pixels));
}

}  // namespace nkd::data
