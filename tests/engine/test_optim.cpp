// Optimizers, gradient clipping and LR schedules against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/factory.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/optimizer.h"

namespace nkd::optim {
namespace {

Tensor param(std::vector<double> v) {
  Tensor p = from_vector(v, {static_cast<int64_t>(v.size())});
  p.set_requires_grad(true);
  return p;
}

TEST(Sgd, MomentumWeightDecayAndNesterovMatchTheFormulas) {
  for (bool nesterov : {false, true}) {
    Tensor p = param({1.0, -2.0});
    Sgd opt({{.params = {p}}}, {.momentum = 0.9, .weight_decay = 0.01, .nesterov = nesterov});
    double x[2] = {1.0, -2.0}, buf[2] = {0, 0};
    const double grads[3][2] = {{0.5, -1.0}, {0.25, 2.0}, {-1.0, 0.0}};
    for (int s = 0; s < 3; ++s) {
      p.set_grad(from_vector<double>({grads[s][0], grads[s][1]}, {2}));
      opt.step(0.1);
      for (int i = 0; i < 2; ++i) {
        const double d = grads[s][i] + 0.01 * x[i];
        buf[i] = s == 0 ? d : 0.9 * buf[i] + d;
        x[i] -= 0.1 * (nesterov ? d + 0.9 * buf[i] : buf[i]);
      }
      const std::vector<double> got = to_vector<double>(p);
      EXPECT_NEAR(got[0], x[0], 1e-14);
      EXPECT_NEAR(got[1], x[1], 1e-14);
    }
  }
}

TEST(Sgd, GroupMultipliersAndParametersWithoutGradients) {
  Tensor a = param({1.0}), b = param({1.0}), c = param({1.0});
  Sgd opt({{.params = {a}}, {.params = {b, c}, .lr_mult = 2.0, .decay_mult = 0.0}},
          {.weight_decay = 0.5});
  a.set_grad(ones({1}, {DType::F64}));
  b.set_grad(ones({1}, {DType::F64}));
  opt.step(0.1);
  EXPECT_NEAR(to_vector<double>(a)[0], 1 - 0.1 * (1 + 0.5), 1e-15);
  EXPECT_NEAR(to_vector<double>(b)[0], 1 - 0.2 * 1, 1e-15);
  EXPECT_EQ(to_vector<double>(c)[0], 1.0);  // no gradient: untouched
}

TEST(Sgd, StateRoundTripContinuesIdentically) {
  auto run = [](bool reload) {
    Tensor p = param({0.5, 1.5});
    auto opt = std::make_unique<Sgd>(std::vector<ParamGroup>{{.params = {p}}}, SgdOptions{.momentum = 0.9});
    for (int s = 0; s < 4; ++s) {
      if (reload && s == 2) {
        const auto state = opt->state();
        opt = std::make_unique<Sgd>(std::vector<ParamGroup>{{.params = {p}}}, SgdOptions{.momentum = 0.9});
        opt->load_state(state);
      }
      p.set_grad(from_vector<double>({1.0 + s, -0.5 * s}, {2}));
      opt->step(0.1);
    }
    return to_vector<double>(p);
  };
  EXPECT_EQ(run(false), run(true));
}

TEST(AdamW, MatchesTheFormula) {
  Tensor p = param({0.3});
  AdamW opt({{.params = {p}}}, {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.05});
  double x = 0.3, m = 0, v = 0;
  for (int t = 1; t <= 5; ++t) {
    const double g = 0.1 * t - 0.2;
    p.set_grad(from_vector<double>({g}, {1}));
    opt.step(0.01);
    x *= 1 - 0.01 * 0.05;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    x -= 0.01 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
    EXPECT_NEAR(to_vector<double>(p)[0], x, 1e-14);
  }
}

TEST(ClipGradNorm, ScalesToMaxNorm) {
  Tensor a = param({0, 0}), b = param({0});
  a.set_grad(from_vector<double>({3, 0}, {2}));
  b.set_grad(from_vector<double>({4}, {1}));
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b}, 1.0), 5.0);
  EXPECT_NEAR(to_vector<double>(a.grad())[0], 3.0 / (5 + 1e-6), 1e-12);
  EXPECT_NEAR(to_vector<double>(b.grad())[0], 4.0 / (5 + 1e-6), 1e-12);
  EXPECT_NEAR(clip_grad_norm({a, b}, 10.0), 1.0, 1e-6);  // below the limit: unchanged
  EXPECT_NEAR(to_vector<double>(b.grad())[0], 4.0 / (5 + 1e-6), 1e-12);
}

TEST(LrSchedule, StepCosinePolyExpAndWarmups) {
  // ResNet recipe: step x0.1 at epochs 30, 60, 90 (10 iterations per epoch here).
  LrSchedule step(0.1, {.policy = LrPolicy::Step, .steps = {30, 60, 90}}, 100, 10);
  EXPECT_DOUBLE_EQ(step.at(0), 0.1);
  EXPECT_DOUBLE_EQ(step.at(299), 0.1);
  EXPECT_NEAR(step.at(300), 0.01, 1e-15);
  EXPECT_NEAR(step.at(999), 1e-4, 1e-17);
  // Cosine per iteration to 0 (the Fashion-MNIST recipe).
  LrSchedule cos(0.1, {.policy = LrPolicy::Cosine, .by_epoch = false}, 2, 50);
  EXPECT_DOUBLE_EQ(cos.at(0), 0.1);
  EXPECT_NEAR(cos.at(50), 0.05, 1e-15);
  EXPECT_NEAR(cos.at(25), 0.05 * (1 + std::cos(M_PI / 4)), 1e-15);
  // Poly power 1 per iteration with a constant warm-up (ShuffleNetV2 recipe shape).
  LrSchedule poly(0.5, {.policy = LrPolicy::Poly, .by_epoch = false, .warmup = Warmup::Constant,
                        .warmup_iters = 5, .warmup_ratio = 0.1}, 1, 100);
  EXPECT_NEAR(poly.at(0), 0.05, 1e-15);
  EXPECT_NEAR(poly.at(4), 0.5 * 0.96 * 0.1, 1e-15);
  EXPECT_NEAR(poly.at(50), 0.25, 1e-15);
  // Exponential x0.98 per epoch (MobileNetV2 recipe).
  LrSchedule ex(0.045, {.policy = LrPolicy::Exp, .gamma = 0.98}, 300, 10);
  EXPECT_NEAR(ex.at(25), 0.045 * 0.98 * 0.98, 1e-15);
  // Linear warm-up from ratio 1e-3 over 20 iterations on a constant schedule.
  LrSchedule lin(1.0, {.warmup = Warmup::Linear, .warmup_iters = 20, .warmup_ratio = 1e-3}, 1, 100);
  EXPECT_NEAR(lin.at(0), 1e-3, 1e-15);
  EXPECT_NEAR(lin.at(10), 1 - 0.5 * (1 - 1e-3), 1e-15);
  EXPECT_DOUBLE_EQ(lin.at(20), 1.0);
}

TEST(LrSchedule, WarmupByEpochIsConvertedToIterationsByTheSchedule) {
  // 2 warm-up epochs of 10 iterations: the same values, bit for bit, as 20 warm-up iterations.
  const LrScheduleOptions by_iter = {.policy = LrPolicy::Cosine, .warmup = Warmup::Linear, .warmup_iters = 20,
                                     .warmup_ratio = 1e-3};
  LrScheduleOptions by_epoch = by_iter;
  by_epoch.warmup_iters = 2;
  by_epoch.warmup_by_epoch = true;
  const LrSchedule a(0.5, by_iter, 5, 10), b(0.5, by_epoch, 5, 10);
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(a.at(i), b.at(i)) << "iteration " << i;
  const LrSchedule plain(0.5, {.policy = LrPolicy::Cosine}, 5, 10);
  EXPECT_LT(b.at(19), plain.at(19));  // still warming up at 19, the regular schedule from 20
  EXPECT_EQ(b.at(20), plain.at(20));
}

TEST(Optimizer, EachStepTakesItsLearningRate) {
  // The optimizer holds no lr: two steps with 0.1 and 0.01 move by 0.1 g1 + 0.01 g2.
  Tensor p = param({1.0});
  Sgd opt({{.params = {p}}}, {});
  p.set_grad(from_vector<double>({2.0}, {1}));
  opt.step(0.1);
  p.set_grad(from_vector<double>({3.0}, {1}));
  opt.step(0.01);
  EXPECT_EQ(to_vector<double>(p)[0], (1.0 - 0.1 * 2.0) - 0.01 * 3.0);
}

}  // namespace
}  // namespace nkd::optim
