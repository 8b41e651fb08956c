// Decoding: JPEG baseline / progressive / arithmetic / grayscale / CMYK, PNG 8 and 16 bit, palette,
// alpha and interlace, magic-byte sniffing, partial (window) decoding, DCT scaling (and the
// pipeline's choice of it, SampleDecoder) and EXIF, and partial decoding combined with EXIF
// orientation (the window mapped into the stored frame).
#include <gtest/gtest.h>
#include <png.h>

#include "data/decode.h"
#include "data/encode.h"
#include "data/resample.h"
#include "data/sample_decoder.h"
#include "data/transforms.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

using testing::max_abs_diff;
using testing::test_image;

Image decode(const std::vector<uint8_t>& bytes, const DecodeOptions& o = {}) {
  return decode_image(bytes.data(), bytes.size(), o).image;
}

TEST(Decode, JpegEncodingsOfTheSameCoefficientsDecodeIdentically) {
  const Image im = test_image(97, 61, 3, 1);
  const Image base = decode(encode_jpeg(im, {.quality = 95}));
  ASSERT_EQ(base.width, 97);
  ASSERT_EQ(base.height, 61);
  ASSERT_EQ(base.channels, 3);
  EXPECT_LE(max_abs_diff(base, im), 40);  // lossy, but the same picture
  EXPECT_EQ(max_abs_diff(decode(encode_jpeg(im, {.quality = 95, .progressive = true})), base), 0);
  EXPECT_EQ(max_abs_diff(decode(encode_jpeg(im, {.quality = 95, .arithmetic = true})), base), 0);
  const Image q100 = decode(encode_jpeg(im, {.quality = 100, .subsample = false}));
  EXPECT_LE(max_abs_diff(q100, im), 5);
}

TEST(Decode, GrayscaleJpegBecomesRgb) {
  const Image g = test_image(40, 30, 1, 2);
  const Image out = decode(encode_jpeg(g, {.quality = 100}));
  ASSERT_EQ(out.channels, 3);
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 40; ++x) {
      ASSERT_EQ(out.at(y, x, 0), out.at(y, x, 1));
      ASSERT_EQ(out.at(y, x, 0), out.at(y, x, 2));
      ASSERT_LE(std::abs(out.at(y, x, 0) - g.at(y, x, 0)), 2);
    }
}

TEST(Decode, AdobeCmykJpegBecomesRgb) {
  // libjpeg writes CMYK with the Adobe marker; Adobe files store inverted values, so a stored
  // (c, m, y, k) shows as R = c k / 255, G = m k / 255, B = y k / 255.
  Image cmyk(16, 16, 4);
  const uint8_t v[4] = {200, 100, 30, 180};
  for (size_t i = 0; i < cmyk.pixels.size(); ++i) cmyk.pixels[i] = v[i % 4];
  const Image out = decode(encode_jpeg(cmyk, {.quality = 100}));
  ASSERT_EQ(out.channels, 3);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(out.at(8, 8, c), v[c] * v[3] / 255.0, 2.0) << c;
}

TEST(Decode, PngVariants) {
  const Image rgb = test_image(13, 9, 3, 3);
  EXPECT_EQ(max_abs_diff(decode(testing::encode_png(rgb)), rgb), 0);
  Image rgba = test_image(13, 9, 4, 4);
  Image dropped(13, 9, 3);
  for (size_t i = 0; i < 13 * 9; ++i)
    for (int c = 0; c < 3; ++c) dropped.pixels[i * 3 + c] = rgba.pixels[i * 4 + c];
  EXPECT_EQ(max_abs_diff(decode(testing::encode_png(rgba)), dropped), 0);
  // 16-bit gray: scaled to 8 bits (v * 255 / 65535), not clipped.
  std::vector<uint8_t> g16;
  const uint16_t values[4] = {0, 257 * 100, 40000, 65535};
  for (int i = 0; i < 4; ++i) {
    g16.push_back(uint8_t(values[i] >> 8));
    g16.push_back(uint8_t(values[i]));
  }
  const Image g = decode(testing::encode_png(4, 1, PNG_COLOR_TYPE_GRAY, 16, g16));
  const int expect[4] = {0, 100, 156, 255};
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g.at(0, i, c), expect[i]) << i;
  // Palette with transparency: the palette colours, alpha dropped.
  const std::vector<uint8_t> pal = {10, 20, 30, 200, 150, 100}, trns = {0, 128};
  const Image p = decode(testing::encode_png(2, 2, PNG_COLOR_TYPE_PALETTE, 8, {0, 1, 1, 0}, pal, trns));
  ASSERT_EQ(p.channels, 3);
  EXPECT_EQ(p.at(0, 0, 0), 10);
  EXPECT_EQ(p.at(0, 1, 2), 100);
  // 1-bit gray (rows padded to a byte) and an interlaced RGB image.
  const Image b = decode(testing::encode_png(3, 1, PNG_COLOR_TYPE_GRAY, 1, {0xA0}));
  EXPECT_EQ(b.at(0, 0, 0), 255);
  EXPECT_EQ(b.at(0, 1, 1), 0);
  EXPECT_EQ(b.at(0, 2, 2), 255);
  const Image il = decode(testing::encode_png(13, 9, PNG_COLOR_TYPE_RGB, 8, rgb.pixels, {}, {}, true));
  EXPECT_EQ(max_abs_diff(il, rgb), 0);
}

TEST(Decode, FormatComesFromTheMagicBytes) {
  const Image rgb = test_image(8, 8, 3, 5);
  const auto png = testing::encode_png(rgb);
  const auto jpg = encode_jpeg(rgb);
  EXPECT_EQ(sniff_format(png.data(), png.size()), ImageFormat::kPng);
  EXPECT_EQ(sniff_format(jpg.data(), jpg.size()), ImageFormat::kJpeg);
  const uint8_t text[] = "GIF89a....";
  EXPECT_EQ(sniff_format(text, sizeof(text)), ImageFormat::kUnknown);
}

TEST(Decode, PartialDecodeEqualsTheCropOfAFullDecode) {
  const Image im = test_image(300, 200, 3, 6);
  // Crops at, next to and away from iMCU boundaries (16 pixels with 4:2:0), and at image edges.
  const Rect crops[] = {{37, 100, 150, 61}, {32, 96, 64, 48}, {31, 95, 66, 50}, {33, 97, 15, 15},
                        {0, 0, 16, 16}, {284, 184, 16, 16}, {100, 1, 200, 199}, {0, 150, 300, 50}};
  for (bool progressive : {false, true}) {
    const auto jpg = encode_jpeg(im, {.quality = 90, .progressive = progressive});
    const Image full = decode(jpg);
    for (const Rect& r : crops) {
      const auto reader = open_image(jpg.data(), jpg.size(), {});
      EXPECT_EQ(reader->width(), 300);
      EXPECT_EQ(reader->height(), 200);
      const Decoded d = reader->decode({r, 1});
      ASSERT_LE(d.off_x, r.x);
      ASSERT_LE(d.off_y, r.y);
      ASSERT_GE(d.off_x + d.image.width, r.x + r.w);
      ASSERT_GE(d.off_y + d.image.height, r.y + r.h);
      if (r.w < 100) {
        EXPECT_LT(d.image.width, 300);  // only the iMCU columns near the crop
      }
      int worst = 0;
      for (int y = 0; y < r.h; ++y)
        for (int x = 0; x < r.w; ++x)
          for (int c = 0; c < 3; ++c)
            worst = std::max(worst, std::abs(d.image.at(r.y - d.off_y + y, r.x - d.off_x + x, c) -
                                             full.at(r.y + y, r.x + x, c)));
      EXPECT_EQ(worst, 0) << "progressive " << progressive << " crop " << r.x << "," << r.y << " " << r.w << "x" << r.h;
    }
  }
}

TEST(Decode, DctScalingOnlyWhenTheOutputIsSmallEnough) {
  const auto jpg = encode_jpeg(test_image(800, 640, 3, 7), {.quality = 90});
  auto decode_for = [&](int out, const DecodeShortcuts& shortcuts) {
    SampleDecoder source(Sample{jpg}, {}, shortcuts);
    return source.decode({{0, 0, source.width(), source.height()}, out, out});
  };
  auto scale_for = [&](int out) { return decode_for(out, {}).scale; };
  EXPECT_EQ(scale_for(40), 1.0 / 8);   // 640 >= 2 * 8 * 40
  EXPECT_EQ(scale_for(41), 1.0 / 4);
  EXPECT_EQ(scale_for(80), 1.0 / 4);
  EXPECT_EQ(scale_for(160), 1.0 / 2);
  EXPECT_EQ(scale_for(224), 1.0);
  DecodeShortcuts off;
  off.dct_scaling = false;
  EXPECT_EQ(decode_for(10, off).scale, 1.0);
  const Decoded d = decode_for(40, {});
  EXPECT_EQ(d.image.width, 100);
  EXPECT_EQ(d.image.height, 80);
  const Decoded direct = open_image(jpg.data(), jpg.size(), {})->decode({{}, 8});  // the decoder's own 1/8
  EXPECT_EQ(direct.scale, 1.0 / 8);
  EXPECT_EQ(direct.image.pixels, d.image.pixels);
}

TEST(Decode, ExifOrientationIsAnOption) {
  const Image im = test_image(24, 16, 3, 8);
  const auto plain = encode_jpeg(im, {.quality = 95});
  const Image ref = decode(plain);
  for (bool be : {false, true}) {
    for (int o = 1; o <= 8; ++o) {
      const auto jpg = testing::with_exif_orientation(plain, o, be);
      EXPECT_EQ(max_abs_diff(decode(jpg), ref), 0);  // off by default
      DecodeOptions on;
      on.exif_orientation = true;
      Image expect = ref;
      apply_orientation(expect, o);
      const Image got = decode(jpg, on);
      EXPECT_EQ(got.width, o >= 5 ? 16 : 24) << o;
      EXPECT_EQ(max_abs_diff(got, expect), 0) << o;
    }
  }
}

TEST(Decode, OrientationMappingIsPils) {
  // 3x2 image with values 0..5 (row-major): PIL's exif_transpose results, written out by hand.
  Image im(3, 2, 1);
  for (int i = 0; i < 6; ++i) im.pixels[size_t(i)] = uint8_t(i);
  const std::vector<std::vector<uint8_t>> expect = {
      {2, 1, 0, 5, 4, 3}, {5, 4, 3, 2, 1, 0}, {3, 4, 5, 0, 1, 2},
      {0, 3, 1, 4, 2, 5}, {3, 0, 4, 1, 5, 2}, {5, 2, 4, 1, 3, 0}, {2, 5, 1, 4, 0, 3}};
  for (int o = 2; o <= 8; ++o) {
    Image t = im;
    apply_orientation(t, o);
    EXPECT_EQ(t.pixels, expect[size_t(o - 2)]) << "orientation " << o;
  }
}

// Pixels `r` (full-image coordinates) of a decode at scale 1.
Image crop_of(const Decoded& d, Rect r) {
  Image out(r.w, r.h, d.image.channels);
  for (int y = 0; y < r.h; ++y)
    for (int x = 0; x < r.w; ++x)
      for (int c = 0; c < out.channels; ++c) out.at(y, x, c) = d.image.at(r.y - d.off_y + y, r.x - d.off_x + x, c);
  return out;
}

TEST(Decode, CropDecodeWithExifEqualsOrientThenCrop) {
  // Stored 300x200 (4:2:0, iMCU 16) and 4:4:4 (iMCU 8); crops in the oriented frame at, next to
  // and away from iMCU boundaries and at every edge, for orientations 1-8: the partial decode
  // (window mapped into the stored frame, decoded, rotated/flipped) must equal a full decode
  // oriented and then cropped, bit for bit, with the window much smaller than the image.
  const Image im = test_image(300, 200, 3, 12);
  for (bool subsample : {true, false}) {
    for (bool progressive : {false, true}) {
      const auto plain = encode_jpeg(im, {.quality = 90, .progressive = progressive, .subsample = subsample});
      for (int o = 1; o <= 8; ++o) {
        const auto jpg = testing::with_exif_orientation(plain, o, o % 2 == 1);
        DecodeOptions on;
        on.exif_orientation = true;
        const Decoded full = decode_image(jpg.data(), jpg.size(), on);  // the whole image
        const int W = full.image.width, H = full.image.height;
        ASSERT_EQ(W, o >= 5 ? 200 : 300);
        const Rect crops[] = {{37, 61, 50, 31}, {32, 48, 64, 48}, {31, 47, 66, 50}, {0, 0, 16, 16},
                              {W - 17, H - 23, 17, 23}, {0, H - 40, 33, 40}, {W - 50, 0, 50, 29},
                              {1, 1, W - 2, H - 2}, {0, 0, W, H}};
        for (const Rect& r : crops) {
          const auto reader = open_image(jpg.data(), jpg.size(), on);
          EXPECT_EQ(reader->width(), W);
          EXPECT_EQ(reader->height(), H);
          const Decoded d = reader->decode({r, 1});
          const std::string what = "orientation " + std::to_string(o) + " subsample " + std::to_string(subsample) +
                                    " progressive " + std::to_string(progressive) + " crop " + std::to_string(r.x) +
                                    "," + std::to_string(r.y) + " " + std::to_string(r.w) + "x" + std::to_string(r.h);
          EXPECT_EQ(d.full_w, W) << what;
          ASSERT_LE(d.off_x, r.x) << what;
          ASSERT_LE(d.off_y, r.y) << what;
          ASSERT_GE(d.off_x + d.image.width, r.x + r.w) << what;
          ASSERT_GE(d.off_y + d.image.height, r.y + r.h) << what;
          if (r.w <= 66 && r.h <= 66) {
            EXPECT_LT(int64_t(d.image.width) * d.image.height, int64_t(W) * H / 4) << what;
          }
          EXPECT_EQ(max_abs_diff(crop_of(d, r), crop_of(full, r)), 0) << what;
        }
      }
    }
  }
}

TEST(Decode, CropDecodeWithExifAndDctScalingStaysAligned) {
  // 1/2, 1/4 and 1/8 DCT scaling of a 604x410 image (not a multiple of 8: the last scaled pixel
  // covers a partial block, which a flip moves to the start; Decoded::sub accounts for it). The
  // crop resized through locate() must match a full-resolution decode + the same resize about as
  // well in every orientation as without any orientation (a misplaced window shows at the edges
  // of the test image's blobs).
  const Image im = test_image(604, 410, 3, 13);
  const auto plain = encode_jpeg(im, {.quality = 92});
  for (int out : {60, 30, 15}) {
    double base = -1;
    for (int o = 1; o <= 8; ++o) {
      const auto jpg = testing::with_exif_orientation(plain, o, false);
      DecodeOptions on;
      on.exif_orientation = true;
      const Decoded ref = decode_image(jpg.data(), jpg.size(), on);  // full scale
      const int W = ref.full_w, H = ref.full_h;
      const Rect r{W / 7, H / 9, W - W / 7 - 3, H - H / 9 - 5};
      const DecodePlan plan{r, out, out};
      const Decoded d = SampleDecoder(Sample{jpg}, on).decode(plan);
      ASSERT_LT(d.scale, 1.0) << "orientation " << o << " out " << out;
      DecodeShortcuts full_scaled;
      full_scaled.partial = false;
      const Decoded f = SampleDecoder(Sample{jpg}, on, full_scaled).decode(plan);
      ASSERT_EQ(f.scale, d.scale);
      std::vector<uint8_t> a(size_t(out) * out * 3), b(a.size()), c(a.size());
      auto resize = [&](const Decoded& dec, std::vector<uint8_t>& dst) {
        const auto [view, box] = locate(dec, r);
        resample(view, box, out, out, Filter::kBilinear, {0, 0, out, out}, dst.data());
      };
      resize(d, a);
      resize(f, b);
      resize(ref, c);
      EXPECT_EQ(a, b) << "partial vs full decode at the same scale, orientation " << o << " out " << out;
      double mean = 0;
      for (size_t i = 0; i < a.size(); ++i) mean += std::abs(int(a[i]) - int(c[i]));
      mean /= double(a.size());
      if (o == 1) base = mean;
      EXPECT_LE(mean, base + 0.25) << "orientation " << o << " scale 1/" << 1 / d.scale << ": mean |diff| " << mean
                                   << " vs " << base << " without orientation";
    }
  }
}

}  // namespace
}  // namespace nkd::data
