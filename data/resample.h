// Resampling with Pillow's exact arithmetic (Resample.c in Pillow 9.4): separable antialiased
// convolution (support scaled by the downscale factor), coefficients normalised in double and
// rounded to 22-bit fixed point, horizontal pass first into 8-bit rows, then the vertical pass.
// So an output matches PIL's Image.resize(size, BILINEAR|BICUBIC, box) pixel for pixel.
// Also OpenCV's INTER_LINEAR (resize_cv2_linear), for the mmcls configs that resize with cv2.
#pragma once
#include <cstddef>
#include <cstdint>

#include "data/image.h"

namespace nkd::data {

enum class Filter { kBilinear, kBicubic };

// A read-only window of an interleaved 8-bit image; `stride` in bytes between rows.
struct ImageView {
  const uint8_t* data = nullptr;
  int width = 0, height = 0, channels = 0;
  size_t stride = 0;
};
ImageView view_of(const Image& image);
ImageView view_of(const Image& image, Rect r);  // r must lie inside the image

// The source box in view coordinates (PIL takes floats).
struct Box {
  float x0, y0, x1, y1;
};

// Resizes `box` of `src` to out_w x out_h and writes only `window` of that result (packed,
// window.w x window.h x channels) to dst. Pixels outside the view are never read.
void resample(const ImageView& src, Box box, int out_w, int out_h, Filter filter, Rect window,
              uint8_t* dst);

// Which library's resize a pipeline reproduces (mmcls `backend`): Pillow (resample above) or
// OpenCV (resize_cv2_linear below; bilinear only).
enum class ResizeBackend { kPillow, kCv2 };

// cv2.resize(src, (out_w, out_h), interpolation=cv2.INTER_LINEAR) for 8-bit images, bit for bit
// with OpenCV 4.x on x86-64 (checked against Debian's OpenCV 4.6, ctest parity.cv2_resize):
// output pixel x samples the source at (x + 0.5) * in / out - 0.5 (computed as OpenCV does: the
// scale as 1 / (out / in) in double, the position rounded to float), no antialiasing when
// downscaling, edges clamped; per-axis weights (1 - f, f) in 11-bit fixed point
// (INTER_RESIZE_COEF_BITS, cvRound); horizontal pass into int32 (exact), then OpenCV's vertical
// step ((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16) + 2 >> 2 (its universal-intrinsics path,
// which the library also uses for the row tails). Writes only `window` of the output (packed).
void resize_cv2_linear(const ImageView& src, int out_w, int out_h, Rect window, uint8_t* dst);

}  // namespace nkd::data
