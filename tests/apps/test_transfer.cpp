// nkd_transfer exports the model weights of any checkpoint nkd reads (issue 14): a torchvision .pth,
// an mmcls .pth, a plain (CE) training checkpoint with its optimizer state, a distilled one; a
// malicious pickle is refused for its forbidden global (nothing executed), a truncated file is
// refused naming it; command-line usage errors exit 2.
#include <gtest/gtest.h>

#include <cstring>

#include "train/checkpoint.h"
#include "io/checkpoint.h"
#include "io/pth.h"
#include "nets/classifier.h"
#include "nets/torchvision_names.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

layers::NamedTensors resnet18_state(uint64_t seed) {
  return nets::build_net("resnet18", {.num_classes = 10, .in_channels = 3, .width = 0.125, .small_input = true}, seed)
      ->state_dict();
}

std::string transfer(const std::string& args, std::string* = nullptr) { return std::string(NKD_TRANSFER_BIN) + " " + args; }

// `file` holds exactly `expect` (names, order, values bit for bit).
void expect_tensors(const std::string& file, const layers::NamedTensors& expect) {
  const io::Checkpoint c = io::load_checkpoint(file);
  ASSERT_EQ(c.tensors.size(), expect.size()) << file;
  for (size_t i = 0; i < expect.size(); ++i) {
    ASSERT_EQ(c.tensors[i].first, expect[i].first);
    const Tensor a = c.tensors[i].second.contiguous(), b = expect[i].second.contiguous();
    ASSERT_EQ(a.shape(), b.shape()) << expect[i].first;
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * size_of(a.dtype())), 0) << expect[i].first;
  }
}

TEST(Transfer, TorchvisionPthToSafetensorsAndBack) {
  TempDir dir;
  const layers::NamedTensors state = resnet18_state(1);
  io::save_pth(dir / "tv.pth", nets::to_torchvision("resnet18", state));
  std::string out;
  // torchvision names do not say which net: --net is needed, and the error says so.
  EXPECT_EQ(run(transfer("--dis-path " + dir / "tv.pth --output-path " + dir / "x.safetensors", &out), &out), 1);
  EXPECT_NE(out.find("--net"), std::string::npos) << out;
  ASSERT_EQ(run(transfer("--net resnet18 --dis-path " + dir / "tv.pth --output-path " + dir / "m.safetensors", &out),
                &out), 0) << out;
  EXPECT_NE(out.find("(read pth, torchvision names; written safetensors, torchvision names)"), std::string::npos) << out;
  expect_tensors(dir / "m.safetensors", state);
  ASSERT_EQ(run(transfer("--net resnet18 --format torchvision --dis-path " + dir / "m.safetensors --output-path " +
                    dir / "tv2.pth", &out), &out), 0) << out;
  expect_tensors(dir / "tv2.pth", nets::to_torchvision("resnet18", state));
}

TEST(Transfer, MmclsPthKeepsTheModelDropsTheOptimizer) {
  TempDir dir;
  layers::NamedTensors state = resnet18_state(2), with_opt = state;
  with_opt.emplace_back("optimizer.momentum_buffer.0", state.front().second);
  io::PthWriteOptions o;
  o.mmcls_layout = true;
  io::save_pth(dir / "mm.pth", with_opt, o);
  std::string out;
  ASSERT_EQ(run(transfer("--dis-path " + dir / "mm.pth --output-path " + dir / "out.pth --format pth", &out), &out), 0)
      << out;
  EXPECT_NE(out.find("1 teacher/loss/optimizer tensors dropped"), std::string::npos) << out;
  expect_tensors(dir / "out.pth", state);
}

TEST(Transfer, PlainAndDistilledTrainingCheckpoints) {
  TempDir dir;
  const layers::NamedTensors student = resnet18_state(3), teacher = resnet18_state(4);
  CheckpointState plain;  // a CE / tf-NKD / teacher run: the classifier's names + optimizer state
  plain.model = student;
  plain.optimizer = {{"0.momentum_buffer", student.front().second}};
  plain.extra = {{"student_net", "resnet18"}, {"kind", "classifier"}, {"config", "x"}};
  save_checkpoint(dir / "plain.safetensors", plain);
  CheckpointState dis = plain;
  dis.model.clear();
  for (const auto& [k, v] : student) dis.model.emplace_back("student." + k, v);
  for (const auto& [k, v] : teacher) dis.model.emplace_back("teacher." + k, v);
  dis.extra["kind"] = "distiller";
  save_checkpoint(dir / "dis.safetensors", dis);
  std::string out;
  for (const std::string& in : {dir / "plain.safetensors", dir / "dis.safetensors"}) {
    ASSERT_EQ(run(transfer("--dis-path " + in + " --output-path " + dir / "s.safetensors", &out), &out), 0) << out;
    expect_tensors(dir / "s.safetensors", student);
    EXPECT_EQ(io::load_checkpoint(dir / "s.safetensors").metadata.at("kind"), "classifier");
    // The net comes from the checkpoint's student_net: a torchvision export needs no --net.
    ASSERT_EQ(run(transfer("--format torchvision --dis-path " + in + " --output-path " + dir / "tv.pth", &out), &out),
              0) << out;
    expect_tensors(dir / "tv.pth", nets::to_torchvision("resnet18", student));
  }
}

TEST(Transfer, MaliciousAndTruncatedFilesAreRefused) {
  TempDir dir;
  std::string out;
  // A torch.save zip whose pickle calls os.system: refused for the global, never executed.
  const std::string script = "import zipfile, struct, sys\n"
                             "cmd = b'touch " + dir / "PWNED" + "'\n"
                             "pk = b'\\x80\\x02cos\\nsystem\\nX' + struct.pack('<I', len(cmd)) + cmd + b'\\x85R.'\n"
                             "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z:\n"
                             "    z.writestr('archive/data.pkl', pk)\n"
                             "    z.writestr('archive/version', '3\\n')\n";
  testing::write_text(dir / "make.py", script);
  if (run("/usr/bin/python3 " + dir / "make.py " + dir / "evil.pth", &out) != 0) GTEST_SKIP() << "no python3: " << out;
  EXPECT_EQ(run(transfer("--dis-path " + dir / "evil.pth --output-path " + dir / "o.safetensors", &out), &out), 1);
  EXPECT_NE(out.find("forbidden global 'os.system'"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "PWNED"));
  EXPECT_FALSE(std::filesystem::exists(dir / "o.safetensors"));
  // Truncated safetensors and .pth: refused, the file named.
  io::save_safetensors(dir / "ok.safetensors", resnet18_state(5), {});
  io::save_pth(dir / "ok.pth", resnet18_state(5));
  for (const std::string name : {"ok.safetensors", "ok.pth"}) {
    const std::string bytes = testing::read_text(dir / name);
    testing::write_text(dir / ("cut_" + name), bytes.substr(0, bytes.size() / 2));
    EXPECT_EQ(run(transfer("--dis-path " + dir / ("cut_" + name) + " --output-path " + dir / "o.safetensors", &out),
                  &out), 1);
    EXPECT_NE(out.find("cut_" + name), std::string::npos) << out;
    EXPECT_EQ(out.find("terminate"), std::string::npos) << out;
  }
}

TEST(ExitCodes, UsageErrorsExit2RuntimeErrors1) {
  TempDir dir;
  std::string out;
  const std::string cfg = std::string(NKD_SOURCE_DIR) + "/tests/apps/imagenet_tiny.toml";
  EXPECT_EQ(run(transfer("--dis-path x", &out), &out), 2) << out;                                   // required
  EXPECT_EQ(run(transfer("--dis-path x --output-path y --format tflite", &out), &out), 2) << out;   // bad value
  EXPECT_EQ(run(std::string(NKD_EVAL_BIN), &out), 2) << out;
  EXPECT_EQ(run(std::string(NKD_EVAL_BIN) + " " + cfg + " x.safetensors --bogus", &out), 2) << out;
  EXPECT_EQ(run(std::string(NKD_EVAL_BIN) + " " + cfg + " x.safetensors --topk 0", &out), 2) << out;
  EXPECT_EQ(run(std::string(NKD_DISTILL_BIN) + " " + cfg + " --device gpu7 --work-dir " + dir / "w", &out), 2) << out;
  EXPECT_EQ(run(std::string(NKD_DISTILL_BIN) + " --help", &out), 0) << out;
  EXPECT_EQ(run(transfer("--dis-path " + dir / "missing.pth --output-path y", &out), &out), 1) << out;
}

}  // namespace
}  // namespace nkd::train
