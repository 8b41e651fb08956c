// The inference form (nets/inference.h) of every net of the zoo: its logits equal the eval-mode
// net's within 2e-5 of the largest logit (the folded weights round differently, and the 3x3
// stride-1 convolutions run as Winograd F(4x4, 3x3): measured at most ~2e-6 in F32), the convolution nets run folded and fused (Swin runs its own no-grad forward and
// equals it exactly), and building and running it leaves the net's state dict untouched.
#include <gtest/gtest.h>

#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/ops/view.h"
#include "layers/basic.h"
#include "tests/nets/inference_check.h"

namespace nkd::testing {
namespace {

constexpr double kTolerance = 2e-5;

TEST(InferenceNet, EveryNetMatchesItsEvalModeForward) {
  Generator gen(11);
  for (const InferenceCase& c : inference_cases()) {
    SCOPED_TRACE(c.net + " " + std::to_string(c.size) + " px");
    const auto net = net_with_bn_statistics(c, gen);
    const Tensor x = randn({3, c.options.in_channels, c.size, c.size}, gen);
    const Tensor expected = eval_logits(*net, x);
    NamedTensors before;
    for (const auto& [name, t] : net->state_dict()) before.emplace_back(name, t.clone());

    const nets::InferenceNet form(net);
    EXPECT_EQ(form.fused(), c.net != "swin_tiny");
    const Tensor logits = form(x);  // grad mode on: the form turns it off itself
    EXPECT_FALSE(logits.requires_grad());
    EXPECT_EQ(logits.dtype(), DType::F32);
    ASSERT_EQ(logits.shape(), expected.shape());
    const double diff = relative_max_diff(logits, expected);
    EXPECT_LE(diff, c.net == "swin_tiny" ? 0.0 : kTolerance);
    std::cout << c.net << " " << c.size << " px: relative max diff " << diff << ", max logit "
              << relative_max_diff(expected, zeros(expected.shape())) << "\n";

    const NamedTensors after = net->state_dict();
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
      ASSERT_EQ(after[i].first, before[i].first);
      EXPECT_EQ(relative_max_diff(after[i].second, before[i].second), 0.0) << after[i].first;
    }
    const nets::InferenceNet plain(net, /*fuse=*/false);
    EXPECT_FALSE(plain.fused());
    EXPECT_EQ(relative_max_diff(plain(x), expected), 0.0);
  }
}

TEST(InferenceNet, NeedsAnEvalModeNet) {
  Generator gen(3);
  auto net = net_with_bn_statistics(inference_cases()[0], gen);
  net->train();
  EXPECT_THROW(nets::InferenceNet{net}, Error);
  net->eval();
  const nets::InferenceNet form(net);
  EXPECT_NO_THROW(form(randn({2, 1, 28, 28}, gen)));
}

// Under bf16 autocast (a bf16 run's teacher) the form's convolutions take BF16 operands (the folded
// weights rounded once per autocast scope) and the head runs in F32: the logits are F32 and stay
// within kBf16Tolerance of the largest F32 logit (bf16 keeps 8 significant bits, relative rounding
// 2^-9 per operand and per layer output; measured up to 1.9e-2 over these depths, Swin the largest). Every net runs
// its whole form with BF16 activations (residual adds, shuffles, pools, Swin's own forward).
TEST(InferenceNet, Bf16AutocastKeepsF32LogitsNearTheF32Form) {
  constexpr double kBf16Tolerance = 4e-2;
  Generator gen(13);
  for (const InferenceCase& c : inference_cases()) {
    SCOPED_TRACE(c.net + " " + std::to_string(c.size) + " px");
    const auto net = net_with_bn_statistics(c, gen);
    const Tensor x = randn({2, c.options.in_channels, c.size, c.size}, gen);
    const nets::InferenceNet form(net);
    const Tensor f32 = form(x);
    Tensor bf16, again;
    int64_t conversions = 0;
    {
      const AutocastGuard autocast(true);
      const int64_t before = autocast_weight_conversions();
      bf16 = form(x);
      conversions = autocast_weight_conversions() - before;
      again = form(x);  // the same scope: no new weight copies
      EXPECT_EQ(autocast_weight_conversions() - before, conversions);
    }
    EXPECT_GT(conversions, 0) << "the form's convolutions did not run in BF16";
    EXPECT_EQ(bf16.dtype(), DType::F32);
    EXPECT_FALSE(bf16.requires_grad());
    EXPECT_EQ(relative_max_diff(again, bf16), 0.0);
    const double diff = relative_max_diff(bf16, f32);
    EXPECT_GT(diff, 0.0) << "bf16 logits equal the F32 ones: BF16 was not used";
    EXPECT_LE(diff, kBf16Tolerance);
    std::cout << c.net << " " << c.size << " px bf16: relative max diff " << diff << " from F32, " << conversions
              << " BF16 copies\n";
  }
}

// A Sequential is fused conv by conv, each taking the batch norm and the activation after it.
TEST(InferenceNet, FusesASequentialOfConvBatchNormActivation) {
  Generator gen(5);
  auto seq = std::make_shared<layers::Sequential>();
  auto bn = std::make_shared<layers::BatchNorm2d>(6);
  seq->add(std::make_shared<layers::Conv2d>(layers::Conv2dOptions{.in = 3, .out = 6, .kernel = 3, .padding = 1}))
      .add(bn)
      .add(layers::relu6())
      .add(std::make_shared<layers::Conv2d>(layers::Conv2dOptions{.in = 6, .out = 4, .kernel = 1}))
      .add(layers::relu());
  layers::init::uniform(bn->running_mean, -1, 1, gen);
  layers::init::uniform(bn->running_var, 0.5, 2, gen);
  seq->eval();
  const Tensor x = ops::mul(randn({2, 3, 8, 8}, gen), 4.0);
  const nets::InferenceFn f = nets::fuse_module(*seq);
  NoGradGuard no_grad;
  EXPECT_LE(relative_max_diff(f(x), seq->forward(x)), kTolerance);
}

}  // namespace
}  // namespace nkd::testing
