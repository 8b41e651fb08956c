// The inference form on the GPU (label gpu; skipped with the reason without one): for every net of
// the zoo, the form built on the GPU (folded weights on the device, conv2d_fused = cuDNN + bias,
// then add and the activation) gives the CPU eval-mode net's logits within 1e-4 of the largest
// logit, with exact cuDNN algorithms (no FFT / Winograd; CPU folding rounds within 2e-5); under
// bf16 autocast it runs in BF16 with F32 logits.
#include <gtest/gtest.h>

#include <iostream>

#include "engine/autocast.h"
#include "engine/cuda/math_mode.h"
#include "layers/conv.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/nets/inference_check.h"

namespace nkd::testing {
namespace {

TEST(InferenceNetCuda, EveryNetMatchesTheCpuEvalForward) {
  NKD_REQUIRE_CUDA();
  const cuda::ExactConvGuard exact(true);
  Generator gen(11);
  for (const InferenceCase& c : inference_cases()) {
    SCOPED_TRACE(c.net + " " + std::to_string(c.size) + " px");
    const auto net = net_with_bn_statistics(c, gen);
    const Tensor x = randn({3, c.options.in_channels, c.size, c.size}, gen);
    const Tensor expected = eval_logits(*net, x);
    net->to(gpu());
    const nets::InferenceNet form(net);
    EXPECT_EQ(form.fused(), c.net != "swin_tiny");
    const Tensor logits = form(x.to(gpu()));
    EXPECT_TRUE(logits.is_cuda());
    const double diff = relative_max_diff(logits, expected);
    std::cout << c.net << " " << c.size << " px on the GPU: relative max diff " << diff << "\n";
    EXPECT_LE(diff, 1e-4);
  }
}

// A bf16 run's teacher on the GPU: the form's convolutions run in cuDNN's BF16 (a fused conv's
// output is BF16, not an F32 copy's), the logits are F32 and within 4e-2 of the largest CPU F32
// logit (the CPU test's bf16 tolerance: test_inference.cpp).
TEST(InferenceNetCuda, Bf16FormRunsInBf16WithF32Logits) {
  NKD_REQUIRE_CUDA();
  Generator gen(13);
  for (const InferenceCase& c : inference_cases()) {
    SCOPED_TRACE(c.net + " " + std::to_string(c.size) + " px");
    const auto net = net_with_bn_statistics(c, gen);
    const Tensor x = randn({2, c.options.in_channels, c.size, c.size}, gen);
    const Tensor expected = eval_logits(*net, x);
    net->to(gpu());
    const nets::InferenceNet form(net);
    const AutocastGuard autocast(true);
    const Tensor logits = form(x.to(gpu()));
    EXPECT_TRUE(logits.is_cuda());
    EXPECT_EQ(logits.dtype(), DType::F32);
    const double diff = relative_max_diff(logits, expected);
    std::cout << c.net << " " << c.size << " px on the GPU in bf16: relative max diff " << diff << "\n";
    EXPECT_LE(diff, 4e-2);
  }
  // One fused convolution: BF16 in, BF16 out through cuDNN.
  auto conv = std::make_shared<layers::Conv2d>(layers::Conv2dOptions{.in = 8, .out = 16, .kernel = 3, .padding = 1});
  conv->to(gpu());
  const nets::FusedConv fc(*conv, nullptr, ops::Act::kReLU);
  NoGradGuard no_grad;
  const AutocastGuard autocast(true);
  EXPECT_EQ(fc(randn({2, 8, 10, 10}, gen).to(gpu())).dtype(), DType::BF16);
}

}  // namespace
}  // namespace nkd::testing
