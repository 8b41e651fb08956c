// The native BF16 kernels on the GPU (label gpu; skipped with the reason without a GPU) against the
// CPU's native BF16 kernels on the same inputs (which tests/engine/test_bf16_native.cpp checks bit
// for bit against the widen path): max / avg / adaptive pooling forward and backward bit for bit
// (the same NKD_HD functors, the same summation order, as in F32); global average pooling, batch
// norm (the GPU's one shifted pass against the CPU's two passes), batch_norm_act and layer norm
// (team reductions) within one BF16 step of the output scale for BF16 values, and 1e-5 relative for
// the F32 parameter gradients and running statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/norm.h"
#include "engine/ops/pool.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/compare.h"

namespace nkd::testing {
namespace {

using ops::Act;

// BF16: |gpu - cpu| <= 2^-7 (|cpu| + max |cpu|), as the op table's BF16 rows; F32: 1e-5 relative.
::testing::AssertionResult close(const Tensor& gpu_t, const Tensor& cpu_t, const std::string& what) {
  if (!gpu_t.defined() || !cpu_t.defined())
    return gpu_t.defined() == cpu_t.defined() ? ::testing::AssertionSuccess()
                                              : ::testing::AssertionFailure() << what << ": defined differs";
  if (gpu_t.dtype() != cpu_t.dtype()) return ::testing::AssertionFailure() << what << ": dtypes differ";
  const double tol = cpu_t.dtype() == DType::BF16 ? 1.0 / 128 : 1e-5;
  double scale = 0;
  for (double v : to_vector<double>(cpu_t.to(DType::F64))) scale = std::max(scale, std::abs(v));
  return all_close(gpu_t.to(kCPU).to(DType::F64), cpu_t.to(DType::F64), tol * scale, tol, what);
}

::testing::AssertionResult bitwise(const Tensor& gpu_t, const Tensor& cpu_t, const std::string& what) {
  if (gpu_t.dtype() != cpu_t.dtype()) return ::testing::AssertionFailure() << what << ": dtypes differ";
  const std::vector<double> a = to_vector<double>(gpu_t.to(kCPU).to(DType::F64)), e = to_vector<double>(cpu_t.to(DType::F64));
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != e[i]) return ::testing::AssertionFailure() << what << ": element " << i << " " << a[i] << " vs " << e[i];
  return ::testing::AssertionSuccess();
}

Tensor leaf_on(const Tensor& t, Device d) {
  Tensor l = t.to(d).detach().clone();
  l.set_requires_grad(true);
  return l;
}

// Pools: y and gx of f on a BF16 x on each device; bitwise or within the tolerance.
void expect_pool(const std::function<Tensor(const Tensor&)>& f, const Shape& s, bool exact, const std::string& n) {
  Generator gen(9);
  const Tensor x = randn(s, gen).to(DType::BF16);
  Tensor xs[2], ys[2];
  const Device devs[2] = {kCPU, gpu()};
  for (int k = 0; k < 2; ++k) {
    xs[k] = leaf_on(x, devs[k]);
    ys[k] = f(xs[k]);
    Generator gg(4);
    ys[k].backward(randn(ys[k].shape(), gg).to(DType::BF16).to(devs[k]));
  }
  EXPECT_EQ(ys[1].dtype(), DType::BF16) << n;
  if (exact) {
    EXPECT_TRUE(bitwise(ys[1], ys[0], n + " y"));
    EXPECT_TRUE(bitwise(xs[1].grad(), xs[0].grad(), n + " gx"));
  } else {
    EXPECT_TRUE(close(ys[1], ys[0], n + " y"));
    EXPECT_TRUE(close(xs[1].grad(), xs[0].grad(), n + " gx"));
  }
}

TEST(CudaBf16Native, PoolsMatchTheCpu) {
  NKD_REQUIRE_CUDA();
  for (const Shape& s : {Shape{2, 3, 13, 11}, Shape{8, 64, 56, 56}, Shape{4, 16, 7, 7}}) {
    const std::string sn = " " + to_string(s);
    const ops::Pool2dOptions m3{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    expect_pool([&](const Tensor& x) { return ops::max_pool2d(x, m3); }, s, true, "max 3x3/2" + sn);
    const ops::Pool2dOptions a{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .count_include_pad = false};
    expect_pool([&](const Tensor& x) { return ops::avg_pool2d(x, a); }, s, true, "avg 3x3/2" + sn);
    expect_pool([](const Tensor& x) { return ops::adaptive_avg_pool2d(x, 3, 2); }, s, true, "adaptive" + sn);
    expect_pool([](const Tensor& x) { return ops::global_avg_pool(x); }, s, false, "global" + sn);
  }
}

// Batch norm and batch_norm_act (training, with a residual and ReLU; and plain), BF16 x, F32
// parameters: outputs, every gradient, the running statistics.
TEST(CudaBf16Native, BatchNormAndActMatchTheCpu) {
  NKD_REQUIRE_CUDA();
  for (const Shape& s : {Shape{3, 5, 7, 9}, Shape{8, 64, 28, 28}, Shape{16, 32}})
    for (int mode = 0; mode < 3; ++mode) {  // 0: batch_norm, 1: + residual + relu, 2: + relu6
      const Act act = mode == 0 ? Act::kNone : mode == 1 ? Act::kReLU : Act::kReLU6;
      const bool residual = mode == 1;
      Generator gen(21);
      const int64_t C = s[1];
      const Tensor x = randn(s, gen).to(DType::BF16), r = randn(s, gen).to(DType::BF16);
      const Tensor w = randn({C}, gen), b = randn({C}, gen), g = randn(s, gen).to(DType::BF16);
      const Tensor rm0 = randn({C}, gen), rv0 = uniform({C}, 0.5, 2.0, gen);
      Tensor ys[2], xs[2], ws[2], bs[2], rs[2], rms[2], rvs[2];
      const Device devs[2] = {kCPU, gpu()};
      for (int k = 0; k < 2; ++k) {
        xs[k] = leaf_on(x, devs[k]);
        ws[k] = leaf_on(w, devs[k]);
        bs[k] = leaf_on(b, devs[k]);
        rs[k] = leaf_on(r, devs[k]);
        rms[k] = rm0.clone().to(devs[k]);
        rvs[k] = rv0.clone().to(devs[k]);
        const ops::BatchNormOptions o{.training = true, .momentum = 0.1, .eps = 1e-5};
        ys[k] = ops::batch_norm_act(xs[k], ws[k], bs[k], rms[k], rvs[k], o, act, residual ? rs[k] : Tensor());
        ys[k].backward(g.to(devs[k]));
      }
      const std::string n = to_string(s) + " mode " + std::to_string(mode);
      EXPECT_EQ(ys[1].dtype(), DType::BF16) << n;
      EXPECT_TRUE(close(ys[1], ys[0], n + " y"));
      EXPECT_TRUE(close(xs[1].grad(), xs[0].grad(), n + " gx"));
      EXPECT_TRUE(close(ws[1].grad(), ws[0].grad(), n + " gw"));
      EXPECT_TRUE(close(bs[1].grad(), bs[0].grad(), n + " gb"));
      if (residual) EXPECT_TRUE(close(rs[1].grad(), rs[0].grad(), n + " gresidual"));
      EXPECT_TRUE(close(rms[1], rms[0], n + " running_mean"));
      EXPECT_TRUE(close(rvs[1], rvs[0], n + " running_var"));
    }
}

TEST(CudaBf16Native, LayerNormMatchesTheCpu) {
  NKD_REQUIRE_CUDA();
  for (const Shape& s : {Shape{3, 5, 7, 96}, Shape{8, 49, 768}, Shape{4, 1500}}) {
    Generator gen(31);
    const Shape ns{s.back()};
    const Tensor x = randn(s, gen).to(DType::BF16), w = randn(ns, gen), b = randn(ns, gen);
    const Tensor g = randn(s, gen).to(DType::BF16);
    Tensor ys[2], xs[2], ws[2], bs[2];
    const Device devs[2] = {kCPU, gpu()};
    for (int k = 0; k < 2; ++k) {
      xs[k] = leaf_on(x, devs[k]);
      ws[k] = leaf_on(w, devs[k]);
      bs[k] = leaf_on(b, devs[k]);
      ys[k] = ops::layer_norm(xs[k], ns, ws[k], bs[k], 1e-5);
      ys[k].backward(g.to(devs[k]));
    }
    const std::string n = to_string(s);
    EXPECT_EQ(ys[1].dtype(), DType::BF16) << n;
    EXPECT_TRUE(close(ys[1], ys[0], n + " y"));
    EXPECT_TRUE(close(xs[1].grad(), xs[0].grad(), n + " gx"));
    EXPECT_TRUE(close(ws[1].grad(), ws[0].grad(), n + " gw"));
    EXPECT_TRUE(close(bs[1].grad(), bs[0].grad(), n + " gb"));
  }
}

}  // namespace
}  // namespace nkd::testing
