// Image decoding: JPEG (libjpeg-turbo) and PNG (libpng), chosen by the magic bytes, never by the
// file extension. open_image reads the header (so the caller can plan a crop from the size), then
// ImageReader::decode decodes the window it is asked for, at a DCT scale 1/d for JPEG. Output is
// always 8-bit RGB. A corrupt or hostile file throws DecodeError (never aborts): the declared size
// is checked against max_pixels before any pixel buffer is allocated.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "data/image.h"
#include "engine/check.h"

namespace nkd::data {

class DecodeError : public nkd::Error {
 public:
  using nkd::Error::Error;
};

// CMYK / YCCK JPEG to RGB: Pillow's (Adobe-inverted files un-inverted, then
// R = (255 - K) - (255 - K) C / 255 rounded) or OpenCV's imdecode (on the stored values whatever the
// Adobe marker says: R = K - ((255 - C) K >> 8)); they differ by at most one level.
enum class CmykToRgb { kPillow, kOpenCv };

// How a file is read.
struct DecodeOptions {
  int64_t max_pixels = 89478485;  // Pillow's MAX_IMAGE_PIXELS
  // EXIF orientation (JPEG APP1 tag 0x0112): applied when true. Default false, as PIL/torchvision
  // (and so the mmcls pillow backend) do not apply it; cv2.imread does.
  bool exif_orientation = false;
  CmykToRgb cmyk = CmykToRgb::kPillow;
};

// What to decode: `window` in full-image pixels (empty = the whole image) at 1/scale_denom
// (1, 2, 4 or 8; JPEG only, through libjpeg's DCT scaling; PNG decodes at full scale). JPEG decodes
// only the window's rows and iMCU columns plus one pixel of margin, so the window's pixels equal
// the same pixels of a full decode; with EXIF orientation the window is mapped into the stored
// image's frame, decoded there, then rotated/flipped. PNG decodes everything and keeps the window.
struct DecodeRequest {
  Rect window;
  int scale_denom = 1;
};

// The decoded pixels and where they sit: full-image coordinate u maps to image coordinate
// u * scale + sub - off (scale = 1/d). Full image = after EXIF orientation when that option is on.
// `sub` is 0 except along an axis that the orientation flips while decoding at 1/d with a size not
// divisible by d: libjpeg's last scaled pixel then covers a partial block, which the flip moves to
// the start (sub = (ceil(n/d) d - n)/d).
struct Decoded {
  Image image;
  int full_w = 0, full_h = 0;
  double scale = 1.0;
  int off_x = 0, off_y = 0;
  double sub_x = 0.0, sub_y = 0.0;
};

// An image whose header has been read: its full size is known, its pixels not yet decoded. It reads
// from the caller's bytes, which must outlive it.
class ImageReader {
 public:
  virtual ~ImageReader() = default;
  int width() const { return width_; }  // full image (after EXIF orientation when that is on)
  int height() const { return height_; }
  // Decodes `request` (once); throws DecodeError on bad data, nkd::Error on a window outside.
  virtual Decoded decode(const DecodeRequest& request) = 0;

 protected:
  int width_ = 0, height_ = 0;
};

enum class ImageFormat { kUnknown, kJpeg, kPng };
ImageFormat sniff_format(const uint8_t* data, size_t size);

// Reads the header of `data` (JPEG or PNG by its magic bytes); throws DecodeError on bad input.
std::unique_ptr<ImageReader> open_image(const uint8_t* data, size_t size, const DecodeOptions& options);
std::unique_ptr<ImageReader> open_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options);
std::unique_ptr<ImageReader> open_png(const uint8_t* data, size_t size, const DecodeOptions& options);
// The whole image at full scale.
Decoded decode_image(const uint8_t* data, size_t size, const DecodeOptions& options = {});

// `window` with an empty one meaning the whole width x height image; throws nkd::Error when it
// lies outside the image.
Rect resolve_window(Rect window, int width, int height);
// Throws DecodeError when width x height is zero or exceeds max_pixels.
void check_pixel_limit(int64_t width, int64_t height, const DecodeOptions& options);

// EXIF orientation (1..8) from a JPEG APP1 payload ("Exif\0\0" + TIFF); 1 when absent or invalid.
int exif_orientation(const uint8_t* app1, size_t size);
// Applies orientation 2..8 (rotate/flip) in place, as PIL's ImageOps.exif_transpose does.
void apply_orientation(Image& image, int orientation);

}  // namespace nkd::data
