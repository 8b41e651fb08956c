// BF16 on the GPU (label gpu; skipped with the reason without a GPU): every op-table case in BF16
// on the GPU against the same BF16 inputs on the CPU (F32 arithmetic on both, one rounding per
// output: they may differ by the order of F32 sums, i.e. about one BF16 step), forward and input
// gradients; and one bf16-autocast training step of a small ResNet-18 on both devices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/autocast.h"
#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/ops/matmul.h"
#include "engine/ops/conv.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "tests/support/op_table.h"

namespace nkd::testing {
namespace {

// As the op table's BF16 rows (tests/engine/test_op_table.cpp): |gpu - cpu| <= 2^-7 (|cpu| + max |cpu|).
constexpr double kTol = 1.0 / 128;

::testing::AssertionResult close_bf16(const Tensor& gpu_t, const Tensor& cpu_t, const std::string& what) {
  double scale = 0;
  for (double v : to_vector<double>(cpu_t)) scale = std::max(scale, std::abs(v));
  return all_close(gpu_t.to(kCPU), cpu_t, kTol * scale, kTol, what);
}

std::vector<Tensor> bf16_inputs(const OpCase& c, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& t : make_inputs(c, DType::F64, false)) {
    Tensor h = is_floating(t.dtype()) ? t.to(DType::BF16) : t;
    h = h.to(device);
    if (is_floating(t.dtype()) && c.inputs[out.size()].differentiable) h.set_requires_grad(true);
    out.push_back(h);
  }
  return out;
}

class CudaBf16 : public ::testing::TestWithParam<OpCase> {};

std::string param_name(const ::testing::TestParamInfo<OpCase>& info) {
  std::string s = info.param.name;
  std::replace_if(s.begin(), s.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
  return s;
}

TEST_P(CudaBf16, MatchesCpu) {
  NKD_REQUIRE_CUDA();
  const OpCase& c = GetParam();
  const std::vector<Tensor> cpu_in = bf16_inputs(c, kCPU), gpu_in = bf16_inputs(c, gpu());
  const std::vector<Tensor> cpu_out = c.fn(cpu_in), gpu_out = c.fn(gpu_in);
  ASSERT_EQ(cpu_out.size(), gpu_out.size());
  const std::vector<Tensor> cot = random_cotangents(cpu_out, 5);
  for (size_t k = 0; k < cpu_out.size(); ++k) {
    EXPECT_TRUE(gpu_out[k].is_cuda()) << c.name;
    EXPECT_EQ(gpu_out[k].dtype(), cpu_out[k].dtype()) << c.name;
    EXPECT_TRUE(close_bf16(gpu_out[k], cpu_out[k], c.name + " output " + std::to_string(k)));
  }
  std::vector<Tensor> roots_c, roots_g, grads_c, grads_g;
  for (size_t k = 0; k < cpu_out.size(); ++k) {
    if (!cot[k].defined() || !cpu_out[k].requires_grad()) continue;
    roots_c.push_back(cpu_out[k]);
    roots_g.push_back(gpu_out[k]);
    grads_c.push_back(cot[k].to(cpu_out[k].dtype()));
    grads_g.push_back(grads_c.back().to(gpu()));
  }
  if (roots_c.empty()) return;
  run_backward(roots_c, grads_c, false);
  run_backward(roots_g, grads_g, false);
  for (size_t j = 0; j < cpu_in.size(); ++j) {
    if (!cpu_in[j].grad().defined()) continue;
    ASSERT_TRUE(gpu_in[j].grad().defined()) << c.name << " input " << j;
    EXPECT_EQ(gpu_in[j].grad().dtype(), cpu_in[j].grad().dtype()) << c.name;
    EXPECT_TRUE(close_bf16(gpu_in[j].grad(), cpu_in[j].grad(), c.name + " grad of input " + std::to_string(j)));
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaBf16, ::testing::ValuesIn(op_cases()), param_name);

// The calls that take BF16 to cuDNN and cuBLAS(Lt) at shapes of a real net (tensor-core sizes).
TEST(CudaBf16Libraries, ConvAndGemmAtNetShapes) {
  NKD_REQUIRE_CUDA();
  Generator gen(3);
  const Tensor x = randn({8, 64, 28, 28}, gen).to(DType::BF16), w = randn({128, 64, 3, 3}, gen).to(DType::BF16);
  const Tensor b = randn({128}, gen).to(DType::BF16);
  const ops::Conv2dOptions o{.stride = {2, 2}, .padding = {1, 1}};
  EXPECT_TRUE(close_bf16(ops::conv2d(x.to(gpu()), w.to(gpu()), b.to(gpu()), o), ops::conv2d(x, w, b, o), "conv"));
  const Tensor a = randn({256, 512}, gen).to(DType::BF16), lw = randn({1000, 512}, gen).to(DType::BF16);
  const Tensor lb = randn({1000}, gen).to(DType::BF16);
  EXPECT_TRUE(close_bf16(ops::linear(a.to(gpu()), lw.to(gpu()), lb.to(gpu())), ops::linear(a, lw, lb), "linear"));
  const Tensor q = randn({4, 3, 49, 32}, gen).to(DType::BF16), k = randn({4, 3, 32, 49}, gen).to(DType::BF16);
  EXPECT_TRUE(close_bf16(ops::matmul(q.to(gpu()), k.to(gpu())), ops::matmul(q, k), "batched matmul"));
}

}  // namespace
}  // namespace nkd::testing
