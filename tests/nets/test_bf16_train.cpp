// Mixed precision (bf16 autocast, engine/autocast.h) on whole nets: every net's forward and
// backward under the policy (BF16 activations where the policy puts them, F32 parameters and
// gradients, weights converted once per step), and k SGD steps in bf16 staying within a stated
// distance of the same steps in F32.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/optim/optimizer.h"
#include "nets/classifier.h"
#include "tests/nets/net_test_util.h"

namespace nkd::nets {
namespace {

// Max |a - e| over max |e|.
double scaled_diff(const Tensor& a, const Tensor& e) {
  const std::vector<double> va = to_vector<double>(a), ve = to_vector<double>(e);
  double range = 0, worst = 0;
  for (size_t i = 0; i < ve.size(); ++i) range = std::max(range, std::abs(ve[i]));
  for (size_t i = 0; i < ve.size(); ++i) worst = std::max(worst, std::abs(va[i] - ve[i]));
  return worst / range;
}

// Each net: inference logits under autocast within 5% of their F32 range (eval mode: batch norm
// with running statistics; a few layers of one BF16 rounding each; train-mode batch statistics
// over 2 images would amplify any difference), and a training step under autocast giving F32
// gradients to exactly the parameters F32 training reaches, each BF16 weight copy made once.
TEST(Bf16Nets, EveryNetTrainsUnderAutocast) {
  for (const char* name : {"resnet18", "resnet50", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2", "swin_tiny"}) {
    SCOPED_TRACE(name);
    const bool swin = std::string(name) == "swin_tiny";
    const auto net = build_net(name, {.num_classes = 7, .width = 0.25, .small_input = !swin}, 3);
    Generator gen(1);
    const int64_t side = swin ? 224 : 32;
    const Tensor x = randn({2, 3, side, side}, gen);
    const Tensor labels = from_vector<int64_t>({1, 6}, {2});
    net->eval();
    {
      NoGradGuard no_grad;
      const Tensor f32_logits = net->forward(x);
      const PrecisionGuard bf16(Precision::kBf16);
      const Tensor logits = net->forward(x);
      EXPECT_EQ(logits.dtype(), DType::BF16);  // the head is a linear layer: BF16 out
      const double d = scaled_diff(logits, f32_logits);
      std::printf("[ bf16 ] %s inference logits: largest difference %.4f of the F32 range\n", name, d);
      EXPECT_LE(d, 0.05);
    }
    net->train();
    testing::cross_entropy(net->forward(x), labels).backward();
    std::vector<bool> reached;
    for (const Tensor& p : net->parameters()) {
      reached.push_back(p.grad().defined());
      p.zero_grad();
    }
    const int64_t before = autocast_weight_conversions();
    {
      const PrecisionGuard bf16(Precision::kBf16);
      testing::cross_entropy(widen_to_f32(net->forward(x)), labels).backward();
    }
    const int64_t converted = autocast_weight_conversions() - before;
    EXPECT_GT(converted, 0);
    int64_t matrices = 0;  // conv and linear weights: each converted once, at most one more (its bias)
    size_t k = 0;
    for (const auto& [pname, p] : net->named_parameters()) {
      matrices += p.ndim() >= 2 && pname.find("relative_position") == std::string::npos;
      ASSERT_EQ(p.dtype(), DType::F32) << pname;
      ASSERT_EQ(p.grad().defined(), reached[k++]) << pname;
      if (!p.grad().defined()) continue;
      EXPECT_EQ(p.grad().dtype(), DType::F32) << pname;
      EXPECT_TRUE(testing::all_finite(p.grad())) << pname;
    }
    EXPECT_GE(converted, matrices);
    EXPECT_LE(converted, 2 * matrices);
  }
}

struct TrainRun {
  std::vector<double> losses;
  std::vector<Tensor> params;
};

// k SGD steps (momentum 0.9, lr 0.05) of a quarter-width ResNet-18 on one batch of 8 images.
TrainRun train_steps(Precision precision, int k) {
  const auto net = build_net("resnet18", {.num_classes = 10, .width = 0.25, .small_input = true}, 7);
  Generator gen(2);
  const Tensor x = randn({8, 3, 16, 16}, gen);
  const Tensor labels = from_vector<int64_t>({3, 1, 4, 1, 5, 9, 2, 6}, {8});
  optim::Sgd sgd({{net->parameters()}}, {.momentum = 0.9});
  TrainRun r;
  for (int step = 0; step < k; ++step) {
    sgd.zero_grad();
    {
      const PrecisionGuard guard(precision);
      const Tensor loss = testing::cross_entropy(widen_to_f32(net->forward(x)), labels);
      r.losses.push_back(loss.item());
      loss.backward();
    }
    sgd.step(0.05);
  }
  for (const Tensor& p : net->parameters()) r.params.push_back(p.detach().clone());
  return r;
}

// Stated distance after k = 8 steps: each step's loss within 1% of the F32 run's first loss, and
// the parameters' relative L2 distance ||p_bf16 - p_f32|| / ||p_f32 - p_0||, the drift measured
// against the distance training moved them, at most 10%. Measured on 2026-12-07 (CPU): loss
// difference 0.0014 (of 2.29), drift 0.024; with the BF16 weight copies cut off from their F32
// parameters (autocast_weight detached) the drift is 1.0 and the loss difference 1.48.
TEST(Bf16Train, StepsStayNearF32) {
  constexpr int kSteps = 8;
  const TrainRun f32 = train_steps(Precision::kFp32, kSteps), b16 = train_steps(Precision::kBf16, kSteps);
  const TrainRun init = train_steps(Precision::kFp32, 0);
  double worst_loss = 0;
  for (int s = 0; s < kSteps; ++s) worst_loss = std::max(worst_loss, std::abs(b16.losses[s] - f32.losses[s]));
  double diff = 0, moved = 0;
  for (size_t i = 0; i < f32.params.size(); ++i) {
    const std::vector<double> a = to_vector<double>(b16.params[i]), b = to_vector<double>(f32.params[i]),
                              p0 = to_vector<double>(init.params[i]);
    ASSERT_EQ(b16.params[i].dtype(), DType::F32);
    for (size_t j = 0; j < a.size(); ++j) {
      diff += (a[j] - b[j]) * (a[j] - b[j]);
      moved += (b[j] - p0[j]) * (b[j] - p0[j]);
    }
  }
  const double rel = std::sqrt(diff / moved);
  std::printf("[ bf16 ] resnet18 x0.25, %d SGD steps: loss %.4f -> %.4f (F32) vs %.4f -> %.4f (bf16); "
              "largest loss difference %.4f; parameter drift %.4f of the F32 update\n",
              kSteps, f32.losses.front(), f32.losses.back(), b16.losses.front(), b16.losses.back(), worst_loss,
              rel);
  EXPECT_LT(f32.losses.back(), f32.losses.front());
  EXPECT_LT(b16.losses.back(), b16.losses.front());
  EXPECT_LE(worst_loss, 0.01 * f32.losses.front());
  EXPECT_LE(rel, 0.10);
  EXPECT_GT(rel, 0.0);  // bf16 really ran (not F32 twice)
}

}  // namespace
}  // namespace nkd::nets
