// Data-parallel tests on the CPU (label cpu): the bucket plan, the launch-environment parsing and the
// reducer with a one-rank communicator run in-process; the MPI tests start `mpirun -np 2` (always
// under `timeout`, so a hang fails instead of blocking CI): two ranks train like one process on the
// concatenated batch, a killed or hung rank ends the job with an error, nkd_distill trains under
// mpirun with rank-0 logs and checkpoints, and nkd_eval over two ranks counts every image once.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/autograd/grad_mode.h"
#include "engine/cuda/device.h"
#include "engine/dist/reducer.h"
#include "engine/ops/reduce.h"
#include "tests/apps/app_test_util.h"
#include "tests/dist/tiny_net.h"

namespace nkd::dist {
namespace {

using train::testing::TempDir;

// mpirun for the tests: root is allowed (CI containers), more ranks than cores, no core binding
// (each rank runs OpenMP threads), shared-memory transport without the CMA single copy that
// containers forbid; one OpenMP thread per rank.
// The ranks run without LeakSanitizer's exit check (in ASan builds): Open MPI's own allocations
// (ompi_op_base_op_select, its dlopen'ed plugins) are reported as leaks at exit.
std::string mpirun(int np, const std::string& env = "") {
  return std::string("timeout 120 ") + NKD_MPIEXEC +
         " --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader"
         " --mca btl_vader_single_copy_mechanism none -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY=passive"
         " -x ASAN_OPTIONS=detect_leaks=0 " +
         (env.empty() ? "" : "-x " + env + " ") + "-np " + std::to_string(np) + " ";
}

bool have_mpi(std::string* why) {
  if (!built_with_mpi()) return *why = "nkd was built without MPI", false;
  if (std::string(NKD_MPIEXEC).empty()) return *why = "mpirun was not found", false;
  return true;
}
#define NKD_REQUIRE_MPI()             \
  do {                                \
    std::string why;                  \
    if (!have_mpi(&why)) GTEST_SKIP() << why; \
  } while (0)

TEST(DistBuckets, ReverseOrderClosedAtTheCapFirstOneSmall) {
  const ReducerOptions o{.bucket_bytes = 100, .first_bucket_bytes = 30};
  const std::vector<int64_t> bytes = {40, 40, 40, 10, 10, 20, 200};
  const auto plan = plan_buckets(bytes, std::vector<DType>(bytes.size(), DType::F32), o);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0], (std::vector<size_t>{6}));              // over the first cap: closed at once
  EXPECT_EQ(plan[1], (std::vector<size_t>{5, 4, 3, 2, 1}));  // 120 >= 100 closes it
  EXPECT_EQ(plan[2], (std::vector<size_t>{0}));
  const auto p2 = plan_buckets({8, 8, 8, 8, 8}, std::vector<DType>(5, DType::F32), o);
  ASSERT_EQ(p2.size(), 2u);
  EXPECT_EQ(p2[0], (std::vector<size_t>{4, 3, 2, 1}));  // 32 >= 30
  EXPECT_EQ(p2[1], (std::vector<size_t>{0}));
  // A dtype change closes the bucket.
  const auto p3 = plan_buckets({8, 8, 8}, {DType::F32, DType::F64, DType::F64}, o);
  ASSERT_EQ(p3.size(), 2u);
  EXPECT_EQ(p3[0], (std::vector<size_t>{2, 1}));
}

TEST(DistLaunchEnv, ReadsTorchrunMpirunAndSlurmVariables) {
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NKD_LAUNCHER", "OMPI_COMM_WORLD_SIZE",
                        "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "PMIX_RANK", "SLURM_PROCID",
                        "SLURM_NTASKS", "SLURM_STEP_ID", "SLURM_LOCALID", "MASTER_ADDR", "MASTER_PORT"})
    unsetenv(v);
  EXPECT_FALSE(detect_launch_env().distributed());
  setenv("SLURM_PROCID", "5", 1);
  setenv("SLURM_NTASKS", "16", 1);
  setenv("SLURM_LOCALID", "1", 1);
  EXPECT_FALSE(detect_launch_env().distributed()) << "sbatch without srun is a single process";
  setenv("SLURM_STEP_ID", "0", 1);
  LaunchEnv e = detect_launch_env();
  EXPECT_EQ(e.launcher, "slurm");
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world, 16);
  EXPECT_EQ(e.local_rank, 1);
  setenv("RANK", "3", 1);
  setenv("WORLD_SIZE", "8", 1);
  setenv("LOCAL_RANK", "3", 1);
  setenv("MASTER_ADDR", "10.0.0.1", 1);
  e = detect_launch_env();
  EXPECT_EQ(e.launcher, "torchrun");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world, 8);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  EXPECT_EQ(e.master_port, 29500);
  setenv("RANK", "8", 1);
  EXPECT_THROW(detect_launch_env(), Error);
  setenv("RANK", "x", 1);
  EXPECT_THROW(detect_launch_env(), Error);
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "SLURM_PROCID", "SLURM_NTASKS",
                        "SLURM_STEP_ID", "SLURM_LOCALID"})
    unsetenv(v);
  EXPECT_THROW(make_communicator(LaunchEnv{}, kCPU), Error);  // a CPU run without mpirun
}

// A one-rank communicator: the reducer's bookkeeping without any transport.
class Loopback final : public Communicator {
 public:
  struct Done final : Work {
    void wait() override {}
  };
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  const char* backend() const override { return "loopback"; }
  Device device() const override { return kCPU; }
  std::unique_ptr<Work> all_reduce_async(const Tensor&, ReduceOp) override {
    ++launched;
    return std::make_unique<Done>();
  }
  void broadcast(const Tensor&, int) override {}
  std::vector<double> all_gather(const std::vector<double>& v) override { return v; }
  void barrier() override {}
  void abort() noexcept override {}
  int launched = 0;
};

TEST(DistReducer, BucketsLaunchDuringBackwardAndGradsMatch) {
  testing::TinyNet a(3), b(3);
  auto [x, y] = testing::synthetic_batch(6, 0);
  a.loss(x, y).backward();
  Loopback comm;
  Reducer r(comm, b.params(), ReducerOptions{.bucket_bytes = 100, .first_bucket_bytes = 16});
  // Overlap: the head's bucket goes out while backward has not reached the conv yet, in every step
  // (the accumulators are older than the step's ops; the engine still runs them as soon as ready).
  int early_head_launches = 0;
  r.set_launch_observer([&](size_t bucket) {
    if (bucket == 0 && !b.conv->weight.grad().defined()) ++early_head_launches;
  });
  for (int step = 0; step < 2; ++step) {  // twice: the reducer resets between steps
    for (const Tensor& p : b.params()) p.zero_grad();
    b.loss(x, y).backward();
    r.finalize();
  }
  ASSERT_GE(r.buckets().size(), 3u);
  EXPECT_EQ(early_head_launches, 2);
  EXPECT_EQ(comm.launched, int(2 * r.buckets().size()));
  EXPECT_EQ(r.launched_during_backward(), int64_t(r.buckets().size()));  // all ready before finalize
  for (size_t i = 0; i < a.params().size(); ++i) {
    const auto ga = to_vector<float>(a.params()[i].grad()), gb = to_vector<float>(b.params()[i].grad());
    ASSERT_EQ(ga.size(), gb.size());
    for (size_t j = 0; j < ga.size(); ++j) EXPECT_EQ(ga[j], gb[j]) << "param " << i << " element " << j;
  }
  // A parameter without a gradient (unused this step) is reduced as zeros.
  for (const Tensor& p : b.params()) p.zero_grad();
  {
    ops::sum(b.conv->forward(x)).backward();
  }
  r.finalize();
  for (float v : to_vector<float>(b.fc->weight.grad())) ASSERT_EQ(v, 0.0f);
}

// Registration order unlike use order, plus a parameter backward never reaches: the first step
// launches late; after it the buckets follow the observed order and the unused one goes last.
TEST(DistReducer, RebuildsBucketsFromTheFirstStepsGradientOrder) {
  testing::TinyNet net(3);
  const Tensor unused = zeros({300}).set_requires_grad();
  auto [x, y] = testing::synthetic_batch(6, 0);
  Loopback comm;
  Reducer r(comm, {net.fc->bias, net.conv->weight, unused, net.fc->weight, net.conv->bias},
            ReducerOptions{.bucket_bytes = 100, .first_bucket_bytes = 16});
  std::vector<int> early(3, 0);
  int step = 0;
  r.set_launch_observer([&](size_t) {
    if (!net.conv->weight.grad().defined() && !net.conv->bias.grad().defined()) ++early[size_t(step)];
  });
  for (step = 0; step < 3; ++step) {
    for (const Tensor& p : net.params()) p.zero_grad();
    net.loss(x, y).backward();
    r.finalize();
  }
  EXPECT_EQ(early[0], 0) << "before the rebuild the first bucket holds conv.bias, registered last";
  EXPECT_GE(early[1], 1) << "after it, the head's bucket goes out before backward reaches the conv";
  EXPECT_EQ(early[2], early[1]);
  EXPECT_EQ(r.launched_during_backward(), int64_t(r.buckets().size()) - 1);  // all but the unused one
  for (float v : to_vector<float>(unused.grad())) ASSERT_EQ(v, 0.0f);
}

TEST(DistMpi, TwoRanksTrainLikeOneProcessOnTheConcatenatedBatch) {
  NKD_REQUIRE_MPI();
  std::string out;
  const int rc = train::testing::run(mpirun(2) + NKD_DIST_WORKER + " equiv 6", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ranks identical"), std::string::npos) << out;
  EXPECT_NE(out.find("launched during backward"), std::string::npos) << out;
  std::cout << out;
}

// A stop request on one rank only (a signal that reached one process) stops every rank at the same
// step, one step later.
TEST(DistMpi, AStopOnOneRankStopsBothAtTheSameStep) {
  NKD_REQUIRE_MPI();
  std::string out;
  EXPECT_EQ(train::testing::run(mpirun(2) + NKD_DIST_WORKER + " stop", &out), 0) << out;
  EXPECT_NE(out.find("stop: rank 0 stopped at step 4"), std::string::npos) << out;
  EXPECT_NE(out.find("stop: rank 1 stopped at step 4"), std::string::npos) << out;
}

TEST(DistMpi, AKilledRankEndsTheJobWithAnError) {
  NKD_REQUIRE_MPI();
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = train::testing::run(mpirun(2, "NKD_DIST_TIMEOUT=10") + NKD_DIST_WORKER + " kill", &out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, 124) << "timeout(1) had to end it: a rank hung\n" << out;
  EXPECT_LT(secs, 60) << out;
  std::cout << "killed rank: exit " << rc << " after " << secs << " s\n";
}

TEST(DistMpi, AHungRankMakesTheOthersFailAfterTheTimeout) {
  NKD_REQUIRE_MPI();
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = train::testing::run(mpirun(2, "NKD_DIST_TIMEOUT=3") + NKD_DIST_WORKER + " hang", &out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, 124) << "timeout(1) had to end it: a rank hung\n" << out;
  EXPECT_NE(out.find("did not complete within 3 s"), std::string::npos) << out;
  EXPECT_LT(secs, 60) << out;
  std::cout << "hung rank: exit " << rc << " after " << secs << " s\n";
}

std::string distill_config(const std::string& root) {
  return "[model]\nnum_classes = 10\nin_channels = 1\n[model.student]\nnet = \"resnet18\"\nsmall_input = true\n"
         "width = 0.125\n[data]\ntype = \"fashion_mnist\"\nroot = \"" + root + "\"\nbatch_size = 16\n"
         "workers = 1\n[data.train]\ntype = \"pad_crop_flip\"\npad = 2\n[data.val]\ntype = \"center\"\n"
         "[optimizer]\nlr = 0.05\n[lr]\npolicy = \"cosine\"\nby_epoch = false\n[runner]\nlog_interval = 2\nepochs = 1\n";
}

TEST(DistMpi, DistillAndEvalUnderMpirun) {
  NKD_REQUIRE_MPI();
  TempDir dir;
  train::testing::write_fake_fashion_mnist(dir / "data", 96, 37);  // 37 val images: rank 1 gets one padded
  train::testing::write_text(dir / "c.toml", distill_config(dir / "data"));
  std::string out;
  const std::string distill = std::string(NKD_DISTILL_BIN) + " --device cpu " + dir / "c.toml";
  ASSERT_EQ(train::testing::run(mpirun(2) + distill + " --work-dir " + dir / "w", &out), 0) << out;
  EXPECT_NE(out.find("distributed: 2 ranks (mpirun), backend mpi"), std::string::npos) << out;
  EXPECT_NE(out.find("data parallel: 2 ranks"), std::string::npos) << out;
  EXPECT_NE(out.find("total batch 32"), std::string::npos) << out;
  EXPECT_NE(out.find("Epoch [1/1][3/3]"), std::string::npos) << "96 images / (2 x 16) = 3 steps\n" << out;
  EXPECT_NE(out.find("Epoch(val) [1][37 images]"), std::string::npos) << out;
  int logs = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir / "w")) logs += f.path().extension() == ".log";
  EXPECT_EQ(logs, 1) << "only rank 0 writes the log";
  ASSERT_TRUE(std::filesystem::exists(dir / "w/epoch_1.safetensors")) << out;

  // Evaluation over two ranks: the same totals as one process (37 images, none counted twice).
  const std::string eval = std::string(NKD_EVAL_BIN) + " --device cpu " + dir / "c.toml " + dir / "w/epoch_1.safetensors";
  std::string one, two;
  ASSERT_EQ(train::testing::run(eval, &one), 0) << one;
  ASSERT_EQ(train::testing::run(mpirun(2) + eval, &two), 0) << two;
  const auto result = [](const std::string& s) {
    const size_t at = s.find("nkd_eval: ");
    return at == std::string::npos ? std::string("(none)") : s.substr(at, s.find('\n', at) - at);
  };
  EXPECT_NE(result(one).find("on 37 images"), std::string::npos) << one;
  EXPECT_EQ(result(one), result(two)) << one << "\n---\n" << two;
  std::cout << "single: " << result(one) << "\nmpirun -np 2: " << result(two) << "\n";
}

// Stopped mid-run and resumed under mpirun: the same weights, bit for bit, as an uninterrupted
// two-rank run (the stop is agreed by both ranks; rank 0 writes the checkpoint both resume from).
TEST(DistMpi, StopAndResumeUnderMpirunMatches) {
  NKD_REQUIRE_MPI();
  TempDir dir;
  train::testing::write_fake_fashion_mnist(dir / "data", 96, 16);  // 3 steps per epoch on 2 x 16
  std::string cfg = distill_config(dir / "data");
  cfg.replace(cfg.find("epochs = 1"), 10, "epochs = 2");
  train::testing::write_text(dir / "c.toml", cfg);
  const std::string distill = mpirun(2) + NKD_DISTILL_BIN + " --device cpu --no-validate " + dir / "c.toml";
  std::string out;
  ASSERT_EQ(train::testing::run(distill + " --work-dir " + dir / "a", &out), 0) << out;
  ASSERT_EQ(train::testing::run(distill + " --work-dir " + dir / "b --stop-after-iters 4", &out), 0) << out;
  ASSERT_TRUE(std::filesystem::exists(dir / "b/iter_4.safetensors")) << out;
  ASSERT_EQ(train::testing::run(distill + " --work-dir " + dir / "b --resume auto", &out), 0) << out;
  EXPECT_NE(out.find("resumed from"), std::string::npos) << out;
  train::testing::expect_same_tensors(dir / "a/epoch_2.safetensors", dir / "b/epoch_2.safetensors");
}

// Under a launcher --device goes through the same parser as in one process (train/cli.h): a
// malformed cuda:N is the same one-line error on every rank.
TEST(DistMpi, MalformedDeviceFlagIsAClearErrorUnderMpirun) {
  NKD_REQUIRE_MPI();
  for (const char* device : {"cuda:x", "cuda:", "gpu"}) {
    std::string out;
    EXPECT_NE(train::testing::run(mpirun(2) + NKD_DISTILL_BIN + " --device " + device + " no_such.toml", &out), 0)
        << out;
    EXPECT_NE(out.find(std::string("nkd_distill: error: --device must be cpu, cuda, cuda:N or auto, got '") +
                       device + "'"), std::string::npos) << out;
    EXPECT_EQ(out.find("no_such.toml"), std::string::npos) << "the flag is checked before the config\n" << out;
  }
}

TEST(DistLaunch, GpusWithoutEnoughGpusIsAClearError) {
  if (cuda::device_count() >= 2) GTEST_SKIP() << "this machine has 2 GPUs";
  std::string out;
  ASSERT_EQ(train::testing::run(std::string(NKD_DISTILL_BIN) + " --gpus 2 no_such.toml", &out), 1) << out;
  EXPECT_NE(out.find("--gpus 2 needs 2 CUDA devices"), std::string::npos) << out;
  ASSERT_EQ(train::testing::run(std::string(NKD_DISTILL_BIN) + " --gpus 0 no_such.toml", &out), 1) << out;
  EXPECT_NE(out.find("--gpus expects a positive number"), std::string::npos) << out;
}

}  // namespace
}  // namespace nkd::dist
