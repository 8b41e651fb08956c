// --precision through the binaries: nkd_distill trains NKD with a teacher under bf16 autocast and
// writes F32 checkpoints that every precision reads (resumed in fp32, evaluated by nkd_eval in bf16
// and fp32); an unknown precision is a usage error.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::TempDir;

std::string config_text(const std::string& data_root) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + data_root + "\"\nbatch_size = 16\n"
         "workers = 1\n[data.train]\ntype = \"pad_crop_flip\"\npad = 2\n[data.val]\ntype = \"center\"\n"
         "[optimizer]\nlr = 0.05\n[lr]\npolicy = \"constant\"\n[runner]\nlog_interval = 1\nepochs = 1\n";
}

// The safetensors header (JSON after the 8-byte length): the stored dtypes.
std::string header_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string h(n, '\0');
  in.read(h.data(), static_cast<std::streamsize>(n));
  return h;
}

TEST(Precision, Bf16RunWritesF32CheckpointsEveryPrecisionReads) {
  testing::quiet_openmp();
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 64, 32);
  testing::write_text(dir / "plain.toml", config_text(dir / "data"));
  const std::string distill = std::string(NKD_DISTILL_BIN) + " --device cpu ";
  std::string out;
  ASSERT_EQ(testing::run(distill + dir / "plain.toml --no-validate --work-dir " + dir / "t", &out), 0) << out;
  testing::write_text(dir / "nkd.toml", config_text(dir / "data") +
                                           "[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\nwidth = 0.125\n"
                                           "checkpoint = \"" + dir / "t/epoch_1.safetensors" + "\"\n"
                                           "[distill.nkd]\ntemperature = 1.0\ngamma = 1.5\n");
  ASSERT_EQ(testing::run(distill + dir / "nkd.toml --precision bf16 --work-dir " + dir / "b --stop-after-iters 2", &out), 0)
      << out;
  EXPECT_NE(out.find("loss_nkd"), std::string::npos) << out;
  EXPECT_EQ(out.find("nan"), std::string::npos) << out;
  // The student's 20 convolutions and its linear layer (weight and bias) under autocast, once each;
  // the teacher's under no-grad, once each.
  EXPECT_NE(out.find("bf16 autocast: 44 BF16 weight copies per step"), std::string::npos) << out;
  const std::string h = header_of(dir / "b/iter_2.safetensors");
  EXPECT_NE(h.find("\"F32\""), std::string::npos) << h.substr(0, 300);
  EXPECT_EQ(h.find("BF16"), std::string::npos) << "a bf16 run saved 16-bit tensors";
  // The bf16 checkpoint resumes in fp32 (and the config's runner.precision takes --precision).
  ASSERT_EQ(testing::run(distill + dir / "nkd.toml --precision fp32 --work-dir " + dir / "b --resume", &out), 0) << out;
  EXPECT_NE(out.find("resumed from"), std::string::npos) << out;
  const std::string eval = std::string(NKD_EVAL_BIN) + " " + dir / "nkd.toml " + dir / "b/epoch_1.safetensors --device cpu";
  for (const char* p : {"bf16", "fp32"}) {
    ASSERT_EQ(testing::run(eval + " --precision " + p, &out), 0) << p << ": " << out;
    EXPECT_NE(out.find("top-1"), std::string::npos) << p << ": " << out;
  }
  EXPECT_EQ(testing::run(eval + " --precision fp16", &out), 2) << out;
  EXPECT_EQ(testing::run(distill + dir / "nkd.toml --precision half --work-dir " + dir / "x", &out), 2) << out;
}

}  // namespace
}  // namespace nkd::train
