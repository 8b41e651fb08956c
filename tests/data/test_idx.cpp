// IDX reading: the real Fashion-MNIST files (when installed), round trips plain and gzipped,
// and malformed files rejected with a message naming the fault.
#include <cmath>
#include <filesystem>
#include <variant>

#include <gtest/gtest.h>
#include <zlib.h>

#include "data/idx_dataset.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

TEST(Idx, FashionMnistMatchesTheKnownFacts) {
  if (!std::filesystem::exists(std::string(kFashion) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const IdxDataset test = IdxDataset::fashion_mnist(kFashion, false);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(test.height(), 28);
  EXPECT_EQ(test.width(), 28);
  EXPECT_EQ(test.num_classes(), 10);
  const IdxDataset train = IdxDataset::fashion_mnist(kFashion, true);
  ASSERT_EQ(train.size(), 60000);
  const int64_t first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(train.label(i), first[i]) << i;
  double sum = 0, sq = 0;
  const int64_t n = train.size() * 28 * 28;
  for (int64_t i = 0; i < n; ++i) {
    const double v = train.image(0)[i] / 255.0;
    sum += v;
    sq += v * v;
  }
  const double mean = sum / n;
  EXPECT_NEAR(mean, 0.2860, 5e-5);
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 0.3530, 5e-5);
}

TEST(Idx, RoundTripPlainAndGzip) {
  testing::TempDir dir;
  std::vector<uint8_t> px(3 * 4 * 5);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 7);
  const std::vector<uint8_t> labels = {2, 0, 1};
  write_idx(dir / "im", {3, 4, 5}, px.data());
  write_idx(dir / "lb", {3}, labels.data());
  // A gzipped copy of the images file.
  {
    const IdxArray raw = read_idx(dir / "im");
    std::vector<uint8_t> header = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
    gzFile f = gzopen((dir / "im.gz").c_str(), "wb");
    gzwrite(f, header.data(), unsigned(header.size()));
    gzwrite(f, raw.data.data(), unsigned(raw.data.size()));
    gzclose(f);
  }
  for (const std::string name : {"im", "im.gz"}) {
    const IdxDataset ds(dir / name, dir / "lb");
    ASSERT_EQ(ds.size(), 3);
    EXPECT_EQ(ds.height(), 4);
    EXPECT_EQ(ds.width(), 5);
    EXPECT_EQ(ds.num_classes(), 3);
    EXPECT_EQ(ds.label(0), 2);
    const Sample s = ds.load(1);
    EXPECT_EQ(s.label, ds.label(1));
    const Image& im = std::get<Image>(s.content);  // raw pixels
    EXPECT_EQ(im.channels, 1);
    EXPECT_EQ(im.at(2, 3, 0), px[20 + 2 * 5 + 3]);
  }
}

TEST(Idx, MalformedFilesAreRejectedWithTheFault) {
  testing::TempDir dir;
  auto write = [&](const std::string& name, std::vector<uint8_t> bytes) {
    FILE* f = std::fopen((dir / name).c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return dir / name;
  };
  auto message = [](const std::string& path) {
    try {
      read_idx(path);
    } catch (const nkd::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(write("magic", {1, 2, 8, 1, 0, 0, 0, 1, 5})).find("bad magic"), std::string::npos);
  EXPECT_NE(message(write("type", {0, 0, 0x0D, 1, 0, 0, 0, 1, 5})).find("element type"), std::string::npos);
  EXPECT_NE(message(write("short", {0, 0, 8, 1, 0, 0, 0, 9, 5})).find("declares 9 bytes"), std::string::npos);
  EXPECT_NE(message(write("hdr", {0, 0, 8, 3, 0, 0})).find("header truncated"), std::string::npos);
  EXPECT_NE(message(dir / "missing").find("cannot open"), std::string::npos);
  const std::vector<uint8_t> px(2 * 2 * 2, 1), lb(3, 0);
  write_idx(dir / "im", {2, 2, 2}, px.data());
  write_idx(dir / "lb", {3}, lb.data());
  EXPECT_THROW(IdxDataset(dir / "im", dir / "lb"), nkd::Error);
}

}  // namespace
}  // namespace nkd::data
