// Transforms against hand-computed values: Pillow's resampling arithmetic on small cases, sizes and
// centre-crop rounding, RandomResizedCrop (fallback cases and the distribution of its draws),
// flips, and the Fashion-MNIST pad + random crop + flip.
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
    train->run(ds, 0, rng, out.data());
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
  fashion_mnist_test()->run(ds, 0, rng, out.data());
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

}  // namespace
}  // namespace nkd::data
