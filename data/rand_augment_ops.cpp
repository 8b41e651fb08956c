// The RandAugment ops with Pillow 9.4's arithmetic: ImageOps look-up tables, ImageEnhance blends
// (Blend.c: float alpha, truncation; Filter.c 3x3 SMOOTH in float with +0.5) and the generic affine
// transform of Geometry.c (bicubic with a = -1, edge clamping, truncation, fill outside).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "data/rand_augment.h"
#include "engine/check.h"

namespace nkd::data {
namespace {

using Lut = std::array<uint8_t, 256>;

void apply_lut(Image& im, const Lut& lut) {
  for (uint8_t& v : im.pixels) v = lut[v];
}

void apply_band_luts(Image& im, const std::vector<Lut>& luts) {
  const size_t n = size_t(im.width) * im.height;
  const int C = im.channels;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c) im.pixels[i * C + c] = luts[c][im.pixels[i * C + c]];
}

std::vector<std::array<int64_t, 256>> histograms(const Image& im) {
  std::vector<std::array<int64_t, 256>> h(im.channels);
  for (auto& a : h) a.fill(0);
  const size_t n = size_t(im.width) * im.height;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < im.channels; ++c) ++h[c][im.pixels[i * im.channels + c]];
  return h;
}

Lut identity_lut() {
  Lut l;
  for (int i = 0; i < 256; ++i) l[i] = uint8_t(i);
  return l;
}

// PIL L24 luma.
uint8_t luma(const uint8_t* p) {
  return uint8_t((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
}

// Blend.c: out = in1 + alpha (in2 - in1) in float, truncated; clipped when extrapolating.
void blend(const Image& degenerate, Image& im, double factor) {
  const float alpha = float(factor);
  if (alpha == 0.0f) {
    im.pixels = degenerate.pixels;
    return;
  }
  if (alpha == 1.0f) return;
  const bool inside = alpha >= 0.0f && alpha <= 1.0f;
  for (size_t i = 0; i < im.pixels.size(); ++i) {
    const int a = degenerate.pixels[i], b = im.pixels[i];
    const float t = float(a) + alpha * float(b - a);
    if (inside) {
      im.pixels[i] = uint8_t(t);
    } else {
      im.pixels[i] = t <= 0.0f ? 0 : t >= 255.0f ? 255 : uint8_t(t);
    }
  }
}

uint8_t clip8(float v) { return v <= 0.0f ? 0 : v >= 255.0f ? 255 : uint8_t(v); }

// Geometry.c BICUBIC: cubic convolution with a = -1.
double cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

// Python's round(x, 15) (correctly rounded through the decimal string, as Python does).
double round15(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15f", x);
  return std::strtod(buf, nullptr);
}

// Image.transpose: ROTATE_90 (counter-clockwise), ROTATE_180, ROTATE_270.
void transpose_rotate(Image& im, int quarter_turns) {
  const int W = im.width, H = im.height, C = im.channels;
  const bool swap = quarter_turns % 2 == 1;
  Image out(swap ? H : W, swap ? W : H, C);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      int sx = 0, sy = 0;
      if (quarter_turns == 1) sx = W - 1 - y, sy = x;
      else if (quarter_turns == 2) sx = W - 1 - x, sy = H - 1 - y;
      else sx = y, sy = H - 1 - x;
      for (int c = 0; c < C; ++c) out.at(y, x, c) = im.at(sy, sx, c);
    }
  im = std::move(out);
}

}  // namespace

void auto_contrast(Image& im) {
  const auto h = histograms(im);
  std::vector<Lut> luts(im.channels);
  for (int c = 0; c < im.channels; ++c) {
    int lo = 0, hi = 255;
    while (lo < 255 && h[c][lo] == 0) ++lo;
    while (hi > 0 && h[c][hi] == 0) --hi;
    if (hi <= lo) {
      luts[c] = identity_lut();
      continue;
    }
    const double scale = 255.0 / (hi - lo), offset = -lo * scale;
    for (int i = 0; i < 256; ++i) {
      const int v = int(i * scale + offset);  // Python int(): truncation
      luts[c][i] = uint8_t(std::clamp(v, 0, 255));
    }
  }
  apply_band_luts(im, luts);
}

void equalize(Image& im) {
  const auto h = histograms(im);
  std::vector<Lut> luts(im.channels);
  for (int c = 0; c < im.channels; ++c) {
    int64_t total = 0, last = 0, nonzero = 0;
    for (int i = 0; i < 256; ++i)
      if (h[c][i]) total += h[c][i], last = h[c][i], ++nonzero;
    const int64_t step = nonzero <= 1 ? 0 : (total - last) / 255;
    if (step == 0) {
      luts[c] = identity_lut();
      continue;
    }
    int64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      luts[c][i] = uint8_t(std::min<int64_t>(255, n / step));  // point() clips to 8 bits
      n += h[c][i];
    }
  }
  apply_band_luts(im, luts);
}

void invert(Image& im) {
  for (uint8_t& v : im.pixels) v = uint8_t(255 - v);
}

void posterize(Image& im, int bits) {
  if (bits >= 8) return;
  const int mask = bits <= 0 ? 0 : ~((1 << (8 - bits)) - 1);
  Lut l;
  for (int i = 0; i < 256; ++i) l[i] = uint8_t(i & mask);
  apply_lut(im, l);
}

void solarize(Image& im, int threshold) {
  Lut l;
  for (int i = 0; i < 256; ++i) l[i] = uint8_t(i < threshold ? i : 255 - i);
  apply_lut(im, l);
}

void solarize_add(Image& im, int add, int threshold) {
  Lut l;
  for (int i = 0; i < 256; ++i) l[i] = uint8_t(i < threshold ? std::clamp(i + add, 0, 255) : i);
  apply_lut(im, l);
}

void enhance_color(Image& im, double factor) {
  if (im.channels == 1) return;  // the degenerate of a gray image is itself
  NKD_CHECK(im.channels == 3, "enhance_color: ", im.channels, " channels");
  Image d(im.width, im.height, 3);
  const size_t n = size_t(im.width) * im.height;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t l = luma(&im.pixels[3 * i]);
    d.pixels[3 * i] = d.pixels[3 * i + 1] = d.pixels[3 * i + 2] = l;
  }
  blend(d, im, factor);
}

void enhance_contrast(Image& im, double factor) {
  NKD_CHECK(im.channels == 1 || im.channels == 3, "enhance_contrast: ", im.channels, " channels");
  const size_t n = size_t(im.width) * im.height;
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += im.channels == 3 ? luma(&im.pixels[3 * i]) : im.pixels[i];
  const int mean = n == 0 ? 0 : int(double(sum) / double(n) + 0.5);  // ImageStat mean of L
  Image d(im.width, im.height, im.channels);
  std::fill(d.pixels.begin(), d.pixels.end(), uint8_t(mean));
  blend(d, im, factor);
}

void enhance_brightness(Image& im, double factor) {
  Image d(im.width, im.height, im.channels);
  blend(d, im, factor);
}

void enhance_sharpness(Image& im, double factor) {
  // SMOOTH: (1 1 1; 1 5 1; 1 1 1) / 13 (each weight divided in float), offset 0.5 for rounding
  // down; the border rows and columns are copied. Rows are summed y+1, y, y-1 as Filter.c does.
  const int W = im.width, H = im.height, C = im.channels;
  Image d = im;
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  for (int y = 1; y < H - 1; ++y)
    for (int x = 1; x < W - 1; ++x)
      for (int c = 0; c < C; ++c) {
        auto row = [&](int yy, float centre) {
          return float(im.at(yy, x - 1, c)) * k1 + float(im.at(yy, x, c)) * centre +
                 float(im.at(yy, x + 1, c)) * k1;
        };
        float ss = 0.5f;
        ss += row(y + 1, k1);
        ss += row(y, k5);
        ss += row(y - 1, k1);
        d.at(y, x, c) = clip8(ss);
      }
  blend(d, im, factor);
}

void affine_bicubic(Image& im, const std::array<double, 6>& a, const std::array<uint8_t, 3>& fill) {
  const int W = im.width, H = im.height, C = im.channels;
  NKD_CHECK(C >= 1 && C <= 3, "affine_bicubic: ", C, " channels");
  Image out(W, H, C);
  auto xclip = [W](int x) { return x < 0 ? 0 : x < W ? x : W - 1; };
  for (int oy = 0; oy < H; ++oy)
    for (int ox = 0; ox < W; ++ox) {
      const double xo = ox + 0.5, yo = oy + 0.5;
      double xin = a[0] * xo + a[1] * yo + a[2];
      double yin = a[3] * xo + a[4] * yo + a[5];
      uint8_t* o = &out.at(oy, ox, 0);
      if (xin < 0.0 || xin >= W || yin < 0.0 || yin >= H) {
        for (int c = 0; c < C; ++c) o[c] = fill[c];
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      const int x = int(std::floor(xin)) - 1, y = int(std::floor(yin)) - 1;
      const double dx = xin - (x + 1), dy = yin - (y + 1);
      const int x0 = xclip(x), x1 = xclip(x + 1), x2 = xclip(x + 2), x3 = xclip(x + 3);
      for (int c = 0; c < C; ++c) {
        auto rowv = [&](int yy) {
          const uint8_t* r = im.row(yy);
          return cubic(r[x0 * C + c], r[x1 * C + c], r[x2 * C + c], r[x3 * C + c], dx);
        };
        const double v1 = rowv(y < 0 ? 0 : y < H ? y : H - 1);
        const double v2 = (y + 1 >= 0 && y + 1 < H) ? rowv(y + 1) : v1;
        const double v3 = (y + 2 >= 0 && y + 2 < H) ? rowv(y + 2) : v2;
        const double v4 = (y + 3 >= 0 && y + 3 < H) ? rowv(y + 3) : v3;
        const double v = cubic(v1, v2, v3, v4, dy);
        o[c] = v <= 0.0 ? 0 : v >= 255.0 ? 255 : uint8_t(v);
      }
    }
  im = std::move(out);
}

void rotate(Image& im, double degrees, const std::array<uint8_t, 3>& fill) {
  double angle = std::fmod(degrees, 360.0);  // Python's %: the sign of the divisor
  if (angle < 0) angle += 360.0;
  if (angle == 0.0) return;
  if (angle == 180.0) return transpose_rotate(im, 2);
  if ((angle == 90.0 || angle == 270.0) && im.width == im.height)
    return transpose_rotate(im, angle == 90.0 ? 1 : 3);
  const double cx = im.width / 2.0, cy = im.height / 2.0;
  const double r = -(angle * (M_PI / 180.0));  // -math.radians(angle)
  std::array<double, 6> m{round15(std::cos(r)), round15(std::sin(r)), 0.0,
                          round15(-std::sin(r)), round15(std::cos(r)), 0.0};
  m[2] = m[0] * -cx + m[1] * -cy + 0.0 + cx;
  m[5] = m[3] * -cx + m[4] * -cy + 0.0 + cy;
  affine_bicubic(im, m, fill);
}

}  // namespace nkd::data
