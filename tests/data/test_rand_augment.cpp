// RandAugment (rand-m9-mstd0.5-inc1) against hand-computed pixels: the look-up-table ops, the
// ImageEnhance blends, exact transposes and integer shifts of the bicubic affine transform; the
// level functions; determinism in (seed, epoch, index); and the statistics of the policy's draws.
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "data/pipeline.h"
#include "data/rand_augment.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

Image gray(int w, int h, std::vector<uint8_t> v) {
  Image im(w, h, 1);
  im.pixels = std::move(v);
  return im;
}

const std::array<uint8_t, 3> kFill{124, 116, 104};

TEST(RandAugmentOps, LookUpTableOps) {
  Image im = gray(4, 1, {0, 10, 128, 255});
  invert(im);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{255, 245, 127, 0}));

  im = gray(5, 1, {0, 63, 64, 127, 200});
  posterize(im, 2);  // mask 0xC0
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{0, 0, 64, 64, 192}));
  im = gray(2, 1, {255, 128});
  posterize(im, 0);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{0, 0}));
  im = gray(2, 1, {255, 3});
  posterize(im, 8);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{255, 3}));

  im = gray(5, 1, {0, 127, 128, 200, 255});
  solarize(im, 128);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{0, 127, 127, 55, 0}));
  im = gray(2, 1, {0, 255});
  solarize(im, 256);  // level 0: identity
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{0, 255}));
  solarize(im, 0);  // level 10: invert
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{255, 0}));

  im = gray(5, 1, {10, 100, 127, 128, 200});
  solarize_add(im, 110);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{120, 210, 237, 128, 200}));
  im = gray(1, 1, {127});
  solarize_add(im, 128);
  EXPECT_EQ(im.pixels[0], 255);
}

TEST(RandAugmentOps, AutoContrastPerBand) {
  // Band 0 spans 64..192: scale 255/128 = 1.9921875, offset -127.5, int() truncates.
  // Band 1 is constant: identity. Band 2 spans 0..255: identity.
  Image im(4, 1, 3);
  const uint8_t px[4][3] = {{64, 7, 0}, {100, 7, 30}, {128, 7, 200}, {192, 7, 255}};
  for (int x = 0; x < 4; ++x)
    for (int c = 0; c < 3; ++c) im.at(0, x, c) = px[x][c];
  auto_contrast(im);
  const uint8_t want[4][3] = {{0, 7, 0}, {71, 7, 30}, {127, 7, 200}, {255, 7, 255}};
  for (int x = 0; x < 4; ++x)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(im.at(0, x, c), want[x][c]) << x << "," << c;
}

TEST(RandAugmentOps, Equalize) {
  // 1024 pixels: 512 x 0, 256 x 100, 256 x 200. step = (1024 - 256) // 255 = 3, n starts at 1:
  // lut[0] = 1 // 3 = 0, lut[100] = 513 // 3 = 171, lut[200] = 769 // 3 = 256 -> 255.
  std::vector<uint8_t> v(1024, 0);
  std::fill(v.begin() + 512, v.begin() + 768, 100);
  std::fill(v.begin() + 768, v.end(), 200);
  Image im = gray(32, 32, v);
  equalize(im);
  EXPECT_EQ(im.pixels[0], 0);
  EXPECT_EQ(im.pixels[600], 171);
  EXPECT_EQ(im.pixels[1000], 255);
  // Too few pixels for a step: identity.
  im = gray(3, 1, {1, 2, 3});
  equalize(im);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{1, 2, 3}));
}

TEST(RandAugmentOps, EnhanceBlends) {
  // Brightness: blend with black; truncation inside [0, 1], clipping outside.
  Image im = gray(3, 1, {201, 3, 100});
  enhance_brightness(im, 0.5);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{100, 1, 50}));
  im = gray(2, 1, {200, 100});
  enhance_brightness(im, 1.5);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{255, 150}));

  // Contrast: degenerate = int(mean of L + 0.5) = 150 for gray RGB pixels 100 and 200.
  Image rgb(2, 1, 3);
  for (int c = 0; c < 3; ++c) rgb.at(0, 0, c) = 100, rgb.at(0, 1, c) = 200;
  Image a = rgb;
  enhance_contrast(a, 0.5);
  EXPECT_EQ(a.at(0, 0, 1), 125);
  EXPECT_EQ(a.at(0, 1, 2), 175);
  a = rgb;
  enhance_contrast(a, 2.0);
  EXPECT_EQ(a.at(0, 0, 0), 50);
  EXPECT_EQ(a.at(0, 1, 0), 250);

  // Color: L(255, 0, 0) = (255 * 19595 + 32768) >> 16 = 76; 76 + 0.5 (255 - 76) = 165.5 -> 165.
  Image red(1, 1, 3);
  red.pixels = {255, 0, 0};
  a = red;
  enhance_color(a, 0.5);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{165, 38, 38}));
  a = red;
  enhance_color(a, 0.0);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{76, 76, 76}));
  a = red;
  enhance_color(a, 1.0);
  EXPECT_EQ(a.pixels, red.pixels);

  // Sharpness: SMOOTH of a 3x3 with centre 26 gives 26 * 5/13 + 0.5 -> 10 at the centre, the
  // border is copied; factor 2 extrapolates: 10 + 2 (26 - 10) = 42.
  Image s = gray(3, 3, {0, 0, 0, 0, 26, 0, 0, 0, 0});
  Image t = s;
  enhance_sharpness(t, 0.0);
  EXPECT_EQ(t.pixels, (std::vector<uint8_t>{0, 0, 0, 0, 10, 0, 0, 0, 0}));
  t = s;
  enhance_sharpness(t, 2.0);
  EXPECT_EQ(t.pixels, (std::vector<uint8_t>{0, 0, 0, 0, 42, 0, 0, 0, 0}));
}

TEST(RandAugmentOps, RotateQuarterTurnsAreTransposes) {
  Image im = gray(2, 2, {1, 2, 3, 4});  // [1 2; 3 4]
  Image a = im;
  rotate(a, 90, kFill);  // counter-clockwise
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{2, 4, 1, 3}));
  a = im;
  rotate(a, -90, kFill);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{3, 1, 4, 2}));
  a = im;
  rotate(a, 180, kFill);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{4, 3, 2, 1}));
  a = im;
  rotate(a, 0, kFill);
  EXPECT_EQ(a.pixels, im.pixels);
}

TEST(RandAugmentOps, RotateSmallAngleKeepsCentreAndFillsCorners) {
  Image im(9, 9, 3);
  std::fill(im.pixels.begin(), im.pixels.end(), 200);
  rotate(im, 30, kFill);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(im.at(4, 4, c), 200);
    EXPECT_EQ(im.at(0, 0, c), kFill[c]);  // the corner maps outside the input
    EXPECT_EQ(im.at(8, 8, c), kFill[c]);
  }
}

TEST(RandAugmentOps, TranslateAndShearByWholePixels) {
  Image im(8, 2, 3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c) im.at(y, x, c) = uint8_t(10 * x + 100 * y + c);
  // timm translate_x_rel(0.25) on width 8: out(x) = in(x + 2), the last two columns filled.
  Image a = im;
  ra_apply(a, RaOp::kTranslateX, 0.25);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c)
        EXPECT_EQ(a.at(y, x, c), x < 6 ? im.at(y, x + 2, c) : kFill[c]) << x << "," << y;
  a = im;
  ra_apply(a, RaOp::kTranslateX, -0.25);
  for (int x = 0; x < 8; ++x) EXPECT_EQ(a.at(1, x, 0), x >= 2 ? im.at(1, x - 2, 0) : kFill[0]);
  // Translate y by -0.5 of height 2: out(y) = in(y - 1).
  a = im;
  ra_apply(a, RaOp::kTranslateY, -0.5);
  for (int x = 0; x < 8; ++x) {
    EXPECT_EQ(a.at(0, x, 1), kFill[1]);
    EXPECT_EQ(a.at(1, x, 1), im.at(0, x, 1));
  }
  // ShearX with factor 2: x_in = x + 2 (y + 0.5): row 0 shifts by 1, row 1 by 3.
  a = im;
  ra_apply(a, RaOp::kShearX, 2.0);
  for (int x = 0; x < 8; ++x) {
    EXPECT_EQ(a.at(0, x, 2), x + 1 < 8 ? im.at(0, x + 1, 2) : kFill[2]);
    EXPECT_EQ(a.at(1, x, 2), x + 3 < 8 ? im.at(1, x + 3, 2) : kFill[2]);
  }
  // ShearY with factor -2 on a 2x8 (transposed) image: column 0 shifts by -1.
  Image t(2, 8, 1);
  for (int y = 0; y < 8; ++y) t.at(y, 0, 0) = uint8_t(y), t.at(y, 1, 0) = uint8_t(50 + y);
  ra_apply(t, RaOp::kShearY, -2.0);
  for (int y = 0; y < 8; ++y) {
    EXPECT_EQ(t.at(y, 0, 0), y >= 1 ? y - 1 : kFill[0]);
    EXPECT_EQ(t.at(y, 1, 0), y >= 3 ? 50 + y - 3 : kFill[0]);
  }
}

TEST(RandAugmentLevels, TimmIncreasingLevelFunctions) {
  EXPECT_DOUBLE_EQ(ra_level_to_arg(RaOp::kRotate, 9, false), 27.0);
  EXPECT_DOUBLE_EQ(ra_level_to_arg(RaOp::kRotate, 9, true), -27.0);
  EXPECT_EQ(ra_level_to_arg(RaOp::kPosterize, 9, false), 1);  // 4 - int(3.6)
  EXPECT_EQ(ra_level_to_arg(RaOp::kPosterize, 10, false), 0);
  EXPECT_EQ(ra_level_to_arg(RaOp::kPosterize, 0, false), 4);
  EXPECT_EQ(ra_level_to_arg(RaOp::kSolarize, 9, false), 256 - 230);
  EXPECT_EQ(ra_level_to_arg(RaOp::kSolarize, 0, false), 256);
  EXPECT_EQ(ra_level_to_arg(RaOp::kSolarizeAdd, 9, false), 99);
  EXPECT_EQ(ra_level_to_arg(RaOp::kSolarizeAdd, 10, false), 110);
  EXPECT_NEAR(ra_level_to_arg(RaOp::kColor, 9, false), 1.81, 1e-12);
  EXPECT_NEAR(ra_level_to_arg(RaOp::kSharpness, 9, true), 0.19, 1e-12);
  EXPECT_NEAR(ra_level_to_arg(RaOp::kBrightness, 10, true), 0.1, 1e-12);  // max(0.1, 0.1)
  EXPECT_NEAR(ra_level_to_arg(RaOp::kShearY, 5, true), -0.15, 1e-12);
  EXPECT_NEAR(ra_level_to_arg(RaOp::kTranslateX, 10, false), 0.45, 1e-12);
}

TEST(RandAugmentPolicy, DeterministicPerSample) {
  const Image src = testing::test_image(24, 20, 3, 5);
  std::map<std::string, int> distinct;
  for (uint64_t index = 0; index < 40; ++index) {
    Image a = src, b = src;
    SampleRng ra(7, 1, index), rb(7, 1, index);
    const auto sa = rand_augment(a, ra), sb = rand_augment(b, rb);
    ASSERT_EQ(a.pixels, b.pixels) << index;
    ASSERT_EQ(sa.size(), 2u);
    std::string key;
    for (size_t i = 0; i < sa.size(); ++i) {
      ASSERT_EQ(sa[i].op, sb[i].op);
      ASSERT_EQ(sa[i].applied, sb[i].applied);
      ASSERT_EQ(sa[i].arg, sb[i].arg);
      key += ra_op_name(sa[i].op);
      key += sa[i].applied ? "+" : "-";
    }
    ++distinct[key];
    // The raw-buffer overload draws the same and gives the same pixels.
    Image c = src;
    SampleRng rc(7, 1, index);
    rand_augment(c.pixels.data(), c.width, c.height, 3, rc);
    ASSERT_EQ(c.pixels, a.pixels);
  }
  EXPECT_GT(distinct.size(), 20u);  // different samples draw different ops
}

TEST(RandAugmentPolicy, DrawStatistics) {
  Image tiny(4, 4, 3);
  const int n = 20000;
  std::vector<int> op_count(kRaOpCount, 0);
  int applied = 0, clipped = 0, negative = 0, signed_ops = 0;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    Image im = tiny;
    SampleRng rng(3, 0, uint64_t(i));
    for (const RaStep& s : rand_augment(im, rng)) {
      ++op_count[int(s.op)];
      if (!s.applied) continue;
      ++applied;
      ASSERT_GE(s.magnitude, 0.0);
      ASSERT_LE(s.magnitude, 10.0);
      clipped += s.magnitude == 10.0;
      sum += s.magnitude;
      sum2 += s.magnitude * s.magnitude;
      if (s.op == RaOp::kRotate || s.op == RaOp::kShearX || s.op == RaOp::kTranslateY) {
        ++signed_ops;
        negative += s.arg < 0;
      }
    }
  }
  const double draws = 2.0 * n;
  for (int k = 0; k < kRaOpCount; ++k) EXPECT_NEAR(op_count[k], draws / kRaOpCount, 300) << k;
  EXPECT_NEAR(applied / draws, 0.5, 0.01);
  // N(9, 0.5) clipped at 10: mean 9 - 0.5 (phi(2) - 2 (1 - Phi(2))) = 8.9958, P(clip) = 0.0228.
  const double mean = sum / applied, sd = std::sqrt(sum2 / applied - mean * mean);
  EXPECT_NEAR(mean, 8.9958, 0.015);
  EXPECT_NEAR(sd, 0.49, 0.02);
  EXPECT_NEAR(double(clipped) / applied, 0.0228, 0.005);
  EXPECT_NEAR(double(negative) / signed_ops, 0.5, 0.03);
}

TEST(RandAugmentPolicy, SwinTrainPipelineRuns) {
  std::vector<Image> images;
  for (int i = 0; i < 4; ++i) images.push_back(testing::test_image(300, 260, 3, uint32_t(i)));
  testing::MemoryDataset ds(std::move(images), 2);
  const auto with = swin_train(), without = swin_train_without_randaugment();
  ASSERT_EQ(with->height(), 224);
  std::vector<uint8_t> a(224 * 224 * 3), b(a.size()), c(a.size());
  int differ = 0;
  for (int64_t i = 0; i < 4; ++i) {
    SampleRng r1(11, 0, uint64_t(i)), r2(11, 0, uint64_t(i)), r3(11, 0, uint64_t(i));
    with->run(ds.load(i), r1, a.data());
    with->run(ds.load(i), r2, b.data());
    EXPECT_EQ(a, b);
    without->run(ds.load(i), r3, c.data());
    differ += a != c;
  }
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace nkd::data
