// The vectorised F32 CPU kernels of GELU (gelu_cpu.cpp) and softmax rows (softmax_cpu.cpp) against
// F64 references: GELU and its gradient within 2 F32 ulps of x Phi(x) from std::erfc over
// [-16, 16] (so the negative tail keeps its relative precision), softmax within 2 ulps of the F64
// op on rows of widths around the 8- and 16-lane tails; non-finite rows as the scalar path.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/cpu/features.h"
#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"

namespace nkd {
namespace {

// |a - b| in units of the F32 spacing at b (b the F64 reference rounded to F32; below F32's normal
// range the spacing of the subnormals).
double ulps(float a, double b) {
  const float bf = static_cast<float>(b);
  const double ulp = std::nextafter(std::abs(bf), std::numeric_limits<float>::infinity()) - std::abs(bf);
  return std::abs(static_cast<double>(a) - b) /
         std::max(ulp, static_cast<double>(std::numeric_limits<float>::denorm_min()));
}

TEST(ActAvx512, GeluForwardAndBackwardWithinTwoUlps) {
  // Without AVX-512F the generic kernel runs: 1 + erf(x / sqrt 2), whose negative tail loses its
  // relative precision (as PyTorch's); the op table checks it.
  if (!cpu::has_avx512f()) GTEST_SKIP() << "no AVX-512F: the generic GELU runs";
  // Every 1/256 over [-16, 16], plus the boundaries of the kernel's two branches (|x / sqrt 2| = 0.5).
  std::vector<double> xs;
  for (int i = -4096; i <= 4096; ++i) xs.push_back(i / 256.0);
  for (double b : {0.5 * std::sqrt(2.0), -0.5 * std::sqrt(2.0), 10 * std::sqrt(2.0), -10 * std::sqrt(2.0)})
    for (int k = -3; k <= 3; ++k) xs.push_back(b + k * 1e-7);
  const int64_t n = static_cast<int64_t>(xs.size());
  std::vector<float> xf(xs.begin(), xs.end());
  std::vector<double> xd(xf.begin(), xf.end());  // the F32 inputs, exactly
  Tensor x32 = from_vector(xf, {n});
  x32.set_requires_grad(true);
  const Tensor y32 = ops::gelu(x32);
  ops::sum(y32).backward();
  const std::vector<float> f = to_vector<float>(y32), gf = to_vector<float>(x32.grad());
  // The F64 reference from erfc (the F64 op's 1 + erf(x / sqrt 2) is 0 below x = -8.3).
  std::vector<double> d(n), gd(n);
  for (int64_t i = 0; i < n; ++i) {
    const double x = xd[i], cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
    d[i] = x * cdf;
    gd[i] = cdf + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
  }
  double worst = 0, worst_grad = 0;
  for (int64_t i = 0; i < n; ++i) {
    worst = std::max(worst, ulps(f[i], d[i]));
    worst_grad = std::max(worst_grad, ulps(gf[i], gd[i]));
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_LE(worst_grad, 2.0);
  // Non-finite inputs: +inf -> +inf, NaN -> NaN (as x Phi(x)).
  const std::vector<float> special = to_vector<float>(ops::gelu(from_vector<float>(
      {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}, {2})));
  EXPECT_EQ(special[0], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(special[1]));
}

TEST(ActAvx512, SoftmaxRowsWithinTwoUlps) {
  Generator gen(7);
  for (int64_t d : {1, 7, 8, 9, 15, 16, 17, 49, 64, 1000, 1500}) {
    const Tensor x64 = ops::mul(randn({5, d}, gen, {DType::F64}), 6.0);
    const Tensor x32 = x64.to(DType::F32);
    const std::vector<float> f = to_vector<float>(ops::softmax(x32, -1));
    const std::vector<double> ref = to_vector<double>(ops::softmax(x32.to(DType::F64), -1));
    double worst = 0;
    for (size_t i = 0; i < f.size(); ++i) worst = std::max(worst, ulps(f[i], ref[i]));
    EXPECT_LE(worst, 2.0) << "row width " << d;
  }
  // A row with -inf (a masked entry) and a row with NaN take the scalar path: 0 and NaN.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor rows = from_vector<float>({0, -inf, 0, 1, nan, 2}, {2, 3});
  const std::vector<float> y = to_vector<float>(ops::softmax(rows, -1));
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 0.5f);
  EXPECT_TRUE(std::isnan(y[3]) && std::isnan(y[4]) && std::isnan(y[5]));
}

}  // namespace
}  // namespace nkd
