// Transforms against hand-computed values: Pillow's resampling arithmetic on small cases, sizes and
// centre-crop rounding, RandomResizedCrop (fallback cases and the distribution of its draws),
// flips, the Fashion-MNIST pad + random crop + flip, and OpenCV's INTER_LINEAR arithmetic
// (resize_cv2_linear; parity with cv2 itself is ctest parity.cv2).
#include <map>

#include <gtest/gtest.h>

#include "data/pipeline.h"
#include "data/transforms.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

TEST(Resample, BilinearDownscaleByTwoIsHandComputed) {
  // Pillow, 4 -> 2, bilinear: support 2, output 0 centred at 1.0 takes pixels 0..2 with weights
  // (0.75, 0.75, 0.25) / 1.75; output 1 centred at 3.0 takes pixels 1..3 with (0.25, 0.75, 0.75) / 1.75.
  Image im(4, 1, 1);
  im.pixels = {0, 100, 200, 255};
  uint8_t out[2];
  resample(view_of(im), {0, 0, 4, 1}, 2, 1, Filter::kBilinear, {0, 0, 2, 1}, out);
  EXPECT_EQ(out[0], 71);   // (75 + 50) / 1.75 = 71.4
  EXPECT_EQ(out[1], 209);  // (25 + 150 + 191.25) / 1.75 = 209.3
}

TEST(Resample, IdentityAndWindowing) {
  const Image im = testing::test_image(31, 17, 3, 1);
  Image same(31, 17, 3);
  resample(view_of(im), {0, 0, 31, 17}, 31, 17, Filter::kBicubic, {0, 0, 31, 17}, same.pixels.data());
  EXPECT_EQ(testing::max_abs_diff(same, im), 0);
  // A window of the output equals the same pixels of the whole output.
  Image whole(20, 11, 3), part(7, 5, 3);
  resample(view_of(im), {0, 0, 31, 17}, 20, 11, Filter::kBilinear, {0, 0, 20, 11}, whole.pixels.data());
  resample(view_of(im), {0, 0, 31, 17}, 20, 11, Filter::kBilinear, {9, 4, 7, 5}, part.pixels.data());
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(part.at(y, x, c), whole.at(y + 4, x + 9, c));
  // A constant image stays constant under any resize (weights are normalised).
  Image flat(13, 9, 1);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  Image up(29, 4, 1);
  resample(view_of(flat), {0, 0, 13, 9}, 29, 4, Filter::kBicubic, {0, 0, 29, 4}, up.pixels.data());
  for (uint8_t v : up.pixels) ASSERT_EQ(v, 77);
}

TEST(Transforms, SizesAndCentreCropRounding) {
  EXPECT_EQ(short_side_size(500, 375, 256), std::make_pair(341, 256));
  EXPECT_EQ(short_side_size(375, 500, 256), std::make_pair(256, 341));
  EXPECT_EQ(short_side_size(256, 300, 256), std::make_pair(256, 300));
  EXPECT_EQ(short_side_size(1000, 999, 256), std::make_pair(256, 256));
  EXPECT_EQ(center_crop_rect(257, 300, 224, 224), (Rect{16, 38, 224, 224}));  // 16.5 -> 16, 38
  EXPECT_EQ(center_crop_rect(259, 227, 224, 224), (Rect{18, 2, 224, 224}));   // 17.5 -> 18, 1.5 -> 2
  EXPECT_THROW(center_crop_rect(100, 300, 224, 224), nkd::Error);
}

TEST(Transforms, RandomResizedCropFallback) {
  SampleRng rng(1, 0, 0);
  const RandomResizedCropOptions never{.scale_lo = 2.0, .scale_hi = 2.0};  // no attempt fits
  EXPECT_EQ(random_resized_crop_params(100, 400, rng, never), (Rect{0, 133, 100, 133}));
  EXPECT_EQ(random_resized_crop_params(400, 100, rng, never), (Rect{133, 0, 133, 100}));
  EXPECT_EQ(random_resized_crop_params(120, 100, rng, never), (Rect{0, 0, 120, 100}));
}

TEST(Transforms, RandomResizedCropDistribution) {
  double area = 0, log_ratio = 0;
  int n = 0;
  for (uint64_t i = 0; i < 4000; ++i) {
    SampleRng rng(5, 0, i);
    const Rect r = random_resized_crop_params(500, 375, rng);
    ASSERT_TRUE(r.x >= 0 && r.y >= 0 && r.w > 0 && r.h > 0 && r.x + r.w <= 500 && r.y + r.h <= 375);
    area += double(r.w) * r.h / (500.0 * 375.0);
    log_ratio += std::log(double(r.w) / r.h);
    ++n;
  }
  // Accepted draws are biased to smaller areas (large ones fail the bounds). torchvision 0.14's
  // get_params on 500x375, 50k draws (tools run by hand): mean area fraction 0.4337, mean
  // log(w/h) 0.0314. Standard errors here are about 0.004 and 0.003.
  EXPECT_NEAR(area / n, 0.4337, 0.015);
  EXPECT_NEAR(log_ratio / n, 0.0314, 0.012);
}

TEST(Transforms, HorizontalFlip) {
  uint8_t px[2 * 3 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  hflip(px, 3, 2, 2);
  const uint8_t expect[12] = {5, 6, 3, 4, 1, 2, 11, 12, 9, 10, 7, 8};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(px[i], expect[i]);
}

TEST(Transforms, PadCropFlipOutputsAreShiftedWindowsOfThePaddedImage) {
  Image im(28, 28, 1);
  for (int i = 0; i < 28 * 28; ++i) im.pixels[size_t(i)] = uint8_t(1 + i % 251);
  testing::MemoryDataset ds({im}, 1);
  auto train = fashion_mnist_train();
  std::map<std::tuple<int, int, bool>, int> seen;
  for (uint64_t s = 0; s < 600; ++s) {
    SampleRng rng(9, s, 0);
    std::vector<uint8_t> out(28 * 28);
    train->run(ds.load(0), rng, out.data());
    int found = 0;
    for (int top = 0; top <= 4; ++top)
      for (int left = 0; left <= 4; ++left)
        for (bool flip : {false, true}) {
          bool ok = true;
          for (int y = 0; y < 28 && ok; ++y)
            for (int x = 0; x < 28 && ok; ++x) {
              const int sx = (flip ? 27 - x : x) + left - 2, sy = y + top - 2;
              const int v = (sx < 0 || sy < 0 || sx >= 28 || sy >= 28) ? 0 : im.at(sy, sx, 0);
              ok = out[size_t(y * 28 + x)] == v;
            }
          if (ok) {
            ++found;
            seen[{top, left, flip}]++;
          }
        }
    ASSERT_EQ(found, 1) << "sample " << s;
  }
  EXPECT_EQ(seen.size(), 50u);  // every offset and flip occurs
  std::vector<uint8_t> out(28 * 28);
  SampleRng rng(0, 0, 0);
  fashion_mnist_test()->run(ds.load(0), rng, out.data());
  EXPECT_EQ(out, im.pixels);
}

}  // namespace
}  // namespace nkd::data

namespace nkd::data {
namespace {

TEST(Transforms, RandomErasingBoxAndNoise) {
  const RandomErasingOptions o{.prob = 1.0, .mean = {120, 60, 200}, .std = {10, 20, 30}};
  int applied = 0;
  double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
  int64_t n = 0;
  for (uint64_t s = 0; s < 200; ++s) {
    std::vector<uint8_t> px(64 * 48 * 3, 7);  // 7 is far from every fill mean
    SampleRng rng(4, 0, s);
    const Rect r = random_erasing(px.data(), 64, 48, 3, rng, o);
    ASSERT_FALSE(r.empty());
    ++applied;
    const double frac = double(r.w) * r.h / (64.0 * 48.0);
    EXPECT_GT(frac, 0.015);
    EXPECT_LT(frac, 0.36);
    EXPECT_TRUE(r.x >= 0 && r.y >= 0 && r.x + r.w <= 64 && r.y + r.h <= 48);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x) {
        const bool inside = x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
        for (int c = 0; c < 3; ++c) {
          const int v = px[size_t((y * 64 + x) * 3 + c)];
          if (!inside) {
            ASSERT_EQ(v, 7);
          } else {
            sum[c] += v;
            sq[c] += double(v) * v;
          }
        }
        n += x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
      }
  }
  EXPECT_EQ(applied, 200);
  const double mean[3] = {120, 60, 200}, sd[3] = {10, 20, 30};
  for (int c = 0; c < 3; ++c) {
    const double m = sum[c] / double(n);
    EXPECT_NEAR(m, mean[c] - 0.5, 0.6) << c;  // int() truncation lowers the mean by about 0.5
    EXPECT_NEAR(std::sqrt(sq[c] / double(n) - m * m), sd[c], 0.05 * sd[c]) << c;
  }
  int none = 0;
  for (uint64_t s = 0; s < 400; ++s) {
    std::vector<uint8_t> px(16 * 16 * 3, 7);
    SampleRng rng(5, 0, s);
    none += random_erasing(px.data(), 16, 16, 3, rng, {.mean = {1, 2, 3}, .std = {1, 1, 1}}).empty();
  }
  EXPECT_NEAR(none / 400.0, 0.75, 0.07);  // p = 0.25
}

TEST(ResizeCv2, UpscaleIsHandComputed) {
  // 2 -> 4: positions (x + 0.5) / 2 - 0.5 = -0.25 (clamped to pixel 0), 0.25, 0.75 and 1.25 (past
  // the last pixel: clamped to it). 0.25 -> weights (1536, 512) / 2048 -> 50; 0.75 -> 150.
  Image im(2, 1, 1);
  im.pixels = {0, 200};
  uint8_t out[4];
  resize_cv2_linear(view_of(im), 4, 1, {0, 0, 4, 1}, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 4), (std::vector<uint8_t>{0, 50, 150, 200}));
}

TEST(ResizeCv2, VerticalStepTruncatesLikeOpenCv) {
  // Column {6, 10}, 2 -> 5 rows. Row 3 sits at 3.5 * 0.4 - 0.5 = 0.9: weights round(0.1 * 2048) =
  // 205 and 1843. The exact value 9.599 would round to 10; OpenCV computes
  // ((6*2048 >> 4) * 205 >> 16) + ((10*2048 >> 4) * 1843 >> 16) = 2 + 35, (37 + 2) >> 2 = 9.
  // Rows 0 and 1 sit at -0.3 and 0.1 (the row above is clamped), row 4 at 1.3 (clamped below).
  Image im(1, 2, 1);
  im.pixels = {6, 10};
  uint8_t out[5];
  resize_cv2_linear(view_of(im), 1, 5, {0, 0, 1, 5}, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 5), (std::vector<uint8_t>{6, 6, 8, 9, 10}));
}

TEST(ResizeCv2, IdentityHalvingAndWindowing) {
  const Image im = testing::test_image(31, 17, 3, 2);
  Image same(31, 17, 3);
  resize_cv2_linear(view_of(im), 31, 17, {0, 0, 31, 17}, same.pixels.data());
  EXPECT_EQ(testing::max_abs_diff(same, im), 0);
  // Exactly half size: every output is the rounded mean of a 2x2 block (cv2's INTER_AREA fast
  // path, which OpenCV takes for this case, gives the same numbers).
  const Image even = testing::test_image(30, 16, 3, 3);
  Image half(15, 8, 3);
  resize_cv2_linear(view_of(even), 15, 8, {0, 0, 15, 8}, half.pixels.data());
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 15; ++x)
      for (int c = 0; c < 3; ++c) {
        const int sum = even.at(2 * y, 2 * x, c) + even.at(2 * y, 2 * x + 1, c) + even.at(2 * y + 1, 2 * x, c) +
                        even.at(2 * y + 1, 2 * x + 1, c);
        ASSERT_EQ(half.at(y, x, c), (sum + 2) >> 2) << y << "," << x << "," << c;
      }
  // A window of the output equals the same pixels of the whole output; a crop view reads nothing
  // outside itself (its edges are clamped, as cv2 does on a cropped array).
  Image whole(45, 23, 3), part(9, 6, 3);
  resize_cv2_linear(view_of(im), 45, 23, {0, 0, 45, 23}, whole.pixels.data());
  resize_cv2_linear(view_of(im), 45, 23, {30, 11, 9, 6}, part.pixels.data());
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 9; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(part.at(y, x, c), whole.at(y + 11, x + 30, c));
  Image crop(7, 5, 3), from_view(13, 4, 3), from_copy(13, 4, 3);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c) crop.at(y, x, c) = im.at(y + 6, x + 10, c);
  resize_cv2_linear(view_of(im, {10, 6, 7, 5}), 13, 4, {0, 0, 13, 4}, from_view.pixels.data());
  resize_cv2_linear(view_of(crop), 13, 4, {0, 0, 13, 4}, from_copy.pixels.data());
  EXPECT_EQ(testing::max_abs_diff(from_view, from_copy), 0);
  // A constant image stays constant, up- or downscaled.
  Image flat(13, 9, 1);
  std::fill(flat.pixels.begin(), flat.pixels.end(), uint8_t(201));
  for (const auto& [w, h] : {std::pair{5, 4}, std::pair{40, 29}, std::pair{1, 1}}) {
    std::vector<uint8_t> out(size_t(w) * h);
    resize_cv2_linear(view_of(flat), w, h, {0, 0, w, h}, out.data());
    for (uint8_t v : out) ASSERT_EQ(v, 201);
  }
}

TEST(ResizeCv2, PipelinesUseIt) {
  // cv2 backend: integer crop + resize_cv2_linear, EXIF on, DCT scaling off; bicubic is refused.
  ImagenetTrain train({.backend = ResizeBackend::kCv2});
  EXPECT_TRUE(train.decode.exif_orientation);
  EXPECT_FALSE(train.shortcuts.dct_scaling);
  EXPECT_FALSE(ImagenetTrain().decode.exif_orientation);
  EXPECT_THROW(ImagenetTrain({.filter = Filter::kBicubic, .backend = ResizeBackend::kCv2}), Error);
  const Image im = testing::test_image(64, 48, 3, 4);
  testing::MemoryDataset ds({im}, 1);
  std::vector<uint8_t> out(224 * 224 * 3), expect(224 * 224 * 3);
  SampleRng rng(5, 0, 0), replay(5, 0, 0);
  train.run(ds.load(0), rng, out.data());
  const Rect r = random_resized_crop_params(64, 48, replay);
  resize_cv2_linear(view_of(im, r), 224, 224, {0, 0, 224, 224}, expect.data());
  if (replay.bernoulli(0.5)) hflip(expect.data(), 224, 224, 3);
  EXPECT_EQ(out, expect);
  ImagenetTest test({.resize = 32, .size = 24, .backend = ResizeBackend::kCv2});
  std::vector<uint8_t> t(24 * 24 * 3), whole(42 * 32 * 3);
  test.run(ds.load(0), rng, t.data());
  resize_cv2_linear(view_of(im), 42, 32, {0, 0, 42, 32}, whole.data());  // 32 * 64 / 48 = 42.67 -> 42
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 24 * 3; ++x) ASSERT_EQ(t[size_t(y) * 72 + x], whole[size_t(y + 4) * 126 + 9 * 3 + x]);
}

}  // namespace
}  // namespace nkd::data
