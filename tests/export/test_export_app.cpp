// nkd_transfer --format onnx on the checkpoints nkd reads: a run's checkpoint (the net's width,
// small-input stem and test size come from the config it carries), a student-only one without a
// config (given on the command line), a torchvision .pth (--net); the class count always from the
// head. The exported numbers are checked against onnxruntime by export.onnx_parity.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/checkpoint.h"
#include "io/pth.h"
#include "nets/classifier.h"
#include "nets/torchvision_names.h"
#include "tests/apps/app_test_util.h"
#include "train/checkpoint.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

std::string transfer(const std::string& args) { return std::string(NKD_TRANSFER_BIN) + " --format onnx " + args; }

layers::NamedTensors small_resnet18(int64_t classes) {
  return nets::build_net("resnet18", {.num_classes = classes, .width = 0.125, .small_input = true}, 1)->state_dict();
}

TEST(TransferOnnx, RunCheckpointGivesTheNetOptionsThroughItsConfig) {
  TempDir dir;
  CheckpointState s;
  s.model = small_resnet18(10);
  s.extra = {{"student_net", "resnet18"},
             {"kind", "classifier"},
             {"config", testing::read_text(std::string(NKD_SOURCE_DIR) + "/tests/apps/imagenet_tiny.toml")}};
  save_checkpoint(dir / "run.safetensors", s);
  std::string out;
  ASSERT_EQ(run(transfer("--dis-path " + dir / "run.safetensors --output-path " + dir / "m.onnx"), &out), 0) << out;
  EXPECT_NE(out.find("resnet18, 10 classes, input [batch, 3, 32, 32]"), std::string::npos) << out;
  EXPECT_NE(out.find("(20 batch norms folded)"), std::string::npos) << out;
  EXPECT_GT(std::filesystem::file_size(dir / "m.onnx"), 100000u);
}

TEST(TransferOnnx, StudentOnlyCheckpointNeedsItsOptionsGiven) {
  TempDir dir;
  io::save_checkpoint(dir / "s.safetensors", small_resnet18(5), {.metadata = {{"student_net", "resnet18"}}});
  std::string out;
  // Built at width 1 the weights do not fit: refused, the options named, no file written.
  EXPECT_EQ(run(transfer("--dis-path " + dir / "s.safetensors --output-path " + dir / "m.onnx"), &out), 1) << out;
  EXPECT_NE(out.find("--width"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "m.onnx"));
  ASSERT_EQ(run(transfer("--dis-path " + dir / "s.safetensors --output-path " + dir / "m.onnx --width 0.125 "
                         "--small-input true --input-size 28"), &out), 0) << out;
  EXPECT_NE(out.find("resnet18, 5 classes, input [batch, 3, 28, 28]"), std::string::npos) << out;
}

TEST(TransferOnnx, TorchvisionPthWithNet) {
  TempDir dir;
  auto net = nets::build_net("mobilenet_v2", {.num_classes = 4, .in_channels = 1}, 2);
  io::save_pth(dir / "tv.pth", nets::to_torchvision("mobilenet_v2", net->state_dict()));
  std::string out;
  EXPECT_EQ(run(transfer("--dis-path " + dir / "tv.pth --output-path " + dir / "m.onnx"), &out), 1) << out;
  EXPECT_NE(out.find("--net"), std::string::npos) << out;  // torchvision names do not say which net
  ASSERT_EQ(run(transfer("--net mobilenet_v2 --input-size 32 --dis-path " + dir / "tv.pth --output-path " +
                         dir / "m.onnx"), &out), 0) << out;
  EXPECT_NE(out.find("mobilenet_v2, 4 classes, input [batch, 1, 32, 32]"), std::string::npos) << out;
  EXPECT_NE(out.find("torchvision names"), std::string::npos) << out;
}

}  // namespace
}  // namespace nkd::train
