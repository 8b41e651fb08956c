// Image decoding: JPEG (libjpeg-turbo) and PNG (libpng), chosen by the magic bytes, never by the
// file extension. Output is always 8-bit RGB. A corrupt or hostile file throws DecodeError (never
// aborts): the declared size is checked against max_pixels before any pixel buffer is allocated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "data/image.h"
#include "engine/check.h"

namespace nkd::data {

class DecodeError : public nkd::Error {
 public:
  using nkd::Error::Error;
};

// What a pipeline will read from an image, decided once its (oriented) size is known: the crop
// window in full-image pixels and the size that window will be resized to (0 = unknown, no DCT
// scaling). The decoder may then decode only the window and use libjpeg's 1/2, 1/4, 1/8 scaling.
struct DecodePlan {
  Rect crop;               // empty = the whole image
  int out_w = 0, out_h = 0;
};
using PlanFn = std::function<DecodePlan(int width, int height)>;

// CMYK / YCCK JPEG to RGB: Pillow's (Adobe-inverted files un-inverted, then
// R = (255 - K) - (255 - K) C / 255 rounded) or OpenCV's imdecode (on the stored values whatever the
// Adobe marker says: R = K - ((255 - C) K >> 8)); they differ by at most one level.
enum class CmykToRgb { kPillow, kOpenCv };

struct DecodeOptions {
  int64_t max_pixels = 89478485;  // Pillow's MAX_IMAGE_PIXELS
  // EXIF orientation (JPEG APP1 tag 0x0112): applied when true. Default false, as PIL/torchvision
  // (and so the mmcls pillow backend) do not apply it; cv2.imread does.
  bool exif_orientation = false;
  CmykToRgb cmyk = CmykToRgb::kPillow;
  // DCT-domain downscaling by d in {2, 4, 8}: used only when the scaled crop stays at least
  // dct_gap times the output size on both axes (Pillow's reducing_gap idea: then the result is
  // indistinguishable from a full decode + antialiased resize).
  bool dct_scaling = true;
  double dct_gap = 2.0;
  // Decode only the crop window's rows and iMCU columns (plus one pixel of margin, so the result
  // equals the same pixels of a full decode). With EXIF orientation, the window is mapped into the
  // stored image's frame, decoded there, then rotated/flipped.
  bool partial = true;
};

// The decoded pixels and where they sit: full-image coordinate u maps to image coordinate
// u * scale + sub - off (scale = 1/d). `crop` is the plan's crop in full-image coordinates. Full
// image = after EXIF orientation when that option is on. `sub` is 0 except along an axis that the
// orientation flips while decoding at 1/d with a size not divisible by d: libjpeg's last scaled
// pixel then covers a partial block, which the flip moves to the start (sub = (ceil(n/d) d - n)/d).
struct Decoded {
  Image image;
  int full_w = 0, full_h = 0;
  double scale = 1.0;
  int off_x = 0, off_y = 0;
  double sub_x = 0.0, sub_y = 0.0;
  Rect crop;
};

enum class ImageFormat { kUnknown, kJpeg, kPng };
ImageFormat sniff_format(const uint8_t* data, size_t size);

// Decodes `data`; `plan` may be empty (whole image, no scaling).
Decoded decode_image(const uint8_t* data, size_t size, const DecodeOptions& options = {},
                     const PlanFn& plan = {});
Decoded decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options, const PlanFn& plan);
Decoded decode_png(const uint8_t* data, size_t size, const DecodeOptions& options, const PlanFn& plan);

// Shared by the decoders: calls `plan` (or takes the whole image) and validates the crop.
DecodePlan resolve_plan(const PlanFn& plan, int width, int height);
// Throws DecodeError when width x height is zero or exceeds max_pixels.
void check_pixel_limit(int64_t width, int64_t height, const DecodeOptions& options);

// EXIF orientation (1..8) from a JPEG APP1 payload ("Exif\0\0" + TIFF); 1 when absent or invalid.
int exif_orientation(const uint8_t* app1, size_t size);
// Applies orientation 2..8 (rotate/flip) in place, as PIL's ImageOps.exif_transpose does.
void apply_orientation(Image& image, int orientation);

}  // namespace nkd::data
