// conv2d (cuDNN), batch_norm and the pools on the GPU (label gpu; skipped with the reason without
// one): F64 gradient checks through the GPU, F32 parity with the CPU at ResNet-50/MobileNet sizes,
// the cuDNN algorithm cache, bitwise-repeatable gradients in deterministic mode, running-stat
// updates, and the pools' gather backward matching the CPU bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/cuda/math_mode.h"
#include "engine/factory.h"
#include "engine/ops/conv.h"
#include "engine/ops/detail/conv_cuda.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/pool.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;

Tensor normal(const Shape& shape, uint64_t seed, DType dtype = DType::F64, double scale = 1.0) {
  Generator gen(seed);
  Tensor t = randn(shape, gen, {dtype, kCPU});
  if (scale != 1.0) t = ops::mul(t, scale);
  return t.detach().contiguous();
}

// Distinct values (a shuffled grid with spacing 0.05) so max pooling has no ties.
Tensor distinct(const Shape& shape, uint64_t seed, DType dtype = DType::F64) {
  const int64_t n = numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = 0.05 * static_cast<double>(i - n / 2);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (int64_t i = n - 1; i > 0; --i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    std::swap(v[static_cast<size_t>(i)], v[static_cast<size_t>((s >> 33) % static_cast<uint64_t>(i + 1))]);
  }
  return from_vector(v, shape).to(dtype);
}

// fn run on the GPU: CPU inputs go through the differentiable to(), outputs come back the same way,
// so gradcheck (CPU F64 inputs) checks the GPU forward and backward.
OpFn on_gpu(const OpFn& fn) {
  return [fn](const V& in) {
    V g;
    for (const Tensor& t : in) g.push_back(t.defined() ? t.to(gpu()) : Tensor());
    V out = fn(g);
    for (Tensor& o : out) {
      EXPECT_TRUE(o.is_cuda()) << "output left the GPU";
      o = o.to(kCPU);
    }
    return out;
  };
}

V with_grad(V in, size_t differentiable) {
  for (size_t i = 0; i < differentiable && i < in.size(); ++i) in[i].set_requires_grad(true);
  return in;
}

void expect_gradcheck(const OpFn& fn, const V& inputs, const std::string& what,
                      GradcheckOptions o = {}) {
  const GradcheckResult r = gradcheck(on_gpu(fn), inputs, o);
  EXPECT_TRUE(r.ok) << what << ": " << r.report;
}

// |a - e| <= rel * max|e| + rtol |e|: float results whose error grows with the reduction length.
::testing::AssertionResult close_scaled(const Tensor& actual, const Tensor& expected, double rel,
                                        double rtol, const std::string& what) {
  double peak = 0;
  for (double e : to_vector<double>(expected.to(DType::F64))) peak = std::max(peak, std::fabs(e));
  return all_close(actual.to(kCPU), expected, rel * std::max(peak, 1.0), rtol, what);
}

template <typename T>
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  const std::vector<T> va = to_vector<T>(a), vb = to_vector<T>(b);
  return va.size() == vb.size() && std::memcmp(va.data(), vb.data(), va.size() * sizeof(T)) == 0;
}

// ---- conv2d ------------------------------------------------------------------------------------

struct ConvCase {
  std::string tag;
  Shape x, w;
  bool bias;
  ops::Conv2dOptions o;
};

std::vector<ConvCase> small_conv_cases() {
  return {
      {"3x3_pad1", {2, 3, 5, 5}, {4, 3, 3, 3}, true, {.padding = 1}},
      {"stride2_groups2", {2, 4, 6, 6}, {4, 2, 3, 3}, true, {.stride = 2, .padding = 1, .groups = 2}},
      {"depthwise", {2, 3, 6, 5}, {3, 1, 3, 3}, true, {.padding = 1, .groups = 3}},
      {"depthwise_mult2_stride2", {1, 3, 7, 7}, {6, 1, 3, 3}, false, {.stride = 2, .padding = 1, .groups = 3}},
      {"depthwise_dilation2", {1, 4, 6, 7}, {4, 1, 3, 3}, true, {.padding = {2, 1}, .dilation = 2, .groups = 4}},
      {"dilation_2_1_stride2", {2, 2, 7, 6}, {2, 2, 2, 3}, false, {.stride = 2, .padding = 1, .dilation = {2, 1}}},
      {"1x1_stride2", {2, 3, 5, 5}, {4, 3, 1, 1}, true, {.stride = 2}},
      {"rect_kernel_stride_pad", {1, 3, 7, 6}, {4, 3, 3, 2}, true, {.stride = {2, 1}, .padding = {1, 0}}},
      {"pad_beyond_reach", {1, 2, 4, 4}, {2, 2, 3, 3}, true, {.padding = 2}},
  };
}

OpFn conv_fn(const ConvCase& c) {
  return [c](const V& t) { return V{ops::conv2d(t[0], t[1], c.bias ? t[2] : Tensor(), c.o)}; };
}

V conv_inputs(const ConvCase& c, DType dtype, uint64_t seed) {
  V in = {normal(c.x, seed, dtype), normal(c.w, seed + 1, dtype)};
  if (c.bias) in.push_back(normal({c.w[0]}, seed + 2, dtype));
  return in;
}

TEST(CudaConv, GradcheckF64) {
  NKD_REQUIRE_CUDA();
  const cuda::DeterministicGuard det(true);
  uint64_t seed = 10;
  for (const ConvCase& c : small_conv_cases()) {
    const V in = conv_inputs(c, DType::F64, seed += 3);
    // F64 forward equals the CPU's to rounding.
    const Tensor cpu = conv_fn(c)(in)[0];
    EXPECT_TRUE(all_close(on_gpu(conv_fn(c))(in)[0], cpu, 1e-12, 1e-12, "conv2d/" + c.tag + " F64 forward"));
    expect_gradcheck(conv_fn(c), with_grad(in, in.size()), "conv2d/" + c.tag);
  }
}

// F32 forward and all three gradients against the CPU at the sizes the nets run, in the default
// (searched, possibly non-deterministic) mode with TF32 off.
void conv_parity(const ConvCase& c, uint64_t seed) {
  const int64_t fan_in = c.w[1] * c.w[2] * c.w[3];
  V cpu_in = {normal(c.x, seed, DType::F32), normal(c.w, seed + 1, DType::F32, 1.0 / std::sqrt(double(fan_in)))};
  if (c.bias) cpu_in.push_back(normal({c.w[0]}, seed + 2, DType::F32));
  V gpu_in;
  for (Tensor& t : cpu_in) {
    gpu_in.push_back(t.to(gpu()).set_requires_grad(true));
    t.set_requires_grad(true);
  }
  const Tensor y_cpu = conv_fn(c)(cpu_in)[0], y_gpu = conv_fn(c)(gpu_in)[0];
  ASSERT_TRUE(y_gpu.is_cuda());
  EXPECT_TRUE(close_scaled(y_gpu, y_cpu, 1e-4, 1e-3, c.tag + " forward"));
  const Tensor cot = normal(y_cpu.shape(), seed + 3, DType::F32);
  y_cpu.backward(cot);
  y_gpu.backward(cot.to(gpu()));
  const char* names[] = {"grad input", "grad weight", "grad bias"};
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    ASSERT_TRUE(gpu_in[i].grad().defined()) << c.tag << " " << names[i];
    EXPECT_TRUE(gpu_in[i].grad().is_cuda());
    EXPECT_TRUE(close_scaled(gpu_in[i].grad(), cpu_in[i].grad(), 1e-4, 1e-3, c.tag + " " + names[i]));
  }
}

TEST(CudaConv, ParityResNetShapesF32) {
  NKD_REQUIRE_CUDA();
  const cuda::DeterministicGuard det(false);
  conv_parity({"resnet_3x3_64", {2, 64, 56, 56}, {64, 64, 3, 3}, false, {.padding = 1}}, 100);
  conv_parity({"resnet_1x1_256_to_64", {2, 256, 56, 56}, {64, 256, 1, 1}, false, {}}, 200);
  conv_parity({"resnet_1x1_stride2_downsample", {2, 256, 56, 56}, {512, 256, 1, 1}, false, {.stride = 2}}, 300);
  conv_parity({"resnet_stem_7x7_s2", {2, 3, 64, 64}, {64, 3, 7, 7}, false, {.stride = 2, .padding = 3}}, 400);
  conv_parity({"depthwise_3x3_s2", {2, 96, 56, 56}, {96, 1, 3, 3}, false, {.stride = 2, .padding = 1, .groups = 96}}, 500);
  conv_parity({"depthwise_3x3_s1_bias", {2, 32, 28, 28}, {32, 1, 3, 3}, true, {.padding = 1, .groups = 32}}, 600);
  conv_parity({"grouped_3x3_g4_bias", {2, 64, 14, 14}, {128, 16, 3, 3}, true, {.padding = 1, .groups = 4}}, 700);
  // The bias sum over several chunks per channel, and over odd planes (no vector accesses).
  conv_parity({"3x3_bias_chunks", {16, 8, 32, 32}, {8, 8, 3, 3}, true, {.padding = 1}}, 800);
  conv_parity({"1x1_bias_odd_plane", {4, 16, 5, 5}, {8, 16, 1, 1}, true, {}}, 900);
}

TEST(CudaConv, AlgorithmCacheHit) {
  NKD_REQUIRE_CUDA();
  const cuda::DeterministicGuard det(false);
  ops::gpu::clear_conv_algo_cache();
  const ConvCase c{"cache", {2, 16, 12, 12}, {8, 16, 3, 3}, true, {.padding = 1}};
  const auto step = [&] {
    V in = conv_inputs(c, DType::F32, 5);
    for (Tensor& t : in) t = t.to(gpu()).set_requires_grad(true);
    conv_fn(c)(in)[0].backward(normal({2, 8, 12, 12}, 6, DType::F32).to(gpu()));
  };
  step();
  const auto first = ops::gpu::conv_algo_cache_stats();
  EXPECT_EQ(first.searches, 3) << "one search per direction";
  EXPECT_EQ(first.entries, 3);
  EXPECT_EQ(first.hits, 0);
  step();
  const auto second = ops::gpu::conv_algo_cache_stats();
  EXPECT_EQ(second.searches, 3) << "the same shape must not search again";
  EXPECT_EQ(second.hits, 3);
  {
    const cuda::DeterministicGuard det_on(true);  // another mode is another key
    step();
  }
  EXPECT_EQ(ops::gpu::conv_algo_cache_stats().searches, 6);
  {
    const cuda::ExactConvGuard exact(!cuda::exact_conv());  // and so is the other exact mode
    step();
  }
  EXPECT_EQ(ops::gpu::conv_algo_cache_stats().searches, 9);
}

// Deterministic mode: two backward passes give bitwise-identical gradients (wgrad is where cuDNN's
// default algorithms accumulate with atomics).
TEST(CudaConv, DeterministicModeRepeatsBitwise) {
  NKD_REQUIRE_CUDA();
  const cuda::DeterministicGuard det(true);
  const ConvCase cases[] = {
      {"3x3_64", {8, 64, 28, 28}, {64, 64, 3, 3}, true, {.padding = 1}},
      {"depthwise_s2", {8, 96, 28, 28}, {96, 1, 3, 3}, false, {.stride = 2, .padding = 1, .groups = 96}},
  };
  for (const ConvCase& c : cases) {
    const V host = conv_inputs(c, DType::F32, 77);
    const Tensor cot = normal({c.x[0], c.w[0], c.x[2] / c.o.stride.h, c.x[3] / c.o.stride.w}, 78, DType::F32).to(gpu());
    V grads[2];
    for (V& out : grads) {
      V in;
      for (const Tensor& t : host) in.push_back(t.to(gpu()).set_requires_grad(true));
      conv_fn(c)(in)[0].backward(cot);
      for (const Tensor& t : in) out.push_back(t.grad());
    }
    for (size_t i = 0; i < grads[0].size(); ++i)
      EXPECT_TRUE(bitwise_equal<float>(grads[0][i], grads[1][i])) << c.tag << " gradient " << i;
  }
}

TEST(CudaConv, Tf32OffByDefault) {
  NKD_REQUIRE_CUDA();
  if (std::getenv("NKD_ALLOW_TF32") != nullptr) GTEST_SKIP() << "NKD_ALLOW_TF32 is set";
  EXPECT_FALSE(cuda::allow_tf32());
}

// ---- batch_norm -------------------------------------------------------------------------------

OpFn bn_fn(bool training, bool affine) {
  return [=](const V& t) {
    // t: x, running_mean, running_var[, weight, bias]; the running stats are copies per call.
    const Tensor rm = t[1].clone(), rv = t[2].clone();
    return V{ops::batch_norm(t[0], affine ? t[3] : Tensor(), affine ? t[4] : Tensor(), rm, rv,
                             {.training = training, .momentum = 0.1, .eps = 1e-5})};
  };
}

V bn_inputs(const Shape& x, DType dtype, uint64_t seed) {
  const int64_t C = x[1];
  Tensor rv = normal({C}, seed + 2, dtype);
  rv = ops::add(ops::mul(rv, rv), 0.5);  // positive
  return {normal(x, seed, dtype), normal({C}, seed + 1, dtype), rv.detach().contiguous(),
          normal({C}, seed + 3, dtype), normal({C}, seed + 4, dtype)};
}

TEST(CudaBatchNorm, GradcheckF64) {
  NKD_REQUIRE_CUDA();
  for (bool training : {true, false}) {
    for (bool affine : {true, false}) {
      for (const Shape& x : {Shape{4, 3, 3, 3}, Shape{5, 2}, Shape{1, 2, 3, 5}}) {
        V in = bn_inputs(x, DType::F64, 40);
        in[0].set_requires_grad(true);
        if (affine) {
          in[3].set_requires_grad(true);
          in[4].set_requires_grad(true);
        }
        const std::string what = std::string("batch_norm ") + (training ? "train" : "eval") +
                                 (affine ? " affine " : " ") + to_string(x);
        EXPECT_TRUE(all_close(on_gpu(bn_fn(training, affine))(in)[0], bn_fn(training, affine)(in)[0],
                              1e-12, 1e-10, what + " F64 forward"));
        expect_gradcheck(bn_fn(training, affine), in, what);
      }
    }
  }
}

// Running statistics after a training step equal the CPU's (unbiased variance, momentum), versions
// bumped; then inference with them matches too. F64 tight, F32 at float rounding.
TEST(CudaBatchNorm, RunningStatsParity) {
  NKD_REQUIRE_CUDA();
  for (DType dt : {DType::F64, DType::F32}) {
    const double tol = dt == DType::F64 ? 1e-13 : 2e-6;
    const V host = bn_inputs({4, 5, 6, 7}, dt, 90);
    const Tensor rm_c = host[1].clone(), rv_c = host[2].clone();
    const Tensor rm_g = host[1].to(gpu()), rv_g = host[2].to(gpu());
    const uint32_t v0 = rm_g.version();
    const ops::BatchNormOptions train{.training = true, .momentum = 0.25, .eps = 1e-5};
    const Tensor y_c = ops::batch_norm(host[0], host[3], host[4], rm_c, rv_c, train);
    const Tensor y_g = ops::batch_norm(host[0].to(gpu()), host[3].to(gpu()), host[4].to(gpu()), rm_g, rv_g, train);
    EXPECT_GT(rm_g.version(), v0);
    EXPECT_TRUE(all_close(rm_g.to(kCPU), rm_c, tol, tol, "running_mean"));
    EXPECT_TRUE(all_close(rv_g.to(kCPU), rv_c, tol, tol, "running_var"));
    EXPECT_TRUE(all_close(y_g.to(kCPU), y_c, 10 * tol, 10 * tol, "training output"));
    const ops::BatchNormOptions eval{.training = false, .momentum = 0.25, .eps = 1e-5};
    const Tensor e_c = ops::batch_norm(host[0], host[3], host[4], rm_c, rv_c, eval);
    const Tensor e_g = ops::batch_norm(host[0].to(gpu()), host[3].to(gpu()), host[4].to(gpu()), rm_g, rv_g, eval);
    EXPECT_TRUE(all_close(e_g.to(kCPU), e_c, 10 * tol, 10 * tol, "inference output"));
  }
  // A strided running_mean view is updated in place too.
  const V host = bn_inputs({3, 4, 5, 5}, DType::F32, 91);
  const Tensor both_c = from_vector(std::vector<float>(8, 0.5f), {4, 2});
  const Tensor both_g = both_c.to(gpu());
  const Tensor rm_c = both_c.narrow(1, 0, 1).squeeze(1), rm_g = both_g.narrow(1, 0, 1).squeeze(1);
  ASSERT_EQ(rm_g.stride(0), 2);
  (void)ops::batch_norm(host[0], Tensor(), Tensor(), rm_c, Tensor(), {.training = true});
  (void)ops::batch_norm(host[0].to(gpu()), Tensor(), Tensor(), rm_g, Tensor(), {.training = true});
  EXPECT_TRUE(all_close(both_g.to(kCPU), both_c, 1e-6, 1e-6, "strided running_mean"));
}

// F32 against the CPU over shapes that take each path of the kernels: several chunks per channel
// with 16-byte accesses (56x56), chunk boundaries inside planes (30x30), planes narrower than a
// block without vector accesses (7x7), BatchNorm1d (L = 1), and a large common offset (the
// one-pass shifted variance must not cancel).
TEST(CudaBatchNorm, ParityF32AcrossShapes) {
  NKD_REQUIRE_CUDA();
  struct Case {
    Shape x;
    double offset;
  };
  for (const Case& k : {Case{{2, 64, 56, 56}, 0}, Case{{64, 8, 30, 30}, 0}, Case{{64, 8, 30, 30}, 100},
                        Case{{16, 3, 7, 7}, 0}, Case{{300, 5}, 0}, Case{{4, 6, 3, 3}, -50}})
  for (bool training : {true, false}) {
    SCOPED_TRACE(to_string(k.x) + " offset " + std::to_string(k.offset) + (training ? " train" : " eval"));
    V cpu_in = bn_inputs(k.x, DType::F32, 120);
    cpu_in[0] = ops::add(cpu_in[0], k.offset).detach().contiguous();
    V gpu_in;
    for (size_t i = 0; i < cpu_in.size(); ++i) {
      gpu_in.push_back(cpu_in[i].to(gpu()));
      if (i == 0 || i >= 3) {
        cpu_in[i].set_requires_grad(true);
        gpu_in[i].set_requires_grad(true);
      }
    }
    const Tensor y_c = bn_fn(training, true)(cpu_in)[0], y_g = bn_fn(training, true)(gpu_in)[0];
    EXPECT_TRUE(close_scaled(y_g, y_c, 1e-5, 1e-4, "batch_norm forward"));
    const Tensor cot = normal(y_c.shape(), 121, DType::F32);
    y_c.backward(cot);
    y_g.backward(cot.to(gpu()));
    for (size_t i : {size_t{0}, size_t{3}, size_t{4}})
      EXPECT_TRUE(close_scaled(gpu_in[i].grad(), cpu_in[i].grad(), 1e-5, 1e-4,
                               "batch_norm grad of input " + std::to_string(i)));
  }
}

// ---- pools ------------------------------------------------------------------------------------

struct PoolCase {
  std::string tag;
  Shape x;
  OpFn fn;
  bool distinct;
};

std::vector<PoolCase> pool_cases() {
  const auto mp = [](ops::Pool2dOptions o) {
    return [o](const V& t) { return V{ops::max_pool2d(t[0], o)}; };
  };
  const auto ap = [](ops::Pool2dOptions o) {
    return [o](const V& t) { return V{ops::avg_pool2d(t[0], o)}; };
  };
  return {
      {"max_k3s2p1", {2, 2, 9, 9}, mp({.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}), true},
      {"max_k3s2p1_ceil", {1, 2, 7, 5}, mp({.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true}), true},
      {"max_dilation2_ceil", {2, 2, 8, 7},
       mp({.kernel = {2, 2}, .stride = {2, 2}, .padding = {1, 1}, .dilation = {2, 2}, .ceil_mode = true}), true},
      {"max_rect", {1, 2, 5, 8}, mp({.kernel = {2, 3}, .stride = {1, 2}, .padding = {0, 1}}), true},
      {"avg_k3s2p1", {2, 2, 7, 5}, ap({.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}), false},
      {"avg_exclude_pad_ceil", {1, 3, 5, 6},
       ap({.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true, .count_include_pad = false}), false},
      {"avg_ceil_clipped", {2, 2, 6, 7}, ap({.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true}), false},
      {"adaptive_3x2", {2, 3, 7, 5}, [](const V& t) { return V{ops::adaptive_avg_pool2d(t[0], 3, 2)}; }, false},
      {"adaptive_up_5x5", {2, 2, 3, 3}, [](const V& t) { return V{ops::adaptive_avg_pool2d(t[0], 5, 5)}; }, false},
      {"global", {2, 3, 5, 7}, [](const V& t) { return V{ops::global_avg_pool(t[0])}; }, false},
  };
}

TEST(CudaPool, GradcheckF64) {
  NKD_REQUIRE_CUDA();
  uint64_t seed = 60;
  for (const PoolCase& c : pool_cases()) {
    const Tensor x = c.distinct ? distinct(c.x, ++seed) : normal(c.x, ++seed);
    EXPECT_TRUE(all_close(on_gpu(c.fn)({x})[0], c.fn({x})[0], 1e-13, 1e-13, c.tag + " F64 forward"));
    expect_gradcheck(c.fn, with_grad({x}, 1), c.tag);
  }
}

// The pools run the CPU's functors: max pooling (values and gradients) and average pooling match
// the CPU bit for bit (same summation order); the global average's forward sums in another order.
TEST(CudaPool, MatchesCpuBitwiseF32) {
  NKD_REQUIRE_CUDA();
  std::vector<PoolCase> cases = pool_cases();
  cases.push_back({"resnet_stem_max", {2, 64, 112, 112},
                   [](const V& t) {
                     return V{ops::max_pool2d(t[0], {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}})};
                   },
                   false});
  cases.push_back({"resnet_head_global", {2, 2048, 7, 7}, [](const V& t) { return V{ops::global_avg_pool(t[0])}; }, false});
  uint64_t seed = 130;
  for (const PoolCase& c : cases) {
    const Tensor xc = normal(c.x, ++seed, DType::F32).set_requires_grad(true);
    const Tensor xg = xc.detach().to(gpu()).set_requires_grad(true);
    const Tensor yc = c.fn({xc})[0], yg = c.fn({xg})[0];
    const bool global = c.tag.find("global") != std::string::npos;
    if (global)
      EXPECT_TRUE(all_close(yg.to(kCPU), yc, 1e-6, 1e-6, c.tag + " forward"));
    else
      EXPECT_TRUE(bitwise_equal<float>(yg, yc)) << c.tag << " forward";
    const Tensor cot = normal(yc.shape(), ++seed, DType::F32);
    yc.backward(cot);
    yg.backward(cot.to(gpu()));
    EXPECT_TRUE(bitwise_equal<float>(xg.grad(), xc.grad())) << c.tag << " backward";
  }
}

TEST(CudaPool, MaxPoolPropagatesNaN) {
  NKD_REQUIRE_CUDA();
  std::vector<float> v(2 * 1 * 4 * 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 7) - 3.0f;
  v[5] = std::numeric_limits<float>::quiet_NaN();
  v[16 + 15] = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = from_vector(v, {2, 1, 4, 4});
  const ops::Pool2dOptions o{.kernel = {2, 2}};
  const std::vector<float> c = to_vector<float>(ops::max_pool2d(x, o));
  const std::vector<float> g = to_vector<float>(ops::max_pool2d(x.to(gpu()), o));
  ASSERT_EQ(c.size(), g.size());
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_EQ(std::isnan(c[i]), std::isnan(g[i])) << i;
    if (!std::isnan(c[i])) {
      EXPECT_EQ(c[i], g[i]) << i;
    }
  }
  EXPECT_TRUE(std::isnan(g[0]));
}

}  // namespace
}  // namespace nkd::testing
