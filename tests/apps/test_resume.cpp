// Kill-and-resume through the nkd_distill binary: a run stopped mid-epoch (by --stop-after-iters or
// by a real SIGTERM) and resumed with --resume auto ends with exactly the same weights and optimizer
// state, bit for bit, as an uninterrupted run; for plain training and for NKD with a train-mode teacher;
// a damaged newest checkpoint makes --resume auto fall back to the one before; checkpoint retention
// (max_keep_checkpoints) and the best-checkpoint (save_best) across a resume.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "engine/dtype.h"
#include "tests/apps/app_test_util.h"

extern char** environ;

namespace nkd::train {
namespace {

using testing::TempDir;

std::string config_text(const std::string& data_root, int64_t epochs) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + data_root + "\"\nbatch_size = 32\n"
         "workers = 2\n[data.train]\ntype = \"pad_crop_flip\"\npad = 2\n[data.val]\ntype = \"center\"\n"
         "[optimizer]\nlr = 0.05\nweight_decay = 5e-4\n[lr]\npolicy = \"cosine\"\nby_epoch = false\n"
         "[runner]\nlog_interval = 1\nepochs = " + std::to_string(epochs) + "\n";
}

std::string distill(const std::string& args) {
  return std::string(NKD_DISTILL_BIN) + " --device cpu " + args;
}

TEST(Resume, StopMidEpochAndResumeGivesTheSameWeights) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 192, 32);
  testing::write_text(dir / "plain.toml", config_text(dir / "data", 2));
  std::string out;
  ASSERT_EQ(testing::run(distill(dir / "plain.toml --work-dir " + dir / "a"), &out), 0) << out;
  ASSERT_EQ(testing::run(distill(dir / "plain.toml --work-dir " + dir / "b --stop-after-iters 8"), &out), 0) << out;
  EXPECT_TRUE(std::filesystem::exists(dir / "b/iter_8.safetensors")) << out;
  EXPECT_FALSE(std::filesystem::exists(dir / "b/epoch_2.safetensors"));
  ASSERT_EQ(testing::run(distill(dir / "plain.toml --work-dir " + dir / "b --resume auto"), &out), 0) << out;
  EXPECT_NE(out.find("resumed from"), std::string::npos) << out;
  testing::expect_same_tensors(dir / "a/epoch_2.safetensors", dir / "b/epoch_2.safetensors");
  testing::expect_same_tensors(dir / "a/latest.safetensors", dir / "b/epoch_2.safetensors");

  // NKD with the teacher in train mode (its BN statistics are part of the checkpoint).
  testing::write_text(dir / "nkd.toml", config_text(dir / "data", 1) +
                                           "[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\nwidth = 0.125\n"
                                           "checkpoint = \"" + dir / "a/epoch_2.safetensors" + "\"\n"
                                           "[distill.nkd]\ntemperature = 1.0\ngamma = 1.5\n");
  ASSERT_EQ(testing::run(distill(dir / "nkd.toml --work-dir " + dir / "c"), &out), 0) << out;
  EXPECT_NE(out.find("loss_nkd"), std::string::npos) << out;
  ASSERT_EQ(testing::run(distill(dir / "nkd.toml --work-dir " + dir / "d --stop-after-iters 3"), &out), 0) << out;
  ASSERT_EQ(testing::run(distill(dir / "nkd.toml --work-dir " + dir / "d --resume"), &out), 0) << out;
  testing::expect_same_tensors(dir / "c/epoch_1.safetensors", dir / "d/epoch_1.safetensors");
}

// KD + NKD with an eval-mode teacher, which runs through its inference form (batch norm folded
// into its own tensors): the checkpoints hold the teacher's weights exactly as its checkpoint has
// them, and a stopped and resumed run ends bit for bit as an uninterrupted one.
TEST(Resume, EvalModeTeacherFormKeepsCheckpointsAndResumeExact) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 96, 32);  // 3 iterations per epoch
  testing::write_text(dir / "t.toml", config_text(dir / "data", 1));
  std::string out;
  ASSERT_EQ(testing::run(distill(dir / "t.toml --no-validate --work-dir " + dir / "t"), &out), 0) << out;
  testing::write_text(dir / "kd.toml", config_text(dir / "data", 2) +
                                          "[model.teacher]\nnet = \"resnet18\"\nsmall_input = true\nwidth = 0.125\n"
                                          "checkpoint = \"" + dir / "t/epoch_1.safetensors" + "\"\n"
                                          "[distill]\nteacher_mode = \"eval\"\n[distill.kd]\n[distill.nkd]\n");
  ASSERT_EQ(testing::run(distill(dir / "kd.toml --no-validate --work-dir " + dir / "a"), &out), 0) << out;
  ASSERT_EQ(testing::run(distill(dir / "kd.toml --no-validate --work-dir " + dir / "b --stop-after-iters 4"), &out), 0)
      << out;
  ASSERT_EQ(testing::run(distill(dir / "kd.toml --no-validate --work-dir " + dir / "b --resume auto"), &out), 0) << out;
  testing::expect_same_tensors(dir / "a/epoch_2.safetensors", dir / "b/epoch_2.safetensors");

  const io::Safetensors teacher = io::load_safetensors(dir / "t/epoch_1.safetensors");
  const io::Safetensors run = io::load_safetensors(dir / "a/epoch_2.safetensors");
  std::map<std::string, const Tensor*> saved;
  for (const auto& [name, t] : run.tensors) saved[name] = &t;
  size_t weights = 0, teacher_entries = 0;
  for (const auto& [name, t] : run.tensors) teacher_entries += name.rfind("teacher.", 0) == 0;
  for (const auto& [name, t] : teacher.tensors) {
    if (name.rfind("optimizer.", 0) == 0) continue;  // the teacher run's own training state
    ++weights;
    const auto it = saved.find("teacher." + name);
    ASSERT_NE(it, saved.end()) << name;
    ASSERT_EQ(it->second->shape(), t.shape()) << name;
    EXPECT_EQ(std::memcmp(it->second->raw_data(), t.raw_data(), size_t(t.numel()) * size_of(t.dtype())), 0) << name;
  }
  EXPECT_GT(weights, 0u);
  EXPECT_EQ(teacher_entries, weights) << "the teacher's weights, nothing of its inference form";
}

// Flips a bit of the file's last byte (inside the tensor data).
void damage(const std::string& path, char bit = 0x04) {
  std::string bytes = testing::read_text(path);
  bytes.back() ^= bit;
  testing::write_text(path, bytes);
}

// --resume auto with a damaged newest checkpoint says so, resumes from the one before and ends with
// the weights of an uninterrupted run; with every checkpoint damaged it stops with the reasons
// instead of silently starting over.
TEST(Resume, DamagedLatestFallsBackToTheCheckpointBefore) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 96, 32);  // 3 iterations per epoch
  testing::write_text(dir / "c.toml", config_text(dir / "data", 3));
  std::string out;
  ASSERT_EQ(testing::run(distill(dir / "c.toml --no-validate --work-dir " + dir / "a"), &out), 0) << out;
  ASSERT_EQ(testing::run(distill(dir / "c.toml --no-validate --work-dir " + dir / "b --stop-after-iters 7"), &out), 0) << out;
  ASSERT_TRUE(std::filesystem::exists(dir / "b/iter_7.safetensors")) << out;
  damage(dir / "b/iter_7.safetensors");
  ASSERT_EQ(testing::run(distill(dir / "c.toml --no-validate --work-dir " + dir / "b --resume auto"), &out), 0) << out;
  EXPECT_NE(out.find("does not match its checksum"), std::string::npos) << out;
  EXPECT_NE(out.find("resumed from " + dir / "b/epoch_2.safetensors"), std::string::npos) << out;
  testing::expect_same_tensors(dir / "a/epoch_3.safetensors", dir / "b/epoch_3.safetensors");

  for (const auto& f : std::filesystem::directory_iterator(dir / "b"))
    if (f.path().extension() == ".safetensors" && !f.is_symlink()) damage(f.path(), 0x08);
  EXPECT_NE(testing::run(distill(dir / "c.toml --no-validate --work-dir " + dir / "b --resume auto"), &out), 0) << out;
  EXPECT_NE(out.find("none of the"), std::string::npos) << out;
}

// The val records of a work dir's JSON-lines logs: epoch -> top-1.
std::map<int64_t, double> val_top1(const std::string& work) {
  std::map<int64_t, double> out;
  for (const auto& f : std::filesystem::directory_iterator(work))
    if (f.path().string().ends_with(".log.jsonl")) {
      std::istringstream lines(testing::read_text(f.path()));
      for (std::string line; std::getline(lines, line);) {
        const nlohmann::json r = nlohmann::json::parse(line);
        if (r.value("mode", "") == "val") out[r["epoch"].get<int64_t>()] = r["accuracy_top-1"].get<double>();
      }
    }
  return out;
}

// runner.max_keep_checkpoints keeps the newest epoch files (an interruption's iter file goes once
// an epoch file supersedes it); runner.save_best keeps exactly the checkpoint of the best val top-1
// (across a resume), which nkd_eval scores as the log did (with and without --no-fuse); result.json
// names it.
TEST(Resume, MaxKeepAndSaveBestAcrossAResume) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 96, 64);
  testing::write_text(dir / "c.toml", config_text(dir / "data", 5) + "max_keep_checkpoints = 2\nsave_best = true\n");
  const std::string work = dir / "w";
  std::string out;
  ASSERT_EQ(testing::run(distill(dir / "c.toml --work-dir " + work + " --stop-after-iters 8"), &out), 0) << out;
  EXPECT_TRUE(std::filesystem::exists(work + "/iter_8.safetensors")) << out;
  ASSERT_EQ(testing::run(distill(dir / "c.toml --work-dir " + work + " --resume auto"), &out), 0) << out;
  EXPECT_EQ(testing::names_in(work, "epoch_"), (std::vector<std::string>{"epoch_4.safetensors", "epoch_5.safetensors"}));
  EXPECT_TRUE(testing::names_in(work, "iter_").empty());

  const std::map<int64_t, double> top1 = val_top1(work);
  ASSERT_EQ(top1.size(), 5u) << out;
  std::cout << "[ val      ] top-1 by epoch:";
  for (const auto& [epoch, v] : top1) std::cout << " " << epoch << ": " << v;
  std::cout << "\n";
  const auto best = std::max_element(top1.begin(), top1.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::vector<std::string> best_files = testing::names_in(work, "best_");
  ASSERT_EQ(best_files, std::vector<std::string>{"best_accuracy_top-1_epoch_" + std::to_string(best->first) + ".safetensors"})
      << out;
  const nlohmann::json result = nlohmann::json::parse(testing::read_text(work + "/result.json"));
  EXPECT_DOUBLE_EQ(result["best_top1"].get<double>(), best->second);
  EXPECT_EQ(result["best_epoch"].get<int64_t>(), best->first);
  ASSERT_EQ(testing::run(std::string(NKD_EVAL_BIN) + " " + dir / "c.toml " + work + "/" + best_files[0], &out), 0) << out;
  char expect[64];
  std::snprintf(expect, sizeof expect, "accuracy_top-1 %.2f", best->second);
  EXPECT_NE(out.find(expect), std::string::npos) << expect << " in\n" << out;
  // The same through the net itself instead of its inference form (the default).
  ASSERT_EQ(testing::run(std::string(NKD_EVAL_BIN) + " " + dir / "c.toml " + work + "/" + best_files[0] + " --no-fuse", &out),
            0) << out;
  EXPECT_NE(out.find(expect), std::string::npos) << expect << " in\n" << out;
}

// Resumed with another batch size (as with another number of GPUs): the LR schedule continues at
// the interrupted epoch's start in this run's iterations, and that epoch restarts from its first
// batch, instead of skipping batches counted in the other layout.
TEST(Resume, AnotherBatchSizeRestartsTheInterruptedEpoch) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 96, 32);  // 3 iterations per epoch at batch 32
  testing::write_text(dir / "c.toml", config_text(dir / "data", 3));
  std::string out;
  ASSERT_EQ(testing::run(distill(dir / "c.toml --no-validate --work-dir " + dir / "w --stop-after-iters 4"), &out), 0) << out;
  ASSERT_EQ(testing::run(distill(dir / "c.toml --no-validate --work-dir " + dir / "w --resume auto --set data.batch_size=16"), &out), 0)
      << out;
  EXPECT_NE(out.find("an epoch had 3 iterations in the checkpoint's run and has 6 in this one"), std::string::npos) << out;
  EXPECT_NE(out.find("which restarts from its first batch"), std::string::npos) << out;
  EXPECT_NE(out.find("resumed from " + dir / "w/latest.safetensors: epoch 2, iteration 0 of the epoch (6 in all)"),
            std::string::npos) << out;
  const io::Safetensors last = io::load_safetensors(dir / "w/epoch_3.safetensors");
  EXPECT_EQ(last.metadata.at("iter"), "18") << "3 epochs of 6 iterations";
  EXPECT_EQ(last.metadata.at("iters_per_epoch"), "6");
}

TEST(Resume, SigtermWritesACheckpointAndResumeMatches) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 128, 32);
  testing::write_text(dir / "c.toml", config_text(dir / "data", 20));
  std::string out;
  ASSERT_EQ(testing::run(distill(dir / "c.toml --no-validate --work-dir " + dir / "a"), &out), 0) << out;

  const std::string work = dir / "b";
  std::vector<std::string> args = {NKD_DISTILL_BIN, "--device", "cpu",    "--no-validate",
                                   dir / "c.toml",  "--work-dir", work};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  testing::quiet_openmp();
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawn(&pid, argv[0], &quiet, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&quiet);
  // Wait for a few logged iterations (the JSON-lines log), then SIGTERM.
  for (int tries = 0; tries < 6000; ++tries) {
    int records = 0;
    if (std::filesystem::exists(work))
      for (const auto& f : std::filesystem::directory_iterator(work))
        if (f.path().string().ends_with(".log.jsonl")) {
          const std::string s = testing::read_text(f.path());
          records = int(std::count(s.begin(), s.end(), '\n'));
        }
    if (records >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << "the run ended before the signal (or crashed)";
  ASSERT_TRUE(std::filesystem::exists(work + "/latest.safetensors"));
  ASSERT_EQ(testing::run(distill(dir / "c.toml --no-validate --work-dir " + work + " --resume auto"), &out), 0) << out;
  testing::expect_same_tensors(dir / "a/epoch_20.safetensors", work + "/epoch_20.safetensors");
}

}  // namespace
}  // namespace nkd::train
