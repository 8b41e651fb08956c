// --device on a machine without a usable GPU (label cpu): nkd_distill and nkd_eval stop at once with
// one clear line naming the flag and the reason, before any data is read. NKD_FORCE_CPU=1 hides a
// GPU, so the test means the same on a GPU machine.
#include <gtest/gtest.h>

#include "train/cli.h"
#include "engine/check.h"
#include "engine/cuda/device.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::TempDir;

std::string config_text(const std::string& data_root) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + data_root + "\"\nbatch_size = 32\n"
         "[data.train]\ntype = \"pad_crop_flip\"\npad = 2\n[data.val]\ntype = \"center\"\n"
         "[optimizer]\nlr = 0.05\n[lr]\npolicy = \"cosine\"\nby_epoch = false\n[runner]\nepochs = 1\n";
}

TEST(DeviceFlag, CudaWithoutAGpuFailsBeforeReadingData) {
  TempDir dir;
  testing::write_text(dir / "cfg.toml", config_text(dir / "no_such_data"));  // the data would fail too
  for (const char* device : {"cuda", "cuda:0", "cuda:1"}) {
    std::string out;
    const std::string cmd = std::string("NKD_FORCE_CPU=1 ") + NKD_DISTILL_BIN + " " + dir / "cfg.toml" +
                            " --work-dir " + dir / "w" + " --device " + device;
    EXPECT_EQ(testing::run(cmd, &out), 1) << out;
    EXPECT_NE(out.find(std::string("nkd_distill: error: --device ") + device + ": "), std::string::npos) << out;
    const bool reason =
        out.find("NKD_FORCE_CPU") != std::string::npos || out.find("built without CUDA") != std::string::npos;
    EXPECT_TRUE(reason) << out;
    EXPECT_EQ(out.find("no_such_data"), std::string::npos) << out;   // no data was touched
  }
  std::string out;
  EXPECT_EQ(testing::run(std::string("NKD_FORCE_CPU=1 ") + NKD_EVAL_BIN + " " + dir / "cfg.toml " + dir /
                             "x.safetensors --device cuda", &out), 1) << out;
  EXPECT_NE(out.find("nkd_eval: error: --device cuda: "), std::string::npos) << out;
}

TEST(DeviceFlag, ParseDeviceFlagChecksTheSpelling) {
  EXPECT_EQ(parse_device_flag("cpu").kind, DeviceFlag::Kind::kCpu);
  EXPECT_EQ(parse_device_flag("auto").kind, DeviceFlag::Kind::kAuto);
  EXPECT_EQ(parse_device_flag("cuda").kind, DeviceFlag::Kind::kCuda);
  EXPECT_EQ(parse_device_flag("cuda").index, -1);
  EXPECT_EQ(parse_device_flag("cuda:3").kind, DeviceFlag::Kind::kCuda);
  EXPECT_EQ(parse_device_flag("cuda:3").index, 3);  // the spelling only: no GPU needed
  for (const char* bad : {"gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda:1234", "cuda0", ""})
    EXPECT_THROW(parse_device_flag(bad), Error) << bad;
}

TEST(DeviceFlag, ParseDevice) {
  EXPECT_EQ(parse_device("cpu"), kCPU);
  EXPECT_THROW(parse_device("gpu"), Error);
  EXPECT_THROW(parse_device("cuda:x"), Error);
  EXPECT_THROW(parse_device("cuda:"), Error);
  if (!cuda::is_available()) {
    EXPECT_EQ(parse_device("auto"), kCPU);
    EXPECT_THROW(parse_device("cuda"), Error);
  }
}

}  // namespace
}  // namespace nkd::train
