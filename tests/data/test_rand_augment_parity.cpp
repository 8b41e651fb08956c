// RandAugment parity with PIL 9.x (label `parity`): every op of the "increasing" list at several
// arguments (both signs, the ends of the ranges) on RGB and gray images, pixel for pixel against
// tests/data/pil_rand_augment.py (timm's op bodies). Skipped when /usr/bin/python3 lacks PIL.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "data/rand_augment.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

bool pil_available() { return std::system("/usr/bin/python3 -c 'import PIL' > /dev/null 2>&1") == 0; }

void write_raw(const std::string& path, const std::vector<uint8_t>& v) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size()));
}
std::vector<uint8_t> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Case {
  RaOp op;
  double arg;
  int image;
};

TEST(RandAugmentParity, EveryOpMatchesPil) {
  if (!pil_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import PIL";
  testing::TempDir dir;
  std::vector<Image> images = {testing::test_image(37, 29, 3, 1), testing::test_image(32, 32, 3, 2),
                               testing::test_image(23, 31, 1, 3), testing::test_image(40, 30, 3, 4)};
  for (uint8_t& v : images[3].pixels) v = uint8_t(60 + v / 3);  // low contrast: autocontrast works
  for (size_t i = 0; i < images.size(); ++i) write_raw(dir / ("in" + std::to_string(i)), images[i].pixels);

  std::vector<Case> cases;
  const std::vector<double> enhance = {0.1, 0.19, 0.55, 0.9999, 1.0, 1.37, 1.81, 1.9};
  const std::vector<double> rotate = {27.0, -27.0, 13.37, -29.9, 30.0, 90.0, 180.0, -0.0};
  const std::vector<double> shear = {0.27, -0.27, 0.3, -0.1234, 0.0};
  const std::vector<double> translate = {0.405, -0.405, 0.45, -0.1234, 0.25};
  for (int im = 0; im < int(images.size()); ++im) {
    for (RaOp op : {RaOp::kAutoContrast, RaOp::kEqualize, RaOp::kInvert}) cases.push_back({op, 0, im});
    for (int b = 0; b <= 4; ++b) cases.push_back({RaOp::kPosterize, double(b), im});
    for (int t : {0, 26, 51, 128, 256}) cases.push_back({RaOp::kSolarize, double(t), im});
    for (int a : {0, 55, 99, 110}) cases.push_back({RaOp::kSolarizeAdd, double(a), im});
    for (RaOp op : {RaOp::kColor, RaOp::kContrast, RaOp::kBrightness, RaOp::kSharpness})
      for (double f : enhance) cases.push_back({op, f, im});
    for (double r : rotate) cases.push_back({RaOp::kRotate, r, im});
    for (RaOp op : {RaOp::kShearX, RaOp::kShearY})
      for (double s : shear) cases.push_back({op, s, im});
    for (RaOp op : {RaOp::kTranslateX, RaOp::kTranslateY})
      for (double t : translate) cases.push_back({op, t, im});
  }
  {
    std::ofstream manifest(dir / "manifest");
    for (size_t i = 0; i < cases.size(); ++i) {
      const Image& im = images[size_t(cases[i].image)];
      char arg[64];
      std::snprintf(arg, sizeof arg, "%.17g", cases[i].arg);
      manifest << ra_op_name(cases[i].op) << " " << arg << " " << im.width << " " << im.height << " "
               << im.channels << " " << (dir / ("in" + std::to_string(cases[i].image))) << " "
               << (dir / ("out" + std::to_string(i))) << "\n";
    }
  }
  std::string cmd = "/usr/bin/python3 ";
  cmd += NKD_SOURCE_DIR;
  cmd += "/tests/data/pil_rand_augment.py ";
  cmd += dir / "manifest";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  for (size_t i = 0; i < cases.size(); ++i) {
    Image mine = images[size_t(cases[i].image)];
    ra_apply(mine, cases[i].op, cases[i].arg);
    const std::vector<uint8_t> theirs = read_raw(dir / ("out" + std::to_string(i)));
    ASSERT_EQ(theirs.size(), mine.pixels.size()) << ra_op_name(cases[i].op);
    int bad = 0, worst = 0;
    for (size_t k = 0; k < theirs.size(); ++k) {
      const int d = std::abs(int(theirs[k]) - int(mine.pixels[k]));
      bad += d != 0;
      worst = std::max(worst, d);
    }
    EXPECT_EQ(bad, 0) << ra_op_name(cases[i].op) << "(" << cases[i].arg << ") on image "
                      << cases[i].image << ": worst difference " << worst;
  }
}

}  // namespace
}  // namespace nkd::data
