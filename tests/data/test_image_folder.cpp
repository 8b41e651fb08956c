// ImageFolder: sorted classes, case-insensitive extensions, list files, and clear errors for a
// missing folder, a missing listed file or a malformed list line; a PNG named .JPEG loads.
#include <filesystem>
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "data/encode.h"
#include "data/idx_dataset.h"
#include "data/image_folder.h"
#include "data/sample_decoder.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const nkd::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ImageFolder, ScanSortsClassesAndFiltersExtensions) {
  testing::TempDir dir;
  const std::string root = dir / "imagenet";
  for (const char* c : {"n02", "n01", "n10"}) fs::create_directories(root + "/train/" + c);
  const auto jpg = encode_jpeg(testing::test_image(8, 8, 3, 1));
  for (const char* f : {"n02/x.JPEG", "n02/a.jpg", "n01/z.Jpeg", "n10/b.PnG", "n10/notes.txt", "n01/noext"})
    write_file(root + "/train/" + f, jpg);
  fs::create_directories(root + "/train/n10/sub");
  write_file(root + "/train/n10/sub/c.jpeg", jpg);
  const ImageFolder f = ImageFolder::imagenet(root, "train");
  EXPECT_EQ(f.classes(), (std::vector<std::string>{"n01", "n02", "n10"}));
  ASSERT_EQ(f.size(), 5);
  const std::vector<std::pair<std::string, int64_t>> expect = {
      {"n01/z.Jpeg", 0}, {"n02/a.jpg", 1}, {"n02/x.JPEG", 1}, {"n10/b.PnG", 2}, {"n10/sub/c.jpeg", 2}};
  for (size_t i = 0; i < expect.size(); ++i) {
    EXPECT_EQ(f.describe(int64_t(i)), root + "/train/" + expect[i].first);
    EXPECT_EQ(f.label(int64_t(i)), expect[i].second);
  }
  // b.PnG holds JPEG bytes: the decoder goes by the magic bytes.
  EXPECT_EQ(decode_sample(f.load(3)).image.width, 8);
}

TEST(ImageFolder, ListFileAndPngNamedJpeg) {
  testing::TempDir dir;
  const std::string root = dir / "imagenet";
  fs::create_directories(root + "/val");
  fs::create_directories(root + "/meta");
  write_file(root + "/val/ILSVRC2012_val_00000001.JPEG", testing::encode_png(testing::test_image(9, 7, 3, 2)));
  write_file(root + "/val/ILSVRC2012_val_00000002.JPEG", encode_jpeg(testing::test_image(9, 7, 3, 3)));
  std::ofstream(root + "/meta/val.txt") << "ILSVRC2012_val_00000001.JPEG 65\n\nILSVRC2012_val_00000002.JPEG 970\n";
  const ImageFolder f = ImageFolder::imagenet(root, "val");
  ASSERT_EQ(f.size(), 2);
  EXPECT_EQ(f.label(0), 65);
  EXPECT_EQ(f.label(1), 970);
  EXPECT_EQ(f.num_classes(), 971);
  const Sample s = f.load(0);
  EXPECT_EQ(s.label, 65);
  const Decoded d = decode_sample(s);
  EXPECT_EQ(d.image.width, 9);
  EXPECT_EQ(testing::max_abs_diff(d.image, testing::test_image(9, 7, 3, 2)), 0);  // PNG: lossless
}

TEST(ImageFolder, ClearErrorsBeforeTraining) {
  testing::TempDir dir;
  EXPECT_NE(error_of([&] { ImageFolder::imagenet(dir / "nothing", "train"); }).find("is not a directory"),
            std::string::npos);
  fs::create_directories(dir / "empty/train");
  EXPECT_NE(error_of([&] { ImageFolder::scan(dir / "empty/train"); }).find("no class folders"), std::string::npos);
  fs::create_directories(dir / "r/val");
  fs::create_directories(dir / "r/meta");
  write_file(dir / "r/val/a.JPEG", encode_jpeg(testing::test_image(8, 8, 3, 1)));
  std::ofstream(dir / "r/meta/val.txt") << "a.JPEG 1\nb.JPEG 2\n";
  const std::string missing = error_of([&] { ImageFolder::imagenet(dir / "r", "val"); });
  EXPECT_NE(missing.find("val.txt:2 names"), std::string::npos) << missing;
  EXPECT_NE(missing.find("b.JPEG, which does not exist"), std::string::npos) << missing;
  std::ofstream(dir / "r/meta/val.txt") << "a.JPEG one\n";
  EXPECT_NE(error_of([&] { ImageFolder::imagenet(dir / "r", "val"); }).find("expected `filename label`"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ImageFolder::from_list(dir / "r/val", dir / "r/meta/none.txt"); }).find("cannot open list"),
            std::string::npos);
}

}  // namespace
}  // namespace nkd::data

namespace nkd::data {
namespace {

TEST(ImageFolder, IdxExportToolRoundTrip) {
  testing::TempDir dir;
  std::vector<uint8_t> px(12 * 28 * 28), lb(12);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(128 + 100 * std::sin(double(i % 784) / 40.0 + double(i / 784)));
  for (size_t i = 0; i < lb.size(); ++i) lb[i] = uint8_t((i * 7) % 10);
  write_idx(dir / "im", {12, 28, 28}, px.data());
  write_idx(dir / "lb", {12}, lb.data());
  std::string cmd = NKD_IDX_TO_JPEG;
  cmd.append(" ").append(dir / "im").append(" ").append(dir / "lb").append(" ").append(dir / "out");
  cmd.append(" val --quality 95 > /dev/null");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const ImageFolder list = ImageFolder::imagenet(dir / "out", "val");  // through meta/val.txt
  ASSERT_EQ(list.size(), 12);
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(list.label(i), lb[size_t(i)]);
    const Decoded d = decode_sample(list.load(i));
    int worst = 0;
    for (int p = 0; p < 784; ++p) worst = std::max(worst, std::abs(d.image.pixels[size_t(p) * 3] - px[size_t(i) * 784 + size_t(p)]));
    EXPECT_LE(worst, 12) << i;
  }
  fs::remove(dir / "out/meta/val.txt");
  const ImageFolder scanned = ImageFolder::imagenet(dir / "out", "val");  // folder scan, classes 000..009
  EXPECT_EQ(scanned.size(), 12);
  EXPECT_EQ(scanned.classes().front(), "000");
}

}  // namespace
}  // namespace nkd::data
