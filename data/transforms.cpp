// Geometric transforms: crop parameters, sizes, flips and the decoded-image coordinate mapping.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/transforms.h"

namespace nkd::data {

double round_half_even(double x) { return std::nearbyint(x); }  // default FE_TONEAREST

Rect random_resized_crop_params(int width, int height, SampleRng& rng,
                                const RandomResizedCropOptions& o) {
  const double area = double(width) * height;
  const double log_lo = std::log(o.ratio_lo), log_hi = std::log(o.ratio_hi);
  for (int attempt = 0; attempt < o.attempts; ++attempt) {
    const double target = area * rng.uniform(o.scale_lo, o.scale_hi);
    const double ratio = std::exp(rng.uniform(log_lo, log_hi));
    const int w = int(round_half_even(std::sqrt(target * ratio)));
    const int h = int(round_half_even(std::sqrt(target / ratio)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int y = int(rng.randint(0, height - h));
      const int x = int(rng.randint(0, width - w));
      return {x, y, w, h};
    }
  }
  const double in_ratio = double(width) / height;
  int w = width, h = height;
  if (in_ratio < std::min(o.ratio_lo, o.ratio_hi)) {
    h = int(round_half_even(w / std::min(o.ratio_lo, o.ratio_hi)));
  } else if (in_ratio > std::max(o.ratio_lo, o.ratio_hi)) {
    w = int(round_half_even(h * std::max(o.ratio_lo, o.ratio_hi)));
  }
  return {(width - w) / 2, (height - h) / 2, w, h};
}

std::pair<int, int> short_side_size(int width, int height, int size) {
  if (width <= height) {
    if (width == size) return {width, height};
    return {size, int(double(size) * height / width)};
  }
  if (height == size) return {width, height};
  return {int(double(size) * width / height), size};
}

Rect center_crop_rect(int width, int height, int crop_w, int crop_h) {
  NKD_CHECK(crop_w <= width && crop_h <= height, "center_crop: ", crop_w, "x", crop_h,
            " crop of a ", width, "x", height, " image");
  return {int(round_half_even((width - crop_w) / 2.0)), int(round_half_even((height - crop_h) / 2.0)),
          crop_w, crop_h};
}

void hflip(uint8_t* hwc, int width, int height, int channels) {
  for (int y = 0; y < height; ++y) {
    uint8_t* row = hwc + size_t(y) * width * channels;
    for (int a = 0, b = width - 1; a < b; ++a, --b)
      for (int c = 0; c < channels; ++c) std::swap(row[a * channels + c], row[b * channels + c]);
  }
}

std::pair<ImageView, Box> locate(const Decoded& d, Rect r) {
  const double fx0 = r.x * d.scale + d.sub_x - d.off_x, fx1 = (r.x + r.w) * d.scale + d.sub_x - d.off_x;
  const double fy0 = r.y * d.scale + d.sub_y - d.off_y, fy1 = (r.y + r.h) * d.scale + d.sub_y - d.off_y;
  Rect clip;
  clip.x = std::clamp(int(std::floor(fx0)), 0, d.image.width - 1);
  clip.y = std::clamp(int(std::floor(fy0)), 0, d.image.height - 1);
  clip.w = std::clamp(int(std::ceil(fx1)), clip.x + 1, d.image.width) - clip.x;
  clip.h = std::clamp(int(std::ceil(fy1)), clip.y + 1, d.image.height) - clip.y;
  const Box box{float(fx0 - clip.x), float(fy0 - clip.y), float(std::min<double>(fx1 - clip.x, clip.w)),
                float(std::min<double>(fy1 - clip.y, clip.h))};
  return {view_of(d.image, clip), box};
}

Rect random_erasing(uint8_t* hwc, int width, int height, int channels, SampleRng& rng,
                    const RandomErasingOptions& o) {
  if (rng.uniform() > o.prob) return {};
  const double aspect = std::exp(rng.uniform(std::log(o.aspect_lo), std::log(o.aspect_hi)));
  const double area = double(width) * height * rng.uniform(o.min_area, o.max_area);
  const int h = std::min(int(round_half_even(std::sqrt(area * aspect))), height);
  const int w = std::min(int(round_half_even(std::sqrt(area / aspect))), width);
  const int top = height > h ? int(rng.randint(0, height - h - 1)) : 0;
  const int left = width > w ? int(rng.randint(0, width - w - 1)) : 0;
  const bool normal = !o.std.empty();
  NKD_CHECK(!normal || (int(o.mean.size()) == channels && int(o.std.size()) == channels),
            "random_erasing: fill mean/std need ", channels, " channels");
  for (int y = top; y < top + h; ++y) {
    uint8_t* px = hwc + (size_t(y) * width + left) * channels;
    for (int i = 0; i < w * channels; ++i) {
      const int c = i % channels;
      const double v = normal ? double(int(o.mean[size_t(c)] + o.std[size_t(c)] * rng.normal()))
                              : std::floor(rng.uniform() * 256.0);
      px[i] = uint8_t(std::clamp(v, 0.0, 255.0));
    }
  }
  return {left, top, w, h};
}

void convert_channels(Image& image, int channels) {
  if (image.channels == channels) return;
  NKD_CHECK((image.channels == 1 || image.channels == 3) && (channels == 1 || channels == 3),
            "convert_channels: ", image.channels, " -> ", channels);
  Image out(image.width, image.height, channels);
  const size_t n = size_t(image.width) * image.height;
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  if (channels == 3) {
    for (size_t i = 0; i < n; ++i) o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = in[i];
  } else {
    for (size_t i = 0; i < n; ++i)  // PIL L24: (r*19595 + g*38470 + b*7471 + 0x8000) >> 16
      o[i] = uint8_t((in[3 * i] * 19595 + in[3 * i + 1] * 38470 + in[3 * i + 2] * 7471 + 0x8000) >> 16);
  }
  image = std::move(out);
}

}  // namespace nkd::data
