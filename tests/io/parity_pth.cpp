// .pth parity with PyTorch 1.13 (label parity; skipped without torch): files torch.save writes
// load bit for bit (dtypes, transposed views, storage offsets, shared storages, half), also through
// the load_checkpoint front under any name; files nkd writes load in torch.load(weights_only=True)
// bit for bit, with their mmcls 'meta' entries; and a torchvision resnet18 .pth gives PyTorch's
// logits (F64 reference) within 1e-4 relative after the torchvision name map.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/factory.h"
#include "io/checkpoint.h"
#include "io/pth.h"
#include "nets/classifier.h"
#include "nets/torchvision_names.h"
#include "tests/parity/torch_available.h"

namespace nkd::io {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.numel() * size_of(c.dtype()));
}

class PthParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::torch_available()) GTEST_SKIP() << testing::kPython << " cannot import torch; skipping";
    dir_ = fs::temp_directory_path() / ("nkd_pth_parity_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  int python(const std::string& args) {
    std::string cmd = testing::kPython;
    cmd += " " NKD_PTH_SCRIPT " ";
    cmd += args;
    return std::system(cmd.c_str());
  }
  fs::path dir_;
};

TEST_F(PthParity, ReadsWhatTorchWritesBitForBit) {
  ASSERT_EQ(python("write " + dir_.string()), 0);
  const PthCheckpoint ck = load_pth((dir_ / "torch.pth").string());
  ASSERT_EQ(ck.tensors.size(), 9u);
  for (const auto& [name, t] : ck.tensors) EXPECT_EQ(bytes_of(t), read_bytes(dir_ / (name + ".bin"))) << name;
  EXPECT_EQ(ck.tensors[4].second.shape(), (Shape{4, 3}));
}

// The front tells a torch.save file by its bytes: as .pth, under a safetensors name, with no
// extension; the tensors are the ones load_pth reads, bit for bit.
TEST_F(PthParity, LoadCheckpointReadsWhatTorchWrites) {
  ASSERT_EQ(python("write " + dir_.string()), 0);
  fs::copy_file(dir_ / "torch.pth", dir_ / "torch.safetensors");
  fs::copy_file(dir_ / "torch.pth", dir_ / "torch");
  for (const char* name : {"torch.pth", "torch.safetensors", "torch"}) {
    const Checkpoint ck = load_checkpoint((dir_ / name).string());
    EXPECT_EQ(ck.format, CheckpointFormat::kPth) << name;
    ASSERT_EQ(ck.tensors.size(), 9u) << name;
    for (const auto& [key, t] : ck.tensors)
      EXPECT_EQ(bytes_of(t), read_bytes(dir_ / (key + ".bin"))) << name << " " << key;
  }
}

TEST_F(PthParity, TorchReadsTheMetaNkdWrites) {
  Generator g(12);
  CheckpointWriteOptions opt;
  opt.format = CheckpointFormat::kPth;
  opt.pth.mmcls_layout = true;
  opt.metadata = {{"epoch", "3"}, {"kind", "classifier"}};
  const std::string path = (dir_ / "meta.pth").string();
  save_checkpoint(path, {{"w", randn({2, 2}, g)}}, opt);
  std::string cmd = testing::kPython;
  cmd += " " NKD_PTH_SCRIPT " meta " + path + " epoch=3 kind=classifier";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST_F(PthParity, TorchReadsWhatNkdWritesWithWeightsOnly) {
  Generator g(11);
  const NamedTensors sd = {{"f32", randn({2, 3}, g)},
                           {"f64", randn({4}, g, {DType::F64})},
                           {"i64", from_vector<int64_t>({1, -5, 1LL << 40}, {3})},
                           {"i32", from_vector<int32_t>({-1, 2}, {2})},
                           {"u8", from_vector<uint8_t>({0, 7, 255}, {3})},
                           {"transposed", randn({3, 4}, g).transpose(0, 1)},
                           {"scalar", from_vector<int64_t>({9}, {})}};
  for (const auto& [name, t] : sd) {
    std::ofstream(dir_ / (name + ".bin"), std::ios::binary) << bytes_of(t);
  }
  for (bool mmcls : {false, true}) {
    PthWriteOptions opt;
    opt.mmcls_layout = mmcls;
    const std::string path = (dir_ / "nkd.pth").string();
    save_pth(path, sd, opt);
    EXPECT_EQ(python("check " + dir_.string() + " " + path), 0) << "mmcls layout " << mmcls;
  }
}

TEST_F(PthParity, TorchvisionResnet18LogitsMatch) {
  ASSERT_EQ(python("resnet " + dir_.string()), 0);
  const PthCheckpoint ck = load_pth((dir_ / "r18.pth").string());
  auto net = nets::build_net("resnet18", nets::NetOptions{});
  net->load_state_dict(nets::from_torchvision("resnet18", ck.tensors), true);
  net->eval();
  const std::string xb = read_bytes(dir_ / "x.bin"), yb = read_bytes(dir_ / "logits.bin");
  std::vector<float> x(xb.size() / 4);
  std::memcpy(x.data(), xb.data(), xb.size());
  std::vector<double> want(yb.size() / 8);
  std::memcpy(want.data(), yb.data(), yb.size());
  const std::vector<float> got = to_vector<float>(net->forward(from_vector<float>(x, {2, 3, 64, 64})));
  ASSERT_EQ(got.size(), want.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  EXPECT_LT(diff / scale, 1e-4) << "max |diff| " << diff << ", max |logit| " << scale;
}

}  // namespace
}  // namespace nkd::io
