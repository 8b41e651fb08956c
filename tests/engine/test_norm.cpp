// Batch norm's running statistics: the momentum update with the unbiased batch variance over two
// training steps (values computed by hand below), inference with them, version bumps, and the
// error for a single value per channel in training.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/factory.h"
#include "engine/ops/norm.h"

namespace nkd {
namespace {

using ops::BatchNormOptions;

void expect_values(const Tensor& t, const std::vector<double>& want, double tol) {
  const std::vector<double> got = to_vector<double>(t.to(DType::F64));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

Tensor make(const std::vector<double>& v, const Shape& shape, DType dt) {
  return from_vector(v, shape).to(dt);
}

// Step 1: x [2, 2] = [[1, 2], [3, 6]]: channel means (2, 4), unbiased variances (2, 8).
//   running_mean = 0.9 * (0, 0) + 0.1 * (2, 4)     = (0.2, 0.4)
//   running_var  = 0.9 * (1, 1) + 0.1 * (2, 8)     = (1.1, 1.7)
// Step 2: x [3, 2] = [[0, 1], [3, 1], [6, 4]]: means (3, 2), unbiased variances (9, 3)
// (biased: 6, 2).
//   running_mean = 0.9 * (0.2, 0.4) + 0.1 * (3, 2) = (0.48, 0.56)
//   running_var  = 0.9 * (1.1, 1.7) + 0.1 * (9, 3) = (1.89, 1.83)
void two_training_steps(DType dt, double tol) {
  SCOPED_TRACE(name(dt));
  const Tensor rm = zeros({2}, {dt}), rv = ones({2}, {dt});
  const BatchNormOptions train{.training = true, .momentum = 0.1, .eps = 1e-5};
  uint32_t vm = rm.version(), vv = rv.version();

  ops::batch_norm(make({1, 2, 3, 6}, {2, 2}, dt), Tensor(), Tensor(), rm, rv, train);
  expect_values(rm, {0.2, 0.4}, tol);
  expect_values(rv, {1.1, 1.7}, tol);
  EXPECT_GT(rm.version(), vm);
  EXPECT_GT(rv.version(), vv);
  vm = rm.version();
  vv = rv.version();

  const Tensor y =
      ops::batch_norm(make({0, 1, 3, 1, 6, 4}, {3, 2}, dt), Tensor(), Tensor(), rm, rv, train);
  expect_values(rm, {0.48, 0.56}, tol);
  expect_values(rv, {1.89, 1.83}, tol);
  EXPECT_GT(rm.version(), vm);
  EXPECT_GT(rv.version(), vv);
  // The output itself is normalised with the biased variance.
  const double s0 = std::sqrt(6 + 1e-5), s1 = std::sqrt(2 + 1e-5);
  expect_values(y, {-3 / s0, -1 / s1, 0, -1 / s1, 3 / s0, 2 / s1}, tol);

  // Inference uses the running stats (a batch of one is fine) and leaves them alone.
  vm = rm.version();
  vv = rv.version();
  const Tensor w = make({2, -1}, {2}, dt), b = make({0.5, 0}, {2}, dt);
  const Tensor ye = ops::batch_norm(make({1, 2}, {1, 2}, dt), w, b, rm, rv, {.training = false});
  expect_values(
      ye, {(1 - 0.48) / std::sqrt(1.89 + 1e-5) * 2 + 0.5, -(2 - 0.56) / std::sqrt(1.83 + 1e-5)},
      tol);
  expect_values(rm, {0.48, 0.56}, tol);
  expect_values(rv, {1.89, 1.83}, tol);
  EXPECT_EQ(rm.version(), vm);
  EXPECT_EQ(rv.version(), vv);
}

TEST(BatchNorm, RunningStatsAfterTwoTrainingStepsF64) { two_training_steps(DType::F64, 1e-12); }
TEST(BatchNorm, RunningStatsAfterTwoTrainingStepsF32) { two_training_steps(DType::F32, 1e-6); }

// x [2, 1, 1, 2] = 1, 2, 3, 4: mean 2.5, unbiased variance 5 / 3; momentum 0.5 from (0, 1):
// running_mean = 1.25, running_var = 0.5 + 0.5 * 5 / 3 = 4 / 3.
TEST(BatchNorm, RunningStatsOverSpaceWithMomentum) {
  const Tensor rm = zeros({1}, {DType::F64}), rv = ones({1}, {DType::F64});
  ops::batch_norm(make({1, 2, 3, 4}, {2, 1, 1, 2}, DType::F64), Tensor(), Tensor(), rm, rv,
                  {.training = true, .momentum = 0.5});
  expect_values(rm, {1.25}, 1e-12);
  expect_values(rv, {4.0 / 3.0}, 1e-12);
}

TEST(BatchNorm, RunningStatsMayBeStridedViews) {
  const Tensor stats = zeros({2, 2}, {DType::F64});  // column 0: mean, column 1: var
  const Tensor rm = stats.narrow(1, 0, 1).squeeze(1), rv = stats.narrow(1, 1, 1).squeeze(1);
  ops::batch_norm(make({1, 2, 3, 6}, {2, 2}, DType::F64), Tensor(), Tensor(), rm, rv,
                  {.training = true});
  // Rows are channels: (mean, var) = (0.1 * 2, 0.1 * 2) and (0.1 * 4, 0.1 * 8).
  expect_values(stats, {0.2, 0.2, 0.4, 0.8}, 1e-12);
}

void expect_single_value_error(const Shape& shape, const std::string& shown) {
  const Tensor rm = zeros({3}), rv = ones({3});
  try {
    ops::batch_norm(zeros(shape), Tensor(), Tensor(), rm, rv, {.training = true});
    ADD_FAILURE() << "no error for " << to_string(shape);
  } catch (const Error& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "batch_norm: expected more than 1 value per channel when training, got input " + shown);
  }
  // Inference with the same input is fine.
  EXPECT_NO_THROW(ops::batch_norm(zeros(shape), Tensor(), Tensor(), rm, rv, {.training = false}));
}

TEST(BatchNorm, TrainingNeedsMoreThanOneValuePerChannel) {
  expect_single_value_error({1, 3}, "[1, 3]");
  expect_single_value_error({1, 3, 1, 1}, "[1, 3, 1, 1]");
}

TEST(BatchNorm, InferenceNeedsRunningStats) {
  EXPECT_THROW(ops::batch_norm(zeros({4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), {}), Error);
}

}  // namespace
}  // namespace nkd
