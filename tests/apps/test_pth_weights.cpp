// PyTorch checkpoints through the apps: a teacher given as a torchvision-named .pth trains an NKD
// student; nkd_transfer --format pth writes an mmcls checkpoint whose nkd_eval top-1 equals the
// safetensors one; nkd_transfer reads a .pth distillation checkpoint, and every app tells the
// formats apart by their bytes, not the name; load_weights' layout detection and errors. The parity
// test (label parity) checks that torchvision's resnet18 accepts the transferred .pth and that
// nkd_transfer reads a distillation .pth torch.save wrote (skipped without torchvision).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "train/weights.h"
#include "engine/check.h"
#include "io/checkpoint.h"
#include "io/pth.h"
#include "io/safetensors.h"
#include "nets/classifier.h"
#include "nets/torchvision_names.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

const nets::NetOptions kTiny = {.num_classes = 10, .in_channels = 1, .width = 0.125, .small_input = true};

std::string config_text(const std::string& data_root) {
  std::string s = "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\n";
  s += "small_input = true\nwidth = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"";
  s += data_root;
  s += "\"\nbatch_size = 32\nworkers = 2\n[data.train]\ntype = \"pad_crop_flip\"\npad = 2\n[data.val]\n";
  s += "type = \"center\"\n[optimizer]\nlr = 0.05\nweight_decay = 5e-4\n[lr]\npolicy = \"cosine\"\n";
  s += "by_epoch = false\n[runner]\nlog_interval = 1\nepochs = 1\n";
  return s;
}

std::string accuracy_line(const std::string& out) {
  const size_t at = out.find("accuracy_top-1 ");
  if (at == std::string::npos) return "";
  return out.substr(at, out.find(' ', at + 15) - at);
}

TEST(PthWeights, TorchvisionTeacherTransferPthAndEval) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 64, 32);
  // The teacher: an nkd resnet18 renamed to torchvision names, as a plain torch.save state dict.
  auto teacher = nets::build_net("resnet18", kTiny, 11);
  const layers::NamedTensors tv = nets::to_torchvision("resnet18", teacher->state_dict());
  ASSERT_TRUE(std::any_of(tv.begin(), tv.end(), [](const auto& e) { return e.first == "fc.weight"; }));
  io::save_pth(dir / "teacher_tv.pth", tv);

  std::string cfg = config_text(dir / "data");
  cfg += "[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\nwidth = 0.125\ncheckpoint = \"";
  cfg += dir / "teacher_tv.pth";
  cfg += "\"\n[distill.nkd]\ntemperature = 1.0\ngamma = 1.5\n";
  testing::write_text(dir / "nkd.toml", cfg);
  std::string out;
  const std::string distill = std::string(NKD_DISTILL_BIN) + " --device cpu ";
  ASSERT_EQ(run(distill + dir / "nkd.toml --work-dir " + dir / "s", &out), 0) << out;
  std::string teacher_line = "teacher: loaded ";
  teacher_line += dir / "teacher_tv.pth";
  teacher_line += " (pth, torchvision names)";
  EXPECT_NE(out.find(teacher_line), std::string::npos) << out;
  EXPECT_NE(out.find(" 0 missing, 0 unexpected, 0 mismatched"), std::string::npos) << out;
  EXPECT_NE(out.find("loss_nkd"), std::string::npos) << out;
  const double top1 = nlohmann::json::parse(testing::read_text(dir / "s/result.json"))["top1"].get<double>();

  const std::string transfer = std::string(NKD_TRANSFER_BIN) + " --dis-path " + dir / "s/latest.safetensors";
  ASSERT_EQ(run(transfer + " --output-path " + dir / "student.safetensors", &out), 0) << out;
  ASSERT_EQ(run(transfer + " --format pth --output-path " + dir / "student.pth", &out), 0) << out;
  const io::PthCheckpoint pth = io::load_pth(dir / "student.pth");
  const io::Safetensors st = io::load_safetensors(dir / "student.safetensors");
  ASSERT_EQ(pth.tensors.size(), st.tensors.size());
  for (size_t i = 0; i < pth.tensors.size(); ++i) {
    EXPECT_EQ(pth.tensors[i].first, st.tensors[i].first);
    EXPECT_EQ(pth.tensors[i].second.shape(), st.tensors[i].second.shape()) << pth.tensors[i].first;
  }

  const std::string eval = std::string(NKD_EVAL_BIN) + " " + dir / "nkd.toml ";
  std::string expect_line;
  {
    char buf[64];
    std::snprintf(buf, sizeof buf, "accuracy_top-1 %.2f", top1);
    expect_line = buf;
  }
  for (const std::string& ckpt : {dir / "student.safetensors", dir / "student.pth"}) {
    ASSERT_EQ(run(eval + ckpt + " --device cpu", &out), 0) << out;
    EXPECT_EQ(accuracy_line(out), expect_line) << ckpt << ": " << out;
  }
  EXPECT_NE(out.find("(pth, mmcls names)"), std::string::npos) << out;
  // The torchvision-named teacher evaluates too (strict: every name maps).
  ASSERT_EQ(run(eval + dir / "teacher_tv.pth --device cpu", &out), 0) << out;
  EXPECT_NE(out.find("(pth, torchvision names)"), std::string::npos) << out;
}

// A distillation checkpoint as a torch.save .pth (mmcls layout, 'meta' values, the archive named
// after the file as torch.save does) goes through nkd_transfer like a safetensors one, and so does a
// safetensors file named .pth; a plain torchvision .pth is read and, without --net, refused for
// the net it does not name.
TEST(PthWeights, TransferReadsPthInput) {
  TempDir dir;
  auto student = nets::build_net("resnet18", kTiny, 21);
  auto teacher = nets::build_net("resnet18", kTiny, 22);
  layers::NamedTensors dis;
  for (const auto& [k, v] : student->state_dict()) dis.emplace_back("student." + k, v);
  for (const auto& [k, v] : teacher->state_dict()) dis.emplace_back("teacher." + k, v);
  io::PthWriteOptions torch_like;
  torch_like.mmcls_layout = true;
  torch_like.archive = "dis";
  torch_like.meta = {{"epoch", "3"}};
  io::save_pth(dir / "dis.pth", dis, torch_like);
  io::save_safetensors(dir / "dis_safetensors.pth", dis, {{"epoch", "3"}});
  const size_t n = student->state_dict().size();
  std::string out;
  for (const std::string input : {"dis.pth", "dis_safetensors.pth"}) {
    const std::string cmd = std::string(NKD_TRANSFER_BIN) + " --dis-path " + dir / input + " --output-path " +
                            dir / "student.safetensors";
    ASSERT_EQ(run(cmd, &out), 0) << out;
    EXPECT_NE(out.find(std::to_string(n) + " student tensors kept, " + std::to_string(n) + " teacher"),
              std::string::npos) << out;
    const io::Checkpoint got = io::load_checkpoint(dir / "student.safetensors");
    EXPECT_EQ(got.format, io::CheckpointFormat::kSafetensors);
    EXPECT_EQ(got.metadata.at("epoch"), "3") << input;
    EXPECT_EQ(got.metadata.at("transferred_from"), dir / input);
    const layers::NamedTensors want = student->state_dict();
    ASSERT_EQ(got.tensors.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const Tensor a = got.tensors[i].second, b = want[i].second.contiguous();
      EXPECT_EQ(got.tensors[i].first, want[i].first);
      ASSERT_EQ(a.dtype(), b.dtype()) << want[i].first;
      ASSERT_EQ(a.shape(), b.shape()) << want[i].first;
      EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * size_of(a.dtype())), 0)
          << input << ": " << want[i].first;
    }
  }
  io::save_pth(dir / "resnet18.pth", nets::to_torchvision("resnet18", student->state_dict()));
  EXPECT_NE(run(std::string(NKD_TRANSFER_BIN) + " --dis-path " + dir / "resnet18.pth --output-path " + dir / "x",
                &out), 0);
  // (issue 14: plain checkpoints export too; torchvision names without the net say what is missing)
  EXPECT_NE(out.find("name the net with --net"), std::string::npos) << out;
  EXPECT_EQ(out.find("header length"), std::string::npos) << out;
  // Neither format: the error names the file and the formats nkd reads.
  testing::write_text(dir / "notes.pth", "not a checkpoint at all");
  EXPECT_NE(run(std::string(NKD_TRANSFER_BIN) + " --dis-path " + dir / "notes.pth --output-path " + dir / "x",
                &out), 0);
  EXPECT_NE(out.find("notes.pth (23 bytes, starting"), std::string::npos) << out;
  EXPECT_NE(out.find("neither a safetensors file"), std::string::npos) << out;
}

TEST(PthWeights, LayoutsAndErrors) {
  TempDir dir;
  auto net = nets::build_net("resnet18", kTiny, 3);
  const layers::NamedTensors state = net->state_dict();
  // A distillation checkpoint with DataParallel prefixes: the student is taken, the rest skipped.
  layers::NamedTensors distilled;
  for (const std::string prefix : {"module.student.", "module.teacher."})
    for (const auto& [k, v] : state) distilled.emplace_back(prefix + k, v);
  io::save_pth(dir / "d.pt", distilled);
  auto target = nets::build_net("resnet18", kTiny, 4);
  WeightsLoad load = load_weights(dir / "d.pt", *target, "resnet18", true, "student");
  EXPECT_EQ(load.layout, "distill (student)");
  EXPECT_EQ(load.loaded, state.size());
  EXPECT_EQ(load.skipped, state.size());
  EXPECT_TRUE(load.report.ok());

  // mmcls layout with an extra entry: accepted unless strict.
  layers::NamedTensors extra = state;
  extra.emplace_back("head.extra", state.front().second);
  io::PthWriteOptions mmcls;
  mmcls.mmcls_layout = true;
  io::save_pth(dir / "m.pth", extra, mmcls);
  load = load_weights(dir / "m.pth", *target, "resnet18", false, "teacher");
  EXPECT_EQ(load.layout, "mmcls");
  EXPECT_EQ(load.report.unexpected.size(), 1u);
  EXPECT_THROW(load_weights(dir / "m.pth", *target, "resnet18", true, "student"), Error);

  // Another width: rejected, naming the file.
  auto wide = nets::build_net("resnet18", {.num_classes = 10, .in_channels = 1, .width = 0.25, .small_input = true}, 7);
  io::save_pth(dir / "w.pth", nets::to_torchvision("resnet18", wide->state_dict()));
  try {
    load_weights(dir / "w.pth", *target, "resnet18", false, "teacher");
    ADD_FAILURE() << "a checkpoint of another width was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit the configured net"), std::string::npos) << e.what();
  }
  // The format comes from the bytes: a .pth named .bin and a safetensors file named .pth load; an
  // empty file does not. Unknown names are refused.
  io::save_pth(dir / "d.bin", distilled);
  EXPECT_EQ(load_weights(dir / "d.bin", *target, "resnet18", true, "student").format, "pth");
  io::save_safetensors(dir / "s.pth", state);
  EXPECT_EQ(load_weights(dir / "s.pth", *target, "resnet18", true, "student").format, "safetensors");
  testing::write_text(dir / "x.bin", "");
  EXPECT_THROW(load_weights(dir / "x.bin", *target, "resnet18", true, "student"), Error);
  io::save_pth(dir / "odd.pth", {{"something.weight", state.front().second}});
  EXPECT_THROW(load_weights(dir / "odd.pth", *target, "resnet18", true, "student"), Error);
}

}  // namespace
}  // namespace nkd::train
