// Format sniffing, opening by format, and the checks shared by the JPEG and PNG decoders.
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

std::unique_ptr<ImageReader> open_image(const uint8_t* data, size_t size, const DecodeOptions& options) {
  if (size == 0) throw DecodeError("empty file (0 bytes)");
  switch (sniff_format(data, size)) {
    case ImageFormat::kJpeg: return open_jpeg(data, size, options);
    case ImageFormat::kPng: return open_png(data, size, options);
    default: break;
  }
  throw DecodeError("not an image (no JPEG or PNG signature)");
}

Decoded decode_image(const uint8_t* data, size_t size, const DecodeOptions& options) {
  return open_image(data, size, options)->decode({});
}

Rect resolve_window(Rect r, int width, int height) {
  if (r.empty()) r = {0, 0, width, height};
  NKD_CHECK(r.x >= 0 && r.y >= 0 && r.x + r.w <= width && r.y + r.h <= height, "decode: crop (", r.x, ", ",
            r.y, ", ", r.w, ", ", r.h, ") outside the ", width, "x", height, " image");
  return r;
}

void check_pixel_limit(int64_t width, int64_t height, const DecodeOptions& options) {
  if (width <= 0 || height <= 0)
    throw DecodeError(detail::cat("invalid image size ", width, "x", height));
  if (width * height > options.max_pixels)
    throw DecodeError(detail::cat("image is ", width, "x", height, " = ", width * height,
                                  " pixels, over the limit of ", options.max_pixels));
}

}  // namespace nkd::data
