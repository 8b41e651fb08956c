// Loss values: hand-computed cross-entropy (label smoothing, soft targets), finite values and gradients
// at logits of +-1e4 and C = 2, F32 against F64, no-grad mode, grad_output scaling and the Zipf order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/elementwise.h"
#include "losses/losses.h"
#include "losses/uskd_math.h"
#include "tests/losses/loss_inputs.h"

namespace nkd::testing {
namespace {

// lse(1, 2, 3) = 3 + log(1 + e^-1 + e^-2).
const double kLse123 = 3.0 + std::log(1.0 + std::exp(-1.0) + std::exp(-2.0));

TEST(LossValues, CrossEntropyHandComputed) {
  const Tensor z = from_vector<double>({1, 2, 3}, {1, 3});
  const Tensor hard = from_vector<int64_t>({2}, {1}), soft = from_vector<double>({0.3, 0, 0.7}, {1, 3});
  // -log p_2 = lse - 3; smoothing 0.1: t = (0.1/3, 0.1/3, 0.9 + 0.1/3), sum t z = 2.9.
  EXPECT_NEAR(losses::cross_entropy(z, hard).item(), kLse123 - 3.0, 1e-15);
  EXPECT_NEAR(losses::cross_entropy(z, hard, {.label_smoothing = 0.1}).item(), kLse123 - 2.9, 1e-15);
  // soft: sum t z = 0.3 + 2.1 = 2.4; smoothed: t = 0.9 (0.3, 0, 0.7) + 0.1/3, sum t z = 2.16 + 0.2 = 2.36.
  EXPECT_NEAR(losses::cross_entropy(z, soft).item(), kLse123 - 2.4, 1e-15);
  EXPECT_NEAR(losses::cross_entropy(z, soft, {.label_smoothing = 0.1}).item(), kLse123 - 2.36, 1e-15);
  // The batch mean: rows (1, 2, 3) with label 0 and (0, 0, 0) with label 1.
  const Tensor z2 = from_vector<double>({1, 2, 3, 0, 0, 0}, {2, 3});
  const double expected = ((kLse123 - 1.0) + std::log(3.0)) / 2;
  EXPECT_NEAR(losses::cross_entropy(z2, from_vector<int64_t>({0, 1}, {2})).item(), expected, 1e-15);
}

TEST(LossValues, CrossEntropyAtExtremeLogitsIsExact) {
  const Tensor z = from_vector<double>({1e4, -1e4, -1e4, 1e4}, {2, 2});
  EXPECT_EQ(losses::cross_entropy(z, from_vector<int64_t>({1, 1}, {2})).item(), 1e4);  // (2e4 + 0) / 2
  EXPECT_EQ(losses::cross_entropy(z, from_vector<int64_t>({0, 1}, {2})).item(), 0.0);
}

// Every loss on `z` (and a teacher v), all label formats that apply: {name, value, logits grad}.
struct Evaluated {
  std::string name;
  double value;
  std::vector<double> grad;
};

std::vector<Evaluated> evaluate_all(int64_t n, int64_t c, double scale, DType dt) {
  std::vector<Evaluated> out;
  const auto run = [&](const std::string& name, const std::function<Tensor(const Tensor&)>& f) {
    const Tensor z = logits_for(n, c, 31, scale, dt);
    const Tensor l = f(z);
    l.backward();
    out.push_back({name, l.item(), to_vector<double>(z.grad())});
  };
  const Tensor v = logits_for(n, c, 32, scale, dt, false), h = logits_for(n, 3, 33, 1.0, dt, false);
  const Tensor w = logits_for(c, 3, 34, scale, dt, false), b = zeros({c}, {dt, kCPU});
  const Tensor hard = index_labels(n, c, 35), soft = soft_labels(n, c, 36, {1}, dt);
  for (const Tensor& y : {hard, soft}) {
    const std::string fmt = y.ndim() == 1 ? " index" : " soft";
    run("ce" + fmt, [&](const Tensor& z) { return losses::cross_entropy(z, y, {.label_smoothing = 0.1}); });
    run("nkd" + fmt, [&](const Tensor& z) { return losses::nkd_loss(z, v, y, {.temperature = 2}); });
    run("tf_nkd" + fmt, [&](const Tensor& z) { return losses::tf_nkd_loss(z, y)[0]; });
    run("uskd" + fmt, [&](const Tensor& z) { return losses::uskd_loss(h, z, y, w, b); });
  }
  run("kd", [&](const Tensor& z) { return losses::kd_loss(z, v); });
  run("dkd", [&](const Tensor& z) { return losses::dkd_loss(z, v, hard); });
  return out;
}

TEST(LossValues, FiniteAtExtremeLogits) {
  for (const DType dt : {DType::F32, DType::F64})
    for (const int64_t c : {2, 5})
      for (const Evaluated& e : evaluate_all(4, c, 1e4, dt)) {
        SCOPED_TRACE(e.name + " C=" + std::to_string(c) + " " + name(dt));
        EXPECT_TRUE(std::isfinite(e.value)) << e.value;
        for (double g : e.grad) ASSERT_TRUE(std::isfinite(g)) << g;
      }
}

TEST(LossValues, F32AgreesWithF64) {
  const std::vector<Evaluated> a = evaluate_all(6, 9, 2.0, DType::F32), b = evaluate_all(6, 9, 2.0, DType::F64);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].name);
    EXPECT_NEAR(a[i].value, b[i].value, 1e-5 * (1 + std::abs(b[i].value)));
    for (size_t j = 0; j < a[i].grad.size(); ++j) EXPECT_NEAR(a[i].grad[j], b[i].grad[j], 1e-6);
  }
}

TEST(LossValues, OutputIsAScalarOfTheLogitsDtype) {
  const Tensor z = logits_for(3, 4, 41, 1.0, DType::F32);
  const Tensor l = losses::cross_entropy(z, index_labels(3, 4, 42));
  EXPECT_EQ(l.ndim(), 0);
  EXPECT_EQ(l.dtype(), DType::F32);
  EXPECT_TRUE(l.requires_grad());
  NoGradGuard no_grad;
  EXPECT_FALSE(losses::cross_entropy(z, index_labels(3, 4, 42)).requires_grad());
}

TEST(LossValues, BackwardScalesByGradOutputAndSumsTerms) {
  const Tensor z = logits_for(3, 4, 43), y = soft_labels(3, 4, 44);
  losses::nkd_loss(z, logits_for(3, 4, 45, 2.0, DType::F64, false), y).backward();
  const std::vector<double> g1 = to_vector<double>(z.grad());
  z.zero_grad();
  ops::mul(losses::nkd_loss(z, logits_for(3, 4, 45, 2.0, DType::F64, false), y), 3.0).backward();
  const std::vector<double> g3 = to_vector<double>(z.grad());
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g3[i], 3 * g1[i], 1e-15);
  // tf-NKD's two terms: the gradient of 2 * t0 + t1 is 2 g(t0) + g(t1).
  std::vector<std::vector<double>> g(2);
  for (int k = 0; k < 2; ++k) {
    z.zero_grad();
    losses::tf_nkd_loss(z, y)[k].backward();
    g[k] = to_vector<double>(z.grad());
  }
  z.zero_grad();
  const std::vector<Tensor> t = losses::tf_nkd_loss(z, y);
  ops::add(ops::mul(t[0], 2.0), t[1]).backward();
  const std::vector<double> gs = to_vector<double>(z.grad());
  for (size_t i = 0; i < gs.size(); ++i) EXPECT_NEAR(gs[i], 2 * g[0][i] + g[1][i], 1e-15);
}

TEST(LossValues, ZipfPositionIsAStableDescendingSort) {
  const std::vector<double> s{0.5, 2.0, 0.5, -1.0, 2.0, 0.5, 3.0};
  std::vector<int64_t> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  EXPECT_EQ(order, (std::vector<int64_t>{6, 1, 4, 0, 2, 5, 3}));
  for (int64_t p = 0; p < static_cast<int64_t>(order.size()); ++p)
    EXPECT_EQ(losses::math::descending_position(s.data(), static_cast<int64_t>(s.size()), order[p]), p);
}

}  // namespace
}  // namespace nkd::testing
