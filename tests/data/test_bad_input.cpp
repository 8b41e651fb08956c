// Bad input (issue point 5): every kind of undecodable file throws DecodeError with a reason and
// never aborts; the loader skips it with one warning line naming the file, counts it, keeps the
// batch full (training) or leaves it out (evaluation), stops with the file's name when strict, and
// past max_bad_fraction of an epoch, never after a number of consecutive bad files.
#include <algorithm>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "data/encode.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "engine/factory.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

std::string reason(const std::vector<uint8_t>& bytes) {
  try {
    decode_image(bytes.data(), bytes.size());
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "decoded";
}

std::vector<uint8_t> good_jpeg(uint32_t seed = 1) {
  return encode_jpeg(testing::test_image(64, 48, 3, seed), {.quality = 90});
}

TEST(BadInput, EachCaseThrowsWithAReason) {
  EXPECT_NE(reason({}).find("empty file"), std::string::npos);
  const std::string text = "this is not an image, just text";
  EXPECT_NE(reason({text.begin(), text.end()}).find("not an image"), std::string::npos);
  auto jpg = good_jpeg();
  EXPECT_NE(reason({jpg.begin(), jpg.begin() + ptrdiff_t(jpg.size() / 2)}).find("truncated"), std::string::npos);
  EXPECT_NE(reason({jpg.begin(), jpg.begin() + 40}).find("JPEG"), std::string::npos);
  auto png = testing::encode_png(testing::test_image(64, 48, 3, 2));
  EXPECT_NE(reason({png.begin(), png.begin() + ptrdiff_t(png.size() / 2)}).find("PNG"), std::string::npos);
  // A few hundred bytes declaring 60000 x 60000: rejected before any pixel buffer exists.
  auto huge = jpg;
  testing::patch_jpeg_size(huge, 60000, 60000);
  EXPECT_NE(reason(huge).find("over the limit"), std::string::npos);
  auto huge_png = png;
  testing::patch_png_size(huge_png, 60000, 60000);
  EXPECT_NE(reason(huge_png).find("over the limit"), std::string::npos);
  // Garbage after a valid SOI: libjpeg's error path must not call exit().
  std::vector<uint8_t> garbage = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x02, 0x13, 0x37, 0x00};
  EXPECT_NE(reason(garbage).find("JPEG"), std::string::npos);
  // A PNG with a corrupt IHDR CRC.
  auto bad_crc = png;
  bad_crc[20] ^= 0x55;
  EXPECT_NE(reason(bad_crc).find("PNG"), std::string::npos);
}

TEST(BadInput, PixelLimitIsConfigurable) {
  const auto jpg = good_jpeg();
  DecodeOptions o;
  o.max_pixels = 64 * 48 - 1;
  EXPECT_THROW(decode_image(jpg.data(), jpg.size(), o), DecodeError);
  o.max_pixels = 64 * 48;
  EXPECT_EQ(decode_image(jpg.data(), jpg.size(), o).image.width, 64);
}

// A train/ folder with 6 good images and one of each bad kind.
std::string make_folder(testing::TempDir& dir) {
  namespace fs = std::filesystem;
  const std::string root = dir / "train";
  fs::create_directories(root + "/a");
  fs::create_directories(root + "/b");
  for (int i = 0; i < 3; ++i) {
    write_file(root + "/a/good" + std::to_string(i) + ".JPEG", good_jpeg(uint32_t(i)));
    write_file(root + "/b/good" + std::to_string(i) + ".jpg", good_jpeg(uint32_t(10 + i)));
  }
  const auto jpg = good_jpeg(99);
  write_file(root + "/a/empty.JPEG", {});
  write_file(root + "/a/truncated.JPEG", {jpg.begin(), jpg.begin() + ptrdiff_t(jpg.size() / 3)});
  write_file(root + "/b/text.jpg", {'h', 'e', 'l', 'l', 'o'});
  auto huge = jpg;
  testing::patch_jpeg_size(huge, 60000, 60000);
  write_file(root + "/b/huge.jpeg", huge);
  return root;
}

TEST(BadInput, LoaderSkipsWarnsCountsAndKeepsBatchesFull) {
  testing::TempDir dir;
  auto ds = std::make_shared<ImageFolder>(ImageFolder::scan(make_folder(dir)));
  ASSERT_EQ(ds->size(), 10);
  std::vector<std::string> warnings;
  std::mutex mu;
  LoaderOptions o{.batch_size = 5, .workers = 2, .shuffle = false, .layout = Layout::kNHWCUint8};
  o.warn = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    warnings.push_back(line);
  };
  Loader loader(ds, std::make_shared<ImagenetTest>(ImagenetTestOptions{.resize = 40, .size = 32}), o);
  loader.set_epoch(0);
  int64_t rows = 0;
  while (auto b = loader.next()) {
    EXPECT_EQ(b->images.size(0), 5);
    for (int64_t idx : b->indices) EXPECT_NE(ds->describe(idx).find("good"), std::string::npos);
    rows += b->images.size(0);
  }
  EXPECT_EQ(rows, 10);
  ASSERT_EQ(warnings.size(), 4u);
  const EpochStats s = loader.stats();
  EXPECT_GE(s.skipped, 4);
  EXPECT_EQ(s.skipped_files.size(), 4u);
  std::string all;
  for (const auto& w : warnings) all += w + "\n";
  for (const char* needle : {"empty.JPEG: empty file", "truncated.JPEG: JPEG", "text.jpg: not an image",
                             "huge.jpeg: image is 60000x60000"})
    EXPECT_NE(all.find(needle), std::string::npos) << needle << " in\n" << all;
  EXPECT_NE(loader.summary().find("bad files skipped"), std::string::npos);
}

TEST(BadInput, StrictModeStopsWithTheFileName) {
  testing::TempDir dir;
  auto ds = std::make_shared<ImageFolder>(ImageFolder::scan(make_folder(dir)));
  Loader loader(ds, std::make_shared<ImagenetTest>(ImagenetTestOptions{.resize = 40, .size = 32}),
                {.batch_size = 5, .workers = 2, .shuffle = false, .strict = true});
  loader.set_epoch(0);
  try {
    while (loader.next()) {
    }
    FAIL() << "strict mode did not stop";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("empty.JPEG: empty file"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(loader.next().has_value());
}

}  // namespace
}  // namespace nkd::data

namespace nkd::data {
namespace {

// Random byte corruptions and truncations: decoding either succeeds or throws DecodeError.
TEST(BadInput, CorruptedFilesNeverCrash) {
  const std::vector<std::vector<uint8_t>> seeds = {
      encode_jpeg(testing::test_image(48, 40, 3, 1), {.quality = 80}),
      encode_jpeg(testing::test_image(48, 40, 3, 2), {.quality = 80, .progressive = true}),
      testing::encode_png(testing::test_image(48, 40, 3, 3))};
  uint32_t s = 12345;
  auto next = [&] { return s = s * 1664525u + 1013904223u; };
  int ok = 0, rejected = 0;
  for (const auto& seed : seeds) {
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> b = seed;
      const int flips = 1 + int(next() % 8);
      for (int f = 0; f < flips; ++f) b[next() % b.size()] = uint8_t(next() >> 24);
      if (trial % 3 == 0) b.resize(next() % b.size());
      try {
        const Decoded d = decode_image(b.data(), b.size());
        ok += d.image.width > 0;
      } catch (const DecodeError&) {
        ++rejected;
      }
    }
  }
  EXPECT_EQ(ok + rejected, 900);
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace nkd::data

namespace nkd::data {
namespace {

// Evaluation (replace_bad = false): a bad sample is left out of its batch, never replaced by a
// copy of another image; Batch::skipped names it with its position and reason.
TEST(BadInput, WithoutReplacementBadSamplesAreLeftOut) {
  testing::TempDir dir;
  auto ds = std::make_shared<ImageFolder>(ImageFolder::scan(make_folder(dir)));
  LoaderOptions o{.batch_size = 4, .workers = 2, .shuffle = false, .layout = Layout::kNHWCUint8};
  o.replace_bad = false;
  o.warn = [](const std::string&) {};
  Loader loader(ds, std::make_shared<ImagenetTest>(ImagenetTestOptions{.resize = 40, .size = 32}), o);
  loader.set_epoch(0);
  std::set<int64_t> used;
  std::vector<std::string> kinds;
  int64_t rows = 0, skipped = 0;
  while (auto b = loader.next()) {
    ASSERT_EQ(b->images.size(0), b->labels.numel());
    ASSERT_EQ(b->positions.size(), b->indices.size());
    for (int64_t idx : b->indices) {
      EXPECT_NE(ds->describe(idx).find("good"), std::string::npos);
      EXPECT_TRUE(used.insert(idx).second) << "image " << idx << " scored twice";
    }
    for (const BadSample& s : b->skipped) {
      EXPECT_EQ(s.file, ds->describe(s.index));
      EXPECT_EQ(s.index, s.position);  // no shuffle: position = index
      kinds.push_back(bad_sample_kind(s.reason));
    }
    rows += b->images.size(0);
    skipped += int64_t(b->skipped.size());
  }
  EXPECT_EQ(rows, 6);
  EXPECT_EQ(skipped, 4);
  std::sort(kinds.begin(), kinds.end());
  // (the file cut at a third fails inside the JPEG data: a corrupt image, not a premature end)
  EXPECT_EQ(kinds, (std::vector<std::string>{"bad image size", "corrupt image", "empty file", "not an image"}));
}

// Training (replacement): no limit on consecutive bad files (30 in a row here), only on the
// unreadable fraction of an epoch (max_bad_fraction), whose error names the count and a file.
TEST(BadInput, ReplacementHasNoConsecutiveLimitOnlyAFraction) {
  testing::TempDir dir;
  const std::string root = make_folder(dir);
  for (int i = 0; i < 30; ++i) write_file(root + "/a/x_empty" + std::to_string(100 + i) + ".JPEG", {});
  auto ds = std::make_shared<ImageFolder>(ImageFolder::scan(root));
  ASSERT_EQ(ds->size(), 40);
  const auto run = [&](double fraction) {
    LoaderOptions o{.batch_size = 8, .workers = 2, .shuffle = false, .layout = Layout::kNHWCUint8};
    o.max_bad_fraction = fraction;
    o.warn = [](const std::string&) {};
    Loader loader(ds, std::make_shared<ImagenetTest>(ImagenetTestOptions{.resize = 40, .size = 32}), o);
    loader.set_epoch(0);
    int64_t rows = 0;
    while (auto b = loader.next()) rows += b->images.size(0);
    EXPECT_EQ(loader.stats().skipped_files.size(), 34u);
    return rows;
  };
  EXPECT_EQ(run(-1), 40);   // every sample replaced by the next readable one
  EXPECT_EQ(run(0.85), 40);  // 34 of 40 unreadable: under 85 %
  try {
    run(0.5);
    FAIL() << "max_bad_fraction 0.5 did not stop the epoch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_bad_fraction"), std::string::npos) << e.what();
    // (the count "so far" is 21 or more: the loader threads record bad files concurrently)
    EXPECT_NE(std::string(e.what()).find("of epoch 1's 40 samples are unreadable: "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nkd::data
