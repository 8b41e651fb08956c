// Parity with PIL + torchvision (label `parity`): decoding (baseline, progressive, gray, CMYK JPEG;
// RGB, palette PNG), EXIF transposition, RandomResizedCrop + flip + Normalize (bilinear and
// bicubic) and Resize + CenterCrop + Normalize, all through the Loader on an ImageFolder.
// Skipped with a message when /usr/bin/python3 cannot import torchvision.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <png.h>

#include "data/encode.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/sample_decoder.h"
#include "engine/factory.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

bool torchvision_available() {
  return std::system("/usr/bin/python3 -c 'import torchvision, PIL' > /dev/null 2>&1") == 0;
}

template <typename T>
std::vector<T> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

// Everything is prepared and PIL/torchvision run once for the suite (importing torch takes seconds).
class DataParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!torchvision_available()) return;
    s_ = new State;
    s_->prepare();
  }
  static void TearDownTestSuite() {
    delete s_;
    s_ = nullptr;
  }
  void SetUp() override {
    if (s_ == nullptr) GTEST_SKIP() << "/usr/bin/python3 cannot import torchvision and PIL";
    ASSERT_TRUE(s_->python_ok) << "pil_reference.py failed";
  }

  struct State {
    testing::TempDir dir;
    std::shared_ptr<ImageFolder> ds, big;
    std::ofstream manifest{dir / "manifest"};
    std::map<std::string, Batch> batches;
    bool python_ok = false;

    std::string path_of(const std::string& stem, int64_t i, const char* ext = "") const {
      std::string s = dir.path;
      s.append("/").append(stem).append(std::to_string(i)).append(ext);
      return s;
    }
    void make_images();
    void add_train(Filter f, const std::string& name);
    void add_test(Filter f, const std::string& name);
    void prepare();
  };
  static State* s_;

  // Loader output (F32 NCHW) for one row against the torchvision output file.
  static void expect_close(const Batch& b, int64_t row, const std::string& ref, const std::string& what) {
    const auto mine = to_vector<float>(b.images);
    const auto theirs = read_raw<float>(ref);
    const size_t per = size_t(b.images.numel() / b.images.size(0));
    ASSERT_EQ(theirs.size(), per) << what;
    float worst = 0;
    size_t bad = 0;
    for (size_t i = 0; i < per; ++i) {
      const float d = std::fabs(mine[size_t(row) * per + i] - theirs[i]);
      worst = std::max(worst, d);
      bad += d > 1e-4f;
    }
    EXPECT_EQ(bad, 0u) << what << ": worst difference " << worst << " (one uint8 level is about 0.0175)";
  }
};
DataParity::State* DataParity::s_ = nullptr;

void DataParity::State::make_images() {
  namespace fs = std::filesystem;
  const std::string root = dir / "train";
  fs::create_directories(root + "/a");
  fs::create_directories(root + "/b");
  using testing::test_image;
  write_file(root + "/a/0_base.JPEG", encode_jpeg(test_image(500, 375, 3, 1), {.quality = 90}));
  write_file(root + "/a/1_prog.JPEG", encode_jpeg(test_image(375, 500, 3, 2), {.quality = 80, .progressive = true}));
  write_file(root + "/a/2_gray.JPEG", encode_jpeg(test_image(333, 250, 1, 3), {.quality = 85}));
  write_file(root + "/a/3_cmyk.JPEG", encode_jpeg(test_image(300, 256, 4, 4), {.quality = 95}));
  write_file(root + "/b/4_rgb.png", testing::encode_png(test_image(300, 200, 3, 5)));
  std::vector<uint8_t> idx(260 * 240);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = uint8_t((i / 7 + i % 260) % 3);
  write_file(root + "/b/5_palette.PNG", testing::encode_png(260, 240, PNG_COLOR_TYPE_PALETTE, 8, idx,
                                                            {10, 200, 30, 250, 40, 90, 0, 0, 255}));
  write_file(root + "/b/6_q75.jpg", encode_jpeg(test_image(480, 360, 3, 6), {.quality = 75}));
  for (int i = 0; i < 4; ++i)  // more crops of typical photographs
    write_file(root + "/b/7_extra" + std::to_string(i) + ".jpg",
               encode_jpeg(test_image(500 - 40 * i, 375 + 20 * i, 3, uint32_t(20 + i)), {.quality = 75 + 5 * i}));
  ds = std::make_shared<ImageFolder>(ImageFolder::scan(root));
  fs::create_directories(dir / "big/c");
  write_file(dir / "big/c/big.JPEG", encode_jpeg(test_image(2400, 1800, 3, 11), {.quality = 90}));
  big = std::make_shared<ImageFolder>(ImageFolder::scan(dir / "big"));
}

void DataParity::State::add_train(Filter f, const std::string& name) {
  auto pipe = std::make_shared<ImagenetTrain>(ImagenetTrainOptions{.filter = f});
  pipe->shortcuts.dct_scaling = false;  // PIL decodes at full size; partial decoding stays on
  const uint64_t seed = 17;
  Loader loader(ds, pipe, {.batch_size = 64, .workers = 2, .shuffle = false, .seed = seed});
  loader.set_epoch(3);
  const Batch b = *loader.next();
  for (int64_t i = 0; i < b.images.size(0); ++i) {
    const SampleDecoder source(ds->load(i), pipe->decode);
    SampleRng rng(seed, 3, uint64_t(i));  // replays the pipeline's draws: crop, then flip
    const Rect r = random_resized_crop_params(source.width(), source.height(), rng);
    const bool flip = rng.bernoulli(0.5);
    manifest << "rrc " << ds->describe(i) << " " << r.y << " " << r.x << " " << r.h << " " << r.w
             << " 224 " << name << " " << flip << " " << path_of("rrc_" + name, i) << "\n";
  }
  batches["rrc_" + name] = b;
}

void DataParity::State::add_test(Filter f, const std::string& name) {
  Loader loader(ds, std::make_shared<ImagenetTest>(ImagenetTestOptions{.filter = f}),
                {.batch_size = 64, .workers = 2, .shuffle = false});
  loader.set_epoch(0);
  batches["test_" + name] = *loader.next();
  for (int64_t i = 0; i < ds->size(); ++i)
    manifest << "test " << ds->describe(i) << " 256 224 " << name << " " << path_of("test_" + name, i) << "\n";
}

void DataParity::State::prepare() {
  make_images();
  for (int64_t i = 0; i < ds->size(); ++i) manifest << "decode " << ds->describe(i) << " " << path_of("dec", i) << "\n";
  const auto jpg = encode_jpeg(testing::test_image(40, 24, 3, 9), {.quality = 90});
  for (int o = 2; o <= 8; ++o) {
    write_file(path_of("exif", o, ".jpg"), testing::with_exif_orientation(jpg, o, o % 2 == 0));
    manifest << "exif " << path_of("exif", o, ".jpg") << " " << path_of("exif_out", o) << "\n";
  }
  add_train(Filter::kBilinear, "bilinear");
  add_train(Filter::kBicubic, "bicubic");
  add_test(Filter::kBilinear, "bilinear");
  add_test(Filter::kBicubic, "bicubic");
  Loader loader(big, std::make_shared<ImagenetTest>(), {.batch_size = 1, .workers = 1, .shuffle = false});
  loader.set_epoch(0);
  batches["big"] = *loader.next();
  manifest << "test " << big->describe(0) << " 256 224 bilinear " << path_of("big", 0) << "\n";
  manifest.close();
  std::string cmd = "/usr/bin/python3 ";
  cmd.append(NKD_SOURCE_DIR).append("/tests/data/pil_reference.py ").append(dir / "manifest");
  python_ok = std::system(cmd.c_str()) == 0;
}

TEST_F(DataParity, DecodeMatchesPil) {
  for (int64_t i = 0; i < s_->ds->size(); ++i) {
    const Decoded d = decode_sample(s_->ds->load(i));
    EXPECT_EQ(d.image.pixels, read_raw<uint8_t>(s_->path_of("dec", i))) << s_->ds->describe(i);
  }
  DecodeOptions on;
  on.exif_orientation = true;
  for (int o = 2; o <= 8; ++o) {
    const auto bytes = read_file(s_->path_of("exif", o, ".jpg"));
    const Decoded d = decode_image(bytes.data(), bytes.size(), on);
    EXPECT_EQ(d.image.pixels, read_raw<uint8_t>(s_->path_of("exif_out", o))) << "orientation " << o;
  }
}

TEST_F(DataParity, TrainPipelineMatchesTorchvision) {
  for (const std::string name : {"bilinear", "bicubic"}) {
    const Batch& b = s_->batches["rrc_" + name];
    for (int64_t i = 0; i < b.images.size(0); ++i)
      expect_close(b, i, s_->path_of("rrc_" + name, i), std::string(s_->ds->describe(i)).append(" ").append(name));
  }
}

TEST_F(DataParity, TestPipelineMatchesTorchvision) {
  for (const std::string name : {"bilinear", "bicubic"}) {
    const Batch& b = s_->batches["test_" + name];
    for (int64_t i = 0; i < b.images.size(0); ++i)
      expect_close(b, i, s_->path_of("test_" + name, i), std::string(s_->ds->describe(i)).append(" ").append(name));
  }
}

TEST_F(DataParity, DctScalingStaysCloseToAFullDecode) {
  const auto mine = to_vector<float>(s_->batches["big"].images);
  const auto theirs = read_raw<float>(s_->path_of("big", 0));
  ASSERT_EQ(mine.size(), theirs.size());
  double mean = 0, worst = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    const double d = std::fabs(mine[i] - theirs[i]) * 57.0;  // in uint8 levels (std ~57)
    mean += d;
    worst = std::max(worst, d);
  }
  mean /= double(mine.size());
  EXPECT_LT(mean, 1.0) << "mean difference in uint8 levels, 1/2 DCT scaling vs full decode";
  EXPECT_LT(worst, 12.0);
}

}  // namespace
}  // namespace nkd::data
