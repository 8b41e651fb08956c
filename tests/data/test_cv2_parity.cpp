// Parity with OpenCV (label `parity`, python3-opencv through /usr/bin/python3): resize_cv2_linear
// against cv2.resize(INTER_LINEAR) on random uint8 images (up- and downscaling, odd sizes, 1 and 3
// channels, 1-pixel edges), and the cv2-backend pipelines (decode with EXIF orientation and
// OpenCV's CMYK conversion, integer
// crop, resize, flip; short-side resize + centre crop) through the Loader against mmcls's steps
// done with cv2 (tests/data/cv2_reference.py). Everything is compared bit for bit.
// Skipped with a message when /usr/bin/python3 cannot import cv2.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "data/encode.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/sample_decoder.h"
#include "engine/factory.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

bool cv2_available() { return std::system("/usr/bin/python3 -c 'import cv2' > /dev/null 2>&1") == 0; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct ResizeCase {
  int w, h, c, dw, dh;
  std::string raw, ref;
  std::vector<uint8_t> mine;
};

class Cv2Parity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!cv2_available()) return;
    s_ = new State;
    s_->prepare();
  }
  static void TearDownTestSuite() {
    delete s_;
    s_ = nullptr;
  }
  void SetUp() override {
    if (s_ == nullptr) GTEST_SKIP() << "/usr/bin/python3 cannot import cv2 (Debian: python3-opencv)";
    ASSERT_TRUE(s_->python_ok) << "cv2_reference.py failed";
  }

  struct State {
    testing::TempDir dir;
    std::ofstream manifest{dir / "manifest"};
    std::vector<ResizeCase> resizes;
    std::shared_ptr<ImageFolder> ds;
    Batch train, test;
    bool python_ok = false;

    std::string path(const std::string& stem, size_t i) const { return dir / (stem + std::to_string(i)); }
    void add_resizes();
    void add_pipelines();
    void prepare() {
      add_resizes();
      add_pipelines();
      manifest.close();
      std::string cmd = "/usr/bin/python3 ";
      cmd.append(NKD_SOURCE_DIR).append("/tests/data/cv2_reference.py ").append(dir / "manifest");
      python_ok = std::system(cmd.c_str()) == 0;
    }
  };
  static State* s_;
};
Cv2Parity::State* Cv2Parity::s_ = nullptr;

void Cv2Parity::State::add_resizes() {
  std::vector<std::array<int, 5>> sizes = {
      {500, 375, 3, 224, 224}, {375, 500, 3, 224, 224}, {224, 224, 3, 256, 256}, {37, 29, 3, 224, 224},
      {301, 201, 3, 97, 133},  {17, 13, 1, 5, 7},       {1, 1, 3, 7, 5},         {1, 9, 1, 4, 17},
      {9, 1, 3, 17, 3},        {448, 448, 3, 224, 224}, {333, 250, 3, 333, 250}, {333, 250, 3, 341, 256},
      {7, 7, 3, 1, 1},         {1000, 3, 1, 3, 2}};
  std::mt19937 gen(2024);
  std::uniform_int_distribution<int> side(1, 400);
  for (int i = 0; i < 60; ++i) sizes.push_back({side(gen), side(gen), i % 3 == 0 ? 1 : 3, side(gen), side(gen)});
  for (const auto& [w, h, c, dw, dh] : sizes) {
    ResizeCase rc{w, h, c, dw, dh, path("raw", resizes.size()), path("ref", resizes.size()), {}};
    Image im(w, h, c);
    for (uint8_t& v : im.pixels) v = uint8_t(gen() >> 24);  // noise: every rounding case shows
    write_file(rc.raw, im.pixels);
    rc.mine.resize(size_t(dw) * dh * c);
    resize_cv2_linear(view_of(im), dw, dh, {0, 0, dw, dh}, rc.mine.data());
    manifest << "resize " << rc.raw << " " << w << " " << h << " " << c << " " << dw << " " << dh << " " << rc.ref
             << "\n";
    resizes.push_back(std::move(rc));
  }
}

void Cv2Parity::State::add_pipelines() {
  namespace fs = std::filesystem;
  using testing::test_image;
  const std::string root = dir / "train";
  fs::create_directories(root + "/a");
  write_file(root + "/a/0_base.JPEG", encode_jpeg(test_image(500, 375, 3, 1), {.quality = 90}));
  write_file(root + "/a/1_prog.JPEG", encode_jpeg(test_image(375, 500, 3, 2), {.quality = 80, .progressive = true}));
  write_file(root + "/a/2_gray.JPEG", encode_jpeg(test_image(333, 250, 1, 3), {.quality = 85}));
  write_file(root + "/a/3_q75.jpg", encode_jpeg(test_image(480, 360, 3, 6), {.quality = 75}));
  write_file(root + "/a/4_444.jpg", encode_jpeg(test_image(257, 263, 3, 7), {.quality = 95, .subsample = false}));
  write_file(root + "/a/5_rgb.png", testing::encode_png(test_image(300, 200, 3, 5)));
  write_file(root + "/a/5_cmyk.jpg", encode_jpeg(test_image(300, 256, 4, 4), {.quality = 95}));
  const auto odd = encode_jpeg(test_image(301, 203, 3, 8), {.quality = 90});
  for (int o = 1; o <= 8; ++o)  // every EXIF orientation, odd sizes
    write_file(root + "/a/6_exif" + std::to_string(o) + ".jpg", testing::with_exif_orientation(odd, o, o % 2 == 0));
  ds = std::make_shared<ImageFolder>(ImageFolder::scan(root));

  const uint64_t seed = 23;
  auto train_pipe = std::make_shared<ImagenetTrain>(ImagenetTrainOptions{.backend = ResizeBackend::kCv2});
  Loader tl(ds, train_pipe,
            {.batch_size = 64, .workers = 2, .shuffle = false, .seed = seed, .layout = Layout::kNHWCUint8});
  tl.set_epoch(2);
  train = *tl.next();
  auto test_pipe = std::make_shared<ImagenetTest>(ImagenetTestOptions{.backend = ResizeBackend::kCv2});
  Loader vl(ds, test_pipe, {.batch_size = 64, .workers = 2, .shuffle = false, .layout = Layout::kNHWCUint8});
  vl.set_epoch(0);
  test = *vl.next();
  for (int64_t i = 0; i < ds->size(); ++i) {
    const SampleDecoder source(ds->load(i), train_pipe->decode);
    SampleRng rng(seed, 2, uint64_t(i));  // replays the pipeline's draws: crop, then flip
    const Rect r = random_resized_crop_params(source.width(), source.height(), rng);
    const bool flip = rng.bernoulli(0.5);
    manifest << "decode " << ds->describe(i) << " " << path("dec", size_t(i)) << "\n";
    manifest << "rrc " << ds->describe(i) << " " << r.x << " " << r.y << " " << r.w << " " << r.h << " 224 " << flip
             << " " << path("rrc", size_t(i)) << "\n";
    manifest << "test " << ds->describe(i) << " 256 224 " << path("test", size_t(i)) << "\n";
  }
}

TEST_F(Cv2Parity, ResizeIsBitExact) {
  int worst = 0, cases_off = 0;
  for (const ResizeCase& rc : s_->resizes) {
    const auto ref = read_bytes(rc.ref);
    ASSERT_EQ(ref.size(), rc.mine.size()) << rc.w << "x" << rc.h << " -> " << rc.dw << "x" << rc.dh;
    int m = 0;
    for (size_t i = 0; i < ref.size(); ++i) m = std::max(m, std::abs(int(ref[i]) - int(rc.mine[i])));
    worst = std::max(worst, m);
    cases_off += m > 0;
    EXPECT_EQ(m, 0) << rc.w << "x" << rc.h << "x" << rc.c << " -> " << rc.dw << "x" << rc.dh << ": max abs diff " << m;
  }
  std::printf("cv2.resize INTER_LINEAR parity: %zu cases, %d differ, max abs diff %d\n", s_->resizes.size(),
              cases_off, worst);
}

TEST_F(Cv2Parity, DecodeMatchesImdecode) {
  DecodeOptions cv2_like;
  cv2_like.exif_orientation = true;
  cv2_like.cmyk = CmykToRgb::kOpenCv;
  for (int64_t i = 0; i < s_->ds->size(); ++i) {
    const Decoded d = decode_sample(s_->ds->load(i), cv2_like);
    Image rgb = d.image;
    convert_channels(rgb, 3);
    EXPECT_EQ(rgb.pixels, read_bytes(s_->path("dec", size_t(i)))) << s_->ds->describe(i);
  }
}

TEST_F(Cv2Parity, PipelinesMatchMmclsCv2Steps) {
  for (const auto& [name, batch] : {std::pair{"rrc", &s_->train}, std::pair{"test", &s_->test}}) {
    const auto mine = to_vector<uint8_t>(batch->images);
    const size_t per = 224 * 224 * 3;
    ASSERT_EQ(mine.size(), per * size_t(s_->ds->size()));
    for (int64_t i = 0; i < s_->ds->size(); ++i) {
      const auto ref = read_bytes(s_->path(name, size_t(i)));
      ASSERT_EQ(ref.size(), per) << name << " " << s_->ds->describe(i);
      int m = 0;
      for (size_t k = 0; k < per; ++k) m = std::max(m, std::abs(int(ref[k]) - int(mine[size_t(i) * per + k])));
      EXPECT_EQ(m, 0) << name << " " << s_->ds->describe(i) << ": max abs diff " << m;
    }
  }
}

}  // namespace
}  // namespace nkd::data
