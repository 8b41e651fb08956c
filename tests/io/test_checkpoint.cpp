// The load_checkpoint / save_checkpoint front: the format comes from the bytes (also under a
// misleading name), both formats give tensors + metadata, unknown and truncated files are refused
// with a message naming the file and the formats nkd reads, hostile bytes parse or throw.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>

#include "engine/factory.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "tests/io/io_test_util.h"

namespace nkd::io {
namespace {

using testing::expect_same;

namespace fs = std::filesystem;
using Meta = std::map<std::string, std::string>;

NamedTensors sample() {
  Generator g(9);
  return {{"conv.weight", randn({2, 3, 3, 3}, g)},
          {"fc.bias", randn({4}, g, {DType::F64})},
          {"bn.num_batches_tracked", from_vector<int64_t>({12345678901LL}, {})},
          {"mask", from_vector<uint8_t>({0, 255, 7}, {3})}};
}

const uint8_t* u8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

class CheckpointFront : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nkd_test_checkpoint_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  fs::path dir_;
};

TEST_F(CheckpointFront, DetectsEachFormatFromTheBytes) {
  const std::string st = serialize_safetensors(sample(), {{"epoch", "3"}});
  const std::string pth = serialize_pth(sample());
  EXPECT_EQ(detect_checkpoint_format(u8(st), st.size(), "m"), CheckpointFormat::kSafetensors);
  EXPECT_EQ(detect_checkpoint_format(u8(pth), pth.size(), "m"), CheckpointFormat::kPth);
  EXPECT_STREQ(format_name(CheckpointFormat::kSafetensors), "safetensors");
  EXPECT_STREQ(format_name(CheckpointFormat::kPth), "pth");
  // A pre-1.6 torch.save pickle is a .pth: its reader says how to convert it.
  EXPECT_NE(error_of([] { parse_checkpoint(u8("\x80\x02\x8a\x0alegacy"), 11, "old.pth"); })
                .find("legacy (pre-1.6) torch.save format"),
            std::string::npos);
}

TEST_F(CheckpointFront, MisleadingExtensionsDoNotMatter) {
  const NamedTensors t = sample();
  const Meta meta = {{"epoch", "3"}, {"config", "[model]\nnet = \"resnet18\"\n"}};
  const std::string st = file("really_safetensors.pth", serialize_safetensors(t, meta));
  PthWriteOptions mmcls;
  mmcls.mmcls_layout = true;
  mmcls.meta = {{"epoch", "7"}};
  const std::string pth = file("really_pth.safetensors", serialize_pth(t, mmcls));
  const std::string bin = file("no_extension", serialize_pth(t));
  const Checkpoint a = load_checkpoint(st), b = load_checkpoint(pth), c = load_checkpoint(bin);
  EXPECT_EQ(a.format, CheckpointFormat::kSafetensors);
  EXPECT_EQ(b.format, CheckpointFormat::kPth);
  EXPECT_EQ(c.format, CheckpointFormat::kPth);
  expect_same(a.tensors, t);
  expect_same(b.tensors, t);
  expect_same(c.tensors, t);
  EXPECT_EQ(a.metadata, meta);  // nkd's CRC key checked and removed
  EXPECT_EQ(b.metadata, (Meta{{"epoch", "7"}}));
  EXPECT_TRUE(c.metadata.empty());
}

TEST_F(CheckpointFront, SaveCheckpointWritesEitherFormat) {
  const NamedTensors t = sample();
  CheckpointWriteOptions st;
  st.metadata = {{"kind", "classifier"}};
  save_checkpoint((dir_ / "a.ckpt").string(), t, st);
  CheckpointWriteOptions pth;
  pth.format = CheckpointFormat::kPth;
  pth.pth.mmcls_layout = true;
  pth.metadata = {{"kind", "classifier"}, {"epoch", "2"}};
  save_checkpoint((dir_ / "b.ckpt").string(), t, pth);
  EXPECT_FALSE(fs::exists(dir_ / "b.ckpt.tmp"));
  const Checkpoint a = load_checkpoint((dir_ / "a.ckpt").string());
  const Checkpoint b = load_checkpoint((dir_ / "b.ckpt").string());
  EXPECT_EQ(a.format, CheckpointFormat::kSafetensors);
  EXPECT_EQ(b.format, CheckpointFormat::kPth);
  expect_same(a.tensors, t);
  expect_same(b.tensors, t);
  EXPECT_EQ(a.metadata, st.metadata);
  EXPECT_EQ(b.metadata, pth.metadata);
  // Without mmcls' 'meta' dict a .pth cannot hold metadata: refused, not dropped.
  pth.pth.mmcls_layout = false;
  EXPECT_NE(error_of([&] { save_checkpoint((dir_ / "c.pth").string(), t, pth); }).find("no place for metadata"),
            std::string::npos);
  // Without metadata the .pth bytes are what save_pth writes.
  pth.metadata.clear();
  save_checkpoint((dir_ / "c.pth").string(), t, pth);
  std::ifstream in(dir_ / "c.pth", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), serialize_pth(t));
}

TEST_F(CheckpointFront, UnknownAndTruncatedFilesAreRefusedByName) {
  const std::string formats = "is neither a safetensors file (an 8-byte little-endian header length, then '{') "
                              "nor a PyTorch .pth/.pt file";
  for (const std::string& bytes : {std::string(), std::string("<html>not a checkpoint</html>"),
                                   std::string("\x10\x00\x00\x00", 4)}) {
    const std::string path = file("odd.pth", bytes);
    const std::string e = error_of([&] { load_checkpoint(path); });
    EXPECT_NE(e.find("checkpoint " + path + " ("), std::string::npos) << e;
    EXPECT_NE(e.find(formats), std::string::npos) << e;
  }
  EXPECT_NE(error_of([&] { load_checkpoint(file("e", "")); }).find("(an empty file)"), std::string::npos);
  EXPECT_NE(error_of([&] { load_checkpoint(file("h", "<html>")); }).find("6 bytes, starting 3c 68 74 6d 6c 3e"),
            std::string::npos);
  // Truncated files of either format reach their reader, which names the problem.
  const std::string st = serialize_safetensors(sample()), pth = serialize_pth(sample());
  const std::string a = file("cut.safetensors", st.substr(0, st.size() / 2));
  const std::string b = file("cut.pth", pth.substr(0, pth.size() / 2));
  EXPECT_NE(error_of([&] { load_checkpoint(a); }).find("safetensors " + a + ": header length"), std::string::npos);
  EXPECT_NE(error_of([&] { load_checkpoint(b); }).find("zip " + b + ": no end of central directory"),
            std::string::npos);
  // A damaged nkd safetensors file is still caught by its checksum.
  std::string damaged = st;
  damaged.back() ^= 0x04;
  const std::string d = file("damaged.pth", damaged);
  EXPECT_NE(error_of([&] { load_checkpoint(d); }).find("does not match its checksum"), std::string::npos);
  const std::string missing = (dir_ / "missing.safetensors").string();
  EXPECT_NE(error_of([&] { load_checkpoint(missing); }).find("checkpoint: cannot open " + missing),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_checkpoint(dir_.string()); }).find("is not a regular file"), std::string::npos);
}

TEST_F(CheckpointFront, RandomMutationsParseOrThrow) {
  // Mutations of both formats through the front, including its detection bytes: each must parse
  // or throw nkd::Error (ASan/UBSan builds check for out-of-bounds reads).
  const std::string files[] = {serialize_safetensors(sample(), {{"m", "v"}}), serialize_pth(sample())};
  Generator gen(321);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string f = files[iter % 2];
    const std::vector<double> r = to_vector<double>(uniform({4}, 0, 1, gen, {DType::F64}));
    const size_t pos = static_cast<size_t>(r[1] * (r[0] < 0.5 ? 12 : f.size()));
    if (r[0] < 0.75) f[pos] = static_cast<char>(r[2] * 256);
    else f.resize(pos);
    try {
      parse_checkpoint(u8(f), f.size(), "fuzz");
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 500);
  std::cout << "[ fuzz     ] 2000 mutated files through the front: " << parsed << " parsed, " << rejected
            << " rejected\n";
}

}  // namespace
}  // namespace nkd::io
