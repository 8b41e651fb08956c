// nkd_distill --device cuda end to end (label gpu; skipped with the reason without a GPU): a tiny
// synthetic Fashion-MNIST-like run (3 iterations, then evaluation) with an NKD teacher and with
// tf-NKD on Mixup soft labels, once on the CPU and once on the GPU from the same seed. The first
// step's logged losses agree within 1e-3 (relative: the GPU's convolutions round differently), the
// later ones stay finite, and the GPU run evaluates and writes its checkpoint and result.json.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/apps/app_test_util.h"
#include "tests/engine/cuda/cuda_test.h"

namespace nkd::train {
namespace {

using testing::TempDir;

// nkd_distill: $NKD_DISTILL_BIN, the path it was built at, or (a build folder carried to another
// path, as on the GPU machine) <build>/apps/nkd_distill next to this <build>/tests/apps/test_apps_cuda.
std::string distill_bin() {
  if (const char* e = std::getenv("NKD_DISTILL_BIN")) return e;
  if (std::filesystem::exists(NKD_DISTILL_BIN)) return NKD_DISTILL_BIN;
  const auto self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path().parent_path() / "apps" / "nkd_distill").string();
}

std::string base_config(const std::string& data_root) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + data_root + "\"\nbatch_size = 32\n"
         "val_batch_size = 32\nworkers = 2\n[data.train]\ntype = \"pad_crop_flip\"\npad = 2\n[data.val]\n"
         "type = \"center\"\n[optimizer]\nlr = 0.05\nmomentum = 0.9\nweight_decay = 5e-4\ngrad_clip = 5.0\n"
         "[lr]\npolicy = \"cosine\"\nby_epoch = false\n[runner]\nlog_interval = 1\nepochs = 1\n";
}

// The train records of the run's .log.jsonl, in order.
std::vector<nlohmann::json> train_records(const std::string& work_dir) {
  std::vector<nlohmann::json> out;
  for (const auto& e : std::filesystem::directory_iterator(work_dir)) {
    if (!e.path().string().ends_with(".log.jsonl")) continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j.value("mode", "") == "train") out.push_back(j);
    }
  }
  return out;
}

// Runs `config` on the CPU and on the GPU; compares the logged loss terms of the first iteration.
void compare_first_step(const TempDir& dir, const std::string& name, const std::vector<std::string>& terms) {
  std::string out;
  const std::string cfg = dir / (name + ".toml");
  ASSERT_EQ(testing::run(distill_bin() + " " + cfg + " --device cpu --work-dir " + dir / (name + "_cpu"),
                         &out), 0) << out;
  ASSERT_EQ(testing::run(distill_bin() + " " + cfg + " --device cuda --deterministic --work-dir " +
                             dir / (name + "_gpu"), &out), 0) << out;
  EXPECT_NE(out.find("device cuda:0"), std::string::npos) << out;
  EXPECT_NE(out.find("accuracy_top-1"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::exists(dir / (name + "_gpu/epoch_1.safetensors"))) << out;
  EXPECT_TRUE(std::filesystem::exists(dir / (name + "_gpu/result.json"))) << out;
  const auto cpu = train_records(dir / (name + "_cpu")), gpu = train_records(dir / (name + "_gpu"));
  ASSERT_EQ(cpu.size(), 3u);
  ASSERT_EQ(gpu.size(), 3u) << out;
  for (const std::string& t : terms) {
    ASSERT_TRUE(cpu[0].contains(t) && gpu[0].contains(t)) << t << "\n" << out;
    const double c = cpu[0][t].get<double>(), g = gpu[0][t].get<double>();
    EXPECT_NEAR(g, c, 1e-3 * std::abs(c) + 1e-5) << name << " " << t << " at iteration 1";
    for (const auto& r : gpu) EXPECT_TRUE(std::isfinite(r[t].get<double>())) << name << " " << t;
  }
}

// `images` fake images, a teacher trained for one CPU epoch of plain training on them, and
// dir/nkd.toml distilling it with NKD (`distill`: keys of the [distill] table).
void write_nkd_run(const TempDir& dir, int images, const std::string& distill) {
  testing::write_fake_fashion_mnist(dir / "data", images, 32);
  std::string out;
  testing::write_text(dir / "teacher.toml", base_config(dir / "data"));
  ASSERT_EQ(testing::run(distill_bin() + " " + dir / "teacher.toml --device cpu --no-validate "
                             "--work-dir " + dir / "teacher", &out), 0) << out;
  testing::write_text(dir / "nkd.toml", base_config(dir / "data") +
                                           "[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\nwidth = 0.125\n"
                                           "checkpoint = \"" + dir / "teacher/epoch_1.safetensors" + "\"\n"
                                           "[distill]\n" + distill + "[distill.nkd]\ntemperature = 1.0\ngamma = 1.5\n");
}

TEST(AppsCuda, DistillOnGpuMatchesCpuFirstStep) {
  NKD_REQUIRE_CUDA();
  TempDir dir;
  write_nkd_run(dir, 96, "");
  compare_first_step(dir, "nkd", {"ori_loss", "loss_nkd", "loss"});
  testing::write_text(dir / "tfnkd.toml", base_config(dir / "data") +
                                             "[distill]\ntf_nkd = true\n[data.mix]\nmixup_alpha = 0.2\n");
  compare_first_step(dir, "tfnkd", {"ori_loss", "loss_tf_nkd0", "loss_tf_nkd1", "loss"});
}

// runner.cuda_graph: the same run with the step replayed from a CUDA graph and fully eager, from the
// same seed: 112 images in batches of 32 over 2 epochs = 3 full batches + 1 of 16 per epoch, so the
// graph run warms up on iterations 1-2, captures iteration 3, replays 5-7, and runs the short
// batches (4, 8) eagerly; the cosine schedule (by iteration) changes the learning rate every step,
// which the replays must follow. Every logged loss term and every weight of the final checkpoint
// must be equal bit for bit: the same kernels run on the same data in the same order (cuDNN's
// algorithms by heuristics, NKD_CUDNN_BENCHMARK=0, and deterministic, so neither timing nor
// atomics can differ between the two processes).
TEST(AppsCuda, CudaGraphStepEqualsEagerStep) {
  NKD_REQUIRE_CUDA();
  TempDir dir;
  write_nkd_run(dir, 112, "teacher_mode = \"eval\"\n");
  std::string out;
  const std::string run = "NKD_CUDNN_BENCHMARK=0 " + distill_bin() + " " + dir / "nkd.toml" +
                          " --device cuda --deterministic --no-validate --set runner.epochs=2 --work-dir ";
  ASSERT_EQ(testing::run(run + dir / "eager", &out), 0) << out;
  ASSERT_EQ(testing::run(run + dir / "graph" + " --cuda-graph", &out), 0) << out;
  EXPECT_NE(out.find("CUDA graph: on (runner.cuda_graph)"), std::string::npos) << out;
  EXPECT_NE(out.find("CUDA graph: the training step is captured"), std::string::npos) << out;
  EXPECT_EQ(out.find("CUDA graph: off"), std::string::npos) << out;
  const auto eager = train_records(dir / "eager"), graph = train_records(dir / "graph");
  ASSERT_EQ(eager.size(), 8u);
  ASSERT_EQ(graph.size(), 8u) << out;
  for (size_t i = 0; i < eager.size(); ++i)
    for (const std::string t : {"ori_loss", "loss_nkd", "loss", "lr"})
      EXPECT_EQ(graph[i][t].get<double>(), eager[i][t].get<double>()) << t << " at iteration " << i + 1;
  EXPECT_NE(eager[4]["lr"].get<double>(), eager[5]["lr"].get<double>());  // the replays saw new rates
  testing::expect_same_tensors(dir / "eager/epoch_2.safetensors", dir / "graph/epoch_2.safetensors");
}

}  // namespace
}  // namespace nkd::train
