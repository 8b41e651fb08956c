// Pillow-exact resampling: precompute_coeffs / normalize_coeffs_8bpc / ImagingResample{Horizontal,
// Vertical}_8bpc re-expressed on ImageView, computing only the output window that is needed; and
// OpenCV's INTER_LINEAR 8-bit arithmetic (resize_cv2_linear). Built with -ffp-contract=off so the
// float sample positions round exactly as OpenCV's do.
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/resample.h"
#include "engine/check.h"

namespace nkd::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> xmin, count;  // per output index of the window
  std::vector<int32_t> k;        // [window, ksize] fixed point
};

// Coefficients for outputs [first, first + n) of an in_size -> out_size resize of [in0, in1).
Coeffs precompute(int in_size, float in0, float in1, int out_size, Filter f, int first, int n) {
  const double support_1 = f == Filter::kBilinear ? 1.0 : 2.0;
  double (*filter)(double) = f == Filter::kBilinear ? bilinear : bicubic;
  const double scale = double(in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = support_1 * filterscale;
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.xmin.resize(size_t(n));
  c.count.resize(size_t(n));
  c.k.assign(size_t(n) * c.ksize, 0);
  std::vector<double> w(size_t(c.ksize));
  for (int i = 0; i < n; ++i) {
    const double center = in0 + (first + i + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    const int xmin = std::max(int(center - support + 0.5), 0);
    const int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) ww += (w[size_t(x)] = filter((x + xmin - center + 0.5) * ss));
    for (int x = 0; x < xmax; ++x) {
      const double v = (ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)]) * (1 << kPrecisionBits);
      c.k[size_t(i) * c.ksize + x] = int32_t(v < 0 ? -0.5 + v : 0.5 + v);
    }
    c.xmin[size_t(i)] = xmin;
    c.count[size_t(i)] = std::max(xmax, 0);
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// out[j] = sum_x in[(xmin + x) * step] * k[x] per channel, for one line of n outputs.
template <int C>
void convolve_line(const uint8_t* in, size_t step, const Coeffs& c, uint8_t* out, int channels) {
  const int nc = C > 0 ? C : channels;
  for (size_t j = 0; j < c.xmin.size(); ++j) {
    const int32_t* k = &c.k[j * c.ksize];
    const uint8_t* p = in + size_t(c.xmin[j]) * step;
    int32_t acc[4] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1),
                      1 << (kPrecisionBits - 1)};
    for (int x = 0; x < c.count[j]; ++x, p += step)
      for (int ch = 0; ch < nc; ++ch) acc[ch] += p[ch] * k[x];
    for (int ch = 0; ch < nc; ++ch) out[j * size_t(nc) + ch] = clip8(acc[ch]);
  }
}

void convolve(const uint8_t* in, size_t step, const Coeffs& c, uint8_t* out, int channels) {
  switch (channels) {
    case 1: convolve_line<1>(in, step, c, out, 1); break;
    case 3: convolve_line<3>(in, step, c, out, 3); break;
    default: convolve_line<0>(in, step, c, out, channels); break;
  }
}

}  // namespace

ImageView view_of(const Image& image) {
  return {image.pixels.data(), image.width, image.height, image.channels,
          size_t(image.width) * image.channels};
}

ImageView view_of(const Image& image, Rect r) {
  NKD_CHECK(r.x >= 0 && r.y >= 0 && r.w > 0 && r.h > 0 && r.x + r.w <= image.width &&
                r.y + r.h <= image.height,
            "view_of: rect outside the ", image.width, "x", image.height, " image");
  return {image.row(r.y) + size_t(r.x) * image.channels, r.w, r.h, image.channels,
          size_t(image.width) * image.channels};
}

void resample(const ImageView& src, Box box, int out_w, int out_h, Filter filter, Rect window,
              uint8_t* dst) {
  NKD_CHECK(out_w > 0 && out_h > 0 && window.x >= 0 && window.y >= 0 && window.w > 0 &&
                window.h > 0 && window.x + window.w <= out_w && window.y + window.h <= out_h,
            "resample: window outside the ", out_w, "x", out_h, " output");
  NKD_CHECK(src.channels >= 1 && src.channels <= 4, "resample: ", src.channels, " channels");
  const int C = src.channels;
  const Coeffs h = precompute(src.width, box.x0, box.x1, out_w, filter, window.x, window.w);
  Coeffs v = precompute(src.height, box.y0, box.y1, out_h, filter, window.y, window.h);
  // Rows of the source the vertical pass reads, then the horizontal pass over exactly those.
  const int y_first = v.xmin.front();
  int y_last = y_first;
  for (size_t j = 0; j < v.xmin.size(); ++j) y_last = std::max(y_last, v.xmin[j] + v.count[j]);
  const size_t tmp_stride = size_t(window.w) * C;
  std::vector<uint8_t> tmp(size_t(y_last - y_first) * tmp_stride);
  for (int y = y_first; y < y_last; ++y)
    convolve(src.data + size_t(y) * src.stride, size_t(C), h, &tmp[size_t(y - y_first) * tmp_stride], C);
  for (int& m : v.xmin) m -= y_first;
  // Vertical pass: each output row is a weighted sum of whole tmp rows (vectorises).
  std::vector<int32_t> acc(tmp_stride);
  for (int row = 0; row < window.h; ++row) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &v.k[size_t(row) * v.ksize];
    for (int x = 0; x < v.count[size_t(row)]; ++x) {
      const uint8_t* in = &tmp[size_t(v.xmin[size_t(row)] + x) * tmp_stride];
      const int32_t kx = k[x];
      for (size_t i = 0; i < tmp_stride; ++i) acc[i] += in[i] * kx;
    }
    uint8_t* out = dst + size_t(row) * tmp_stride;
    for (size_t i = 0; i < tmp_stride; ++i) out[i] = clip8(acc[i]);
  }
}

namespace {

// OpenCV's INTER_RESIZE_COEF_BITS: weights are in 1/2048 units.
constexpr int kCvCoefBits = 11;
constexpr float kCvCoefScale = float(1 << kCvCoefBits);

struct CvTaps {
  std::vector<int> first;        // per output index of the window: the left/top source index
  std::vector<int> second;       // the right/bottom one (clamped into the image)
  std::vector<int16_t> w0, w1;   // fixed-point weights, w0 + w1 = 2048
};

// Sample positions and weights for outputs [first, first + n) of an in_size -> out_size resize.
// The x axis clamps the position itself at the edges (weights 2048, 0); the y axis keeps the
// weights and clamps the rows, as OpenCV's resizeGeneric does.
CvTaps cv_taps(int in_size, int out_size, int first, int n, bool clamp_position) {
  const double scale = 1.0 / (double(out_size) / double(in_size));
  CvTaps t;
  t.first.resize(size_t(n));
  t.second.resize(size_t(n));
  t.w0.resize(size_t(n));
  t.w1.resize(size_t(n));
  for (int i = 0; i < n; ++i) {
    const double pos = (double(first + i) + 0.5) * scale - 0.5;
    float f = float(pos);
    int s = int(std::floor(f));
    f -= float(s);
    if (clamp_position && s < 0) {
      f = 0.f;
      s = 0;
    }
    if (clamp_position && s >= in_size - 1) {
      f = 0.f;
      s = in_size - 1;
    }
    const float c0 = 1.f - f;
    t.w0[size_t(i)] = int16_t(std::lrint(c0 * kCvCoefScale));  // cvRound: nearest, ties to even
    t.w1[size_t(i)] = int16_t(std::lrint(f * kCvCoefScale));
    t.first[size_t(i)] = std::clamp(s, 0, in_size - 1);
    t.second[size_t(i)] = std::clamp(s + 1, 0, in_size - 1);
  }
  return t;
}

// One source row through the horizontal pass: out[j][c] = S[x0][c] w0 + S[x1][c] w1 (int32, exact).
template <int C>
void cv_row(const uint8_t* in, const CvTaps& t, int32_t* out, int channels) {
  const int nc = C > 0 ? C : channels;
  for (size_t j = 0; j < t.first.size(); ++j) {
    const uint8_t* a = in + size_t(t.first[j]) * nc;
    const uint8_t* b = in + size_t(t.second[j]) * nc;
    const int32_t w0 = t.w0[j], w1 = t.w1[j];
    for (int c = 0; c < nc; ++c) out[j * size_t(nc) + c] = a[c] * w0 + b[c] * w1;
  }
}

void cv_horizontal(const uint8_t* in, const CvTaps& t, int32_t* out, int channels) {
  switch (channels) {
    case 1: cv_row<1>(in, t, out, 1); break;
    case 3: cv_row<3>(in, t, out, 3); break;
    default: cv_row<0>(in, t, out, channels); break;
  }
}

}  // namespace

void resize_cv2_linear(const ImageView& src, int out_w, int out_h, Rect window, uint8_t* dst) {
  NKD_CHECK(out_w > 0 && out_h > 0 && window.x >= 0 && window.y >= 0 && window.w > 0 &&
                window.h > 0 && window.x + window.w <= out_w && window.y + window.h <= out_h,
            "resize_cv2_linear: window outside the ", out_w, "x", out_h, " output");
  NKD_CHECK(src.channels >= 1 && src.channels <= 4 && src.width > 0 && src.height > 0,
            "resize_cv2_linear: ", src.width, "x", src.height, "x", src.channels, " source");
  const int C = src.channels;
  const CvTaps h = cv_taps(src.width, out_w, window.x, window.w, true);
  const CvTaps v = cv_taps(src.height, out_h, window.y, window.h, false);
  const size_t stride = size_t(window.w) * C;
  // Two horizontally filtered rows, reused while consecutive outputs read the same source rows.
  std::vector<int32_t> rows(2 * stride);
  int held[2] = {-1, -1};
  auto row = [&](int y) -> const int32_t* {
    for (int k = 0; k < 2; ++k)
      if (held[k] == y) return &rows[size_t(k) * stride];
    const int k = held[0] == -1 || (held[1] != -1 && held[0] < held[1]) ? 0 : 1;  // replace the older row
    held[k] = y;
    cv_horizontal(src.data + size_t(y) * src.stride, h, &rows[size_t(k) * stride], C);
    return &rows[size_t(k) * stride];
  };
  for (int r = 0; r < window.h; ++r) {
    const int y0 = v.first[size_t(r)], y1 = v.second[size_t(r)];
    const int32_t* s0 = row(y0);
    const int32_t* s1 = row(y1);
    const int32_t b0 = v.w0[size_t(r)], b1 = v.w1[size_t(r)];
    uint8_t* out = dst + size_t(r) * stride;
    for (size_t i = 0; i < stride; ++i) {
      // OpenCV: 16-bit lanes of (h >> 4), multiply-high by the weight, then a rounding >> 2.
      const int32_t t = (((s0[i] >> 4) * b0) >> 16) + (((s1[i] >> 4) * b1) >> 16);
      const int32_t o = (t + 2) >> 2;
      out[i] = uint8_t(o < 0 ? 0 : (o > 255 ? 255 : o));
    }
  }
}

}  // namespace nkd::data
