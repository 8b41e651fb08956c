// The inference form on the GPU (label gpu; skipped with the reason without one): for every net of
// the zoo, the form built on the GPU (folded weights on the device, conv2d_fused = cuDNN + bias,
// then add and the activation) gives the CPU eval-mode net's logits within 1e-4 of the largest
// logit, with exact cuDNN algorithms (no FFT / Winograd; CPU folding rounds within 2e-5).
#include <gtest/gtest.h>

#include <iostream>

#include "engine/cuda/math_mode.h"
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
    Tensor expected;
    {
      NoGradGuard no_grad;
      expected = net->forward(x);
    }
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

}  // namespace
}  // namespace nkd::testing
