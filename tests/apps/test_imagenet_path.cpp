// The ImageNet-layout path end to end: a few hundred Fashion-MNIST images (Debian's
// dataset-fashion-mnist, or a synthetic stand-in) exported as JPEG folders + meta/val.txt, a teacher
// and an NKD student trained one epoch each with nkd_distill, then nkd_transfer and nkd_eval, whose
// top-1 must equal the one the trainer measured.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::run;
using testing::TempDir;

std::string source_dir(const TempDir& dir) {
  const std::string debian = "/usr/share/datasets/fashion-mnist";
  if (std::filesystem::exists(debian + "/t10k-images-idx3-ubyte.gz")) return debian;
  testing::write_fake_fashion_mnist(dir / "idx", 300, 100);
  return dir / "idx";
}

TEST(ImagenetPath, ExportDistillTransferEval) {
  TempDir dir;
  const std::string src = source_dir(dir), root = dir / "jpeg";
  std::string out;
  for (const auto& [prefix, split, n] : {std::tuple<std::string, std::string, int>{"train", "train", 300},
                                         {"t10k", "val", 100}})
    ASSERT_EQ(run(std::string(NKD_IDX_TO_JPEG) + " " + src + "/" + prefix + "-images-idx3-ubyte.gz " + src + "/" +
                      prefix + "-labels-idx1-ubyte.gz " + root + " " + split + " --limit " + std::to_string(n),
                  &out), 0) << out;
  ASSERT_TRUE(std::filesystem::exists(root + "/meta/val.txt"));
  const std::string cfg_dir = std::string(NKD_SOURCE_DIR) + "/tests/apps/";
  const std::string common = " --device cpu --set data.root=" + root;
  ASSERT_EQ(run(std::string(NKD_DISTILL_BIN) + " " + cfg_dir + "imagenet_tiny.toml --work-dir " + dir / "t" + common,
                &out), 0) << out;
  ASSERT_EQ(run(std::string(NKD_DISTILL_BIN) + " " + cfg_dir + "imagenet_tiny_nkd.toml --work-dir " + dir / "s" +
                    common + " --set model.teacher.checkpoint=" + dir / "t/latest.safetensors",
                &out), 0) << out;
  EXPECT_NE(out.find("loss_nkd"), std::string::npos) << out;
  const double top1 = nlohmann::json::parse(testing::read_text(dir / "s/result.json"))["top1"].get<double>();

  ASSERT_EQ(run(std::string(NKD_TRANSFER_BIN) + " --dis-path " + dir / "s/latest.safetensors --output-path " +
                    dir / "student.safetensors", &out), 0) << out;
  const io::Safetensors student = io::load_safetensors(dir / "student.safetensors");
  for (const auto& [name, t] : student.tensors) {
    EXPECT_TRUE(name.rfind("backbone.", 0) == 0 || name.rfind("head.fc.", 0) == 0) << name;
  }
  EXPECT_EQ(student.metadata.count("config"), 1u);
  EXPECT_EQ(student.metadata.at("epoch"), "1");

  for (const std::string& ckpt : {dir / "student.safetensors", dir / "s/latest.safetensors"}) {
    ASSERT_EQ(run(std::string(NKD_EVAL_BIN) + " " + cfg_dir + "imagenet_tiny.toml " + ckpt + common + " --out " +
                      dir / "pred.csv", &out), 0) << out;
    char expect[64];
    std::snprintf(expect, sizeof expect, "accuracy_top-1 %.2f", top1);
    EXPECT_NE(out.find(expect), std::string::npos) << out << " (trainer: " << top1 << ")";
    const std::string csv = testing::read_text(dir / "pred.csv");
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 101) << csv.substr(0, 300);
  }
  // A teacher checkpoint that is not there stops before training, naming it.
  EXPECT_EQ(run(std::string(NKD_DISTILL_BIN) + " " + cfg_dir + "imagenet_tiny_nkd.toml --work-dir " + dir / "x" +
                    common, &out), 1);
  EXPECT_NE(out.find("teacher checkpoint 'teacher.safetensors' does not exist"), std::string::npos) << out;
}

}  // namespace
}  // namespace nkd::train
