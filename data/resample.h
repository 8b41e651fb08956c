// Resampling with Pillow's exact arithmetic (Resample.c in Pillow 9.4): separable antialiased
// convolution (support scaled by the downscale factor), coefficients normalised in double and
// rounded to 22-bit fixed point, horizontal pass first into 8-bit rows, then the vertical pass.
// So an output matches PIL's Image.resize(size, BILINEAR|BICUBIC, box) pixel for pixel.
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

}  // namespace nkd::data
