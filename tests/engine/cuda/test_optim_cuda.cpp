// The fused multi-tensor optimizer updates and gradient clipping on a GPU (label gpu; skipped with
// the reason without one): a few SGD (momentum, Nesterov, weight decay) and AdamW steps over several
// parameter groups of F32 and F64 tensors (more than one launch's worth of tensors, tensors larger
// than one block's chunk, a parameter without a gradient) give bit for bit the
// CPU's parameters and state; clip_grad_norm_async matches the CPU's norm and scaling.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "engine/factory.h"
#include "engine/optim/optimizer.h"
#include "tests/engine/cuda/cuda_test.h"

namespace nkd::testing {
namespace {

// Parameter shapes: 30 small ones (over kMaxTensors = 24 per launch), large ones (over one chunk).
std::vector<Shape> shapes() {
  std::vector<Shape> s = {{3}, {70000}, {64, 3, 3, 3}, {200001}};
  for (int i = 0; i < 30; ++i) s.push_back({i + 1, 2});
  return s;
}

struct Params {
  std::vector<optim::ParamGroup> groups;
  std::vector<Tensor> all;
};

// Three groups (lr/decay multipliers differ); F64 for every fourth tensor, F32 otherwise.
Params make_params(Device device) {
  Params p;
  p.groups = {{.params = {}, .lr_mult = 1.0, .decay_mult = 1.0},
              {.params = {}, .lr_mult = 0.5, .decay_mult = 0.0},
              {.params = {}, .lr_mult = 2.0, .decay_mult = 0.25}};
  const std::vector<Shape> sh = shapes();
  for (size_t i = 0; i < sh.size(); ++i) {
    Generator gen(7, i);
    const DType dt = i % 4 == 3 ? DType::F64 : DType::F32;
    Tensor t = randn(sh[i], gen, {dt, kCPU}).to(device);
    t.set_requires_grad(true);
    p.groups[i % 3].params.push_back(t);
    p.all.push_back(t);
  }
  return p;
}

// Gradients of step `step` (the same on both devices); parameter 5 never gets one.
void set_grads(const Params& p, int step, double scale = 1.0) {
  for (size_t i = 0; i < p.all.size(); ++i) {
    if (i == 5) continue;
    const Tensor& t = p.all[i];
    Generator gen(11 + static_cast<uint64_t>(step), i);
    const Tensor g = randn(t.shape(), gen, {DType::F64, kCPU});
    std::vector<double> v = to_vector<double>(g);
    for (double& e : v) e *= scale;
    t.set_grad(from_vector(v, t.shape()).to(t.dtype()).to(t.device()));
  }
}

void expect_bitwise(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  ASSERT_EQ(gpu.device(), testing::gpu()) << what;
  const std::vector<double> a = to_vector<double>(gpu.to(kCPU)), b = to_vector<double>(cpu);
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < a.size() && bad < 5; ++i)
    if (!(a[i] == b[i])) {
      ++bad;
      ADD_FAILURE() << what << "[" << i << "]: gpu " << a[i] << " cpu " << b[i];
    }
}

void compare_runs(const std::function<std::unique_ptr<optim::Optimizer>(std::vector<optim::ParamGroup>)>& make,
                  const char* name) {
  Params cpu = make_params(kCPU), gpu = make_params(testing::gpu());
  auto oc = make(cpu.groups), og = make(gpu.groups);
  for (int step = 0; step < 3; ++step) {
    set_grads(cpu, step);
    set_grads(gpu, step);
    oc->step(0.1 / (step + 1));
    og->step(0.1 / (step + 1));
  }
  for (size_t i = 0; i < cpu.all.size(); ++i) expect_bitwise(gpu.all[i], cpu.all[i], std::string(name) + " param " + std::to_string(i));
  const auto sc = oc->state(), sg = og->state();
  ASSERT_EQ(sc.size(), sg.size());
  for (size_t i = 0; i < sc.size(); ++i) {
    ASSERT_EQ(sc[i].first, sg[i].first);
    if (sc[i].second.is_cuda() || sg[i].second.is_cuda()) expect_bitwise(sg[i].second, sc[i].second, sc[i].first);
  }
}

TEST(OptimCuda, SgdMomentumMatchesCpuBitwise) {
  NKD_REQUIRE_CUDA();
  compare_runs(
      [](std::vector<optim::ParamGroup> g) {
        return std::make_unique<optim::Sgd>(std::move(g), optim::SgdOptions{.momentum = 0.9, .weight_decay = 1e-4});
      },
      "sgd");
}

TEST(OptimCuda, SgdNesterovMatchesCpuBitwise) {
  NKD_REQUIRE_CUDA();
  compare_runs(
      [](std::vector<optim::ParamGroup> g) {
        return std::make_unique<optim::Sgd>(
            std::move(g), optim::SgdOptions{.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
      },
      "sgd nesterov");
}

TEST(OptimCuda, SgdWithoutMomentumMatchesCpuBitwise) {
  NKD_REQUIRE_CUDA();
  compare_runs(
      [](std::vector<optim::ParamGroup> g) {
        return std::make_unique<optim::Sgd>(std::move(g), optim::SgdOptions{.weight_decay = 1e-4});
      },
      "sgd plain");
}

TEST(OptimCuda, AdamWMatchesCpuBitwise) {
  NKD_REQUIRE_CUDA();
  compare_runs(
      [](std::vector<optim::ParamGroup> g) {
        return std::make_unique<optim::AdamW>(std::move(g), optim::AdamWOptions{.weight_decay = 0.05});
      },
      "adamw");
}

// The norm (relative 1e-12: the GPU sums in another order) and the clipped gradients (F32: 2 ulps
// of the factor; F64: 1e-12 relative); below max_norm nothing changes at all.
TEST(OptimCuda, ClipGradNormMatchesCpu) {
  NKD_REQUIRE_CUDA();
  for (double max_norm : {5.0, 1e6}) {
    Params cpu = make_params(kCPU), gpu = make_params(testing::gpu());
    set_grads(cpu, 0, 3.0);
    set_grads(gpu, 0, 3.0);
    const double nc = optim::clip_grad_norm(cpu.all, max_norm);
    const Tensor ng = optim::clip_grad_norm_async(gpu.all, max_norm);
    EXPECT_EQ(ng.device(), testing::gpu());
    EXPECT_NEAR(ng.item(), nc, 1e-12 * nc);
    for (size_t i = 0; i < cpu.all.size(); ++i) {
      if (!cpu.all[i].grad().defined()) {
        EXPECT_FALSE(gpu.all[i].grad().defined());
        continue;
      }
      const std::vector<double> a = to_vector<double>(gpu.all[i].grad().to(kCPU));
      const std::vector<double> b = to_vector<double>(cpu.all[i].grad());
      const double rtol = max_norm > 1e5 ? 0.0 : cpu.all[i].dtype() == DType::F32 ? 5e-7 : 1e-12;
      for (size_t j = 0; j < a.size(); ++j) ASSERT_LE(std::abs(a[j] - b[j]), rtol * std::abs(b[j])) << i << "," << j;
    }
  }
}

}  // namespace
}  // namespace nkd::testing
