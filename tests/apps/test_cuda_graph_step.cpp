// The CUDA-graph step's decisions, on the CPU (train/cuda_graph_step.h): which batches warm up, are
// captured, replayed or run eagerly (a short last batch, another shape), why a run cannot use graphs,
// runner.cuda_graph / --cuda-graph, and that a CPU run asked for graphs says why it runs eagerly.
// The graph itself is tested on a GPU (tests/apps/test_apps_cuda.cpp, AppsCuda.CudaGraph*).
#include <gtest/gtest.h>

#include "engine/factory.h"
#include "train/cuda_graph_step.h"
#include "train/run_config.h"
#include "tests/apps/app_test_util.h"

namespace nkd::train {
namespace {

using testing::TempDir;
using testing::write_text;

StepShape shape(int64_t rows, bool soft = false, int64_t size = 28) {
  const Tensor images = zeros({rows, 1, size, size});
  const Tensor labels = zeros({rows}, {DType::I64});
  return step_shape(images, labels, soft ? zeros({rows, 10}) : Tensor());
}

TEST(CudaGraphPlan, WarmsUpCapturesOnceThenReplaysTheFullShape) {
  GraphStepPlan plan("", 32, 2);
  EXPECT_EQ(plan.next(shape(32)), StepPath::kWarmup);
  EXPECT_EQ(plan.next(shape(32)), StepPath::kWarmup);
  EXPECT_EQ(plan.next(shape(32)), StepPath::kCapture);
  plan.captured();
  EXPECT_EQ(plan.next(shape(32)), StepPath::kReplay);
  EXPECT_EQ(plan.next(shape(16)), StepPath::kEager);  // the short last batch of an epoch
  EXPECT_EQ(plan.next(shape(32)), StepPath::kReplay);
  EXPECT_EQ(plan.next(shape(32, true)), StepPath::kEager);  // soft labels: another step
  EXPECT_EQ(plan.next(shape(32, false, 32)), StepPath::kEager);  // another image size
  EXPECT_TRUE(plan.enabled());
}

TEST(CudaGraphPlan, AShortFirstBatchIsEagerAndDoesNotSetTheShape) {
  GraphStepPlan plan("", 32, 1);
  EXPECT_EQ(plan.next(shape(7)), StepPath::kEager);
  EXPECT_EQ(plan.next(shape(32)), StepPath::kWarmup);
  EXPECT_EQ(plan.next(shape(7)), StepPath::kEager);
  EXPECT_EQ(plan.next(shape(32)), StepPath::kCapture);
}

TEST(CudaGraphPlan, ACaptureThatFailsOrADisabledRunIsEagerForGood) {
  GraphStepPlan off("off (runner.cuda_graph = false)", 32);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(off.next(shape(32)), StepPath::kEager);
  EXPECT_FALSE(off.enabled());
  GraphStepPlan plan("", 32, 1);
  EXPECT_EQ(plan.next(shape(32)), StepPath::kWarmup);
  EXPECT_EQ(plan.next(shape(32)), StepPath::kCapture);
  plan.disable("the capture failed: cudaErrorStreamCaptureUnsupported");
  EXPECT_EQ(plan.next(shape(32)), StepPath::kEager);
  EXPECT_EQ(plan.reason(), "the capture failed: cudaErrorStreamCaptureUnsupported");
  EXPECT_THROW(plan.disable(""), Error);
}

TEST(CudaGraphPlan, StepShapeSaysWhatItHolds) {
  EXPECT_EQ(shape(4, true).str(), "images F32 [4, 1, 28, 28], labels I64 [4], soft labels F32 [4, 10]");
  EXPECT_EQ(shape(4), shape(4));
  EXPECT_FALSE(shape(4) == shape(4, true));
}

TEST(CudaGraphPlan, DisabledReasons) {
  const GraphRunFacts ok{.requested = true, .cuda = true};
  EXPECT_EQ(graph_disabled_reason(ok), "");
  const auto reason = [&](auto change) {
    GraphRunFacts f = ok;
    change(f);
    return graph_disabled_reason(f);
  };
  EXPECT_NE(reason([](GraphRunFacts& f) { f.requested = false; }).find("runner.cuda_graph = false"), std::string::npos);
  EXPECT_NE(reason([](GraphRunFacts& f) { f.cuda = false; }).find("CPU"), std::string::npos);
  EXPECT_NE(reason([](GraphRunFacts& f) { f.data_parallel = true; }).find("data-parallel"), std::string::npos);
  EXPECT_NE(reason([](GraphRunFacts& f) { f.optimizer = "adamw"; }).find("adamw"), std::string::npos);
  EXPECT_NE(reason([](GraphRunFacts& f) { f.sync_alloc = true; }).find("NKD_CUDA_SYNC_ALLOC=1"), std::string::npos);
  EXPECT_NE(reason([](GraphRunFacts& f) { f.debug_sync = true; }).find("NKD_CUDA_DEBUG_SYNC=1"), std::string::npos);
}

std::string tiny_config(const std::string& data_root) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + data_root + "\"\nbatch_size = 16\n"
         "workers = 1\n[data.train]\ntype = \"pad_crop_flip\"\n[data.val]\ntype = \"center\"\n"
         "[optimizer]\nlr = 0.1\n[lr]\npolicy = \"cosine\"\n[runner]\nlog_interval = 1\n";
}

TEST(CudaGraphConfig, RunnerKeyDefaultsToOffAndIsChecked) {
  TempDir dir;
  std::filesystem::create_directories(dir / "data");
  write_text(dir / "base.toml", tiny_config(dir / "data"));
  Config base = Config::load(dir / "base.toml");
  EXPECT_FALSE(parse_run_config(base, ConfigUse::kTrain).cuda_graph);
  write_text(dir / "on.toml", "_base_ = \"base.toml\"\n[runner]\ncuda_graph = true\n");
  Config on = Config::load(dir / "on.toml");
  EXPECT_TRUE(parse_run_config(on, ConfigUse::kTrain).cuda_graph);
  write_text(dir / "bad.toml", "_base_ = \"base.toml\"\n[runner]\ncuda_graph = \"yes\"\n");
  Config bad = Config::load(dir / "bad.toml");
  try {
    parse_run_config(bad, ConfigUse::kTrain);
    ADD_FAILURE() << "runner.cuda_graph = \"yes\" was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("runner.cuda_graph"), std::string::npos) << e.what();
  }
}

// --cuda-graph on a CPU run: accepted, logged as off with the reason, and the run trains as before.
TEST(CudaGraphConfig, FlagOnACpuRunSaysWhyItIsEager) {
  TempDir dir;
  testing::write_fake_fashion_mnist(dir / "data", 40, 16);
  write_text(dir / "cfg.toml", tiny_config(dir / "data"));
  std::string out;
  ASSERT_EQ(testing::run(std::string("NKD_FORCE_CPU=1 ") + NKD_DISTILL_BIN + " " + dir / "cfg.toml" +
                             " --device cpu --no-validate --cuda-graph --work-dir " + dir / "work", &out), 0) << out;
  EXPECT_NE(out.find("CUDA graph: off: the run is on the CPU; every step runs eagerly"), std::string::npos) << out;
  EXPECT_NE(testing::read_text(dir / "work/config.toml").find("cuda_graph = true"), std::string::npos);
}

}  // namespace
}  // namespace nkd::train
