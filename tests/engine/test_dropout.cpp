// Dropout and drop_path: keep fraction, output values, determinism per generator state,
// independence from thread count, eval mode, whole-sample drops, and the backward's mask.
#include <gtest/gtest.h>
#include <omp.h>

#include "engine/factory.h"
#include "engine/ops/dropout.h"
#include "engine/ops/reduce.h"

namespace nkd {
namespace {

TEST(Dropout, KeepFractionAndValues) {
  for (double p : {0.1, 0.5, 0.8}) {
    Generator data(1);
    const Tensor x = uniform({100000}, 0.5, 1.5, data, {DType::F64});
    Generator gen(42, 7);
    const Tensor y = ops::dropout(x, p, true, gen);
    EXPECT_EQ(gen.offset(), 100000u);
    const std::vector<double> xv = to_vector<double>(x), yv = to_vector<double>(y);
    int64_t kept = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
      if (yv[i] == 0.0) continue;
      ++kept;
      EXPECT_NEAR(yv[i], xv[i] / (1 - p), 1e-12 * xv[i] / (1 - p)) << "element " << i;
    }
    EXPECT_NEAR(static_cast<double>(kept) / 100000.0, 1 - p, 0.01) << "p = " << p;
  }
}

TEST(Dropout, SameSeedSameMaskAndThreadCountDoesNotMatter) {
  const Tensor x = ones({300, 300});
  Generator a(5), b(5), c(6);
  const std::vector<float> ya = to_vector<float>(ops::dropout(x, 0.3, true, a));
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> yb = to_vector<float>(ops::dropout(x, 0.3, true, b));
  omp_set_num_threads(threads);
  EXPECT_EQ(ya, yb);
  EXPECT_NE(ya, to_vector<float>(ops::dropout(x, 0.3, true, c)));
  // The next draw from the same generator uses fresh counters: a different mask.
  EXPECT_NE(ya, to_vector<float>(ops::dropout(x, 0.3, true, a)));
}

TEST(Dropout, EvalModeAndZeroPAreIdentity) {
  const Tensor x = from_vector<float>({1, -2, 3}, {3});
  Generator gen(3);
  EXPECT_TRUE(ops::dropout(x, 0.5, false, gen).same(x));
  EXPECT_TRUE(ops::dropout(x, 0.0, true, gen).same(x));
  EXPECT_TRUE(ops::drop_path(x, 0.5, false, gen).same(x));
  EXPECT_EQ(gen.offset(), 0u);
  EXPECT_EQ(to_vector<float>(ops::dropout(x, 1.0, true, gen)), std::vector<float>(3, 0.0f));
  EXPECT_THROW(ops::dropout(x, 1.5, true, gen), Error);
  EXPECT_THROW(ops::drop_path(x, -0.1, true, gen), Error);
}

TEST(Dropout, BackwardUsesTheForwardMask) {
  Generator data(2);
  Tensor x = randn({50, 20}, data, {DType::F64});
  x.set_requires_grad(true);
  Generator gen(9);
  const Tensor y = ops::dropout(x, 0.4, true, gen);
  ops::sum(y).backward();
  const std::vector<double> yv = to_vector<double>(y), xv = to_vector<double>(x),
                            gv = to_vector<double>(x.grad());
  for (size_t i = 0; i < yv.size(); ++i) {
    const bool kept = yv[i] != 0.0 || xv[i] == 0.0;
    EXPECT_DOUBLE_EQ(gv[i], kept ? 1 / 0.6 : 0.0) << "element " << i;
  }
}

TEST(DropPath, DropsWholeSamples) {
  const int64_t n = 2000;
  const Tensor x = ones({n, 3, 2, 2}, {DType::F64});
  Generator gen(11, 1);
  const Tensor y = ops::drop_path(x, 0.25, true, gen);
  EXPECT_EQ(gen.offset(), static_cast<uint64_t>(n));
  const std::vector<double> yv = to_vector<double>(y);
  int64_t kept = 0;
  for (int64_t s = 0; s < n; ++s) {
    const double first = yv[s * 12];
    EXPECT_TRUE(first == 0.0 || std::abs(first - 1 / 0.75) < 1e-12) << "sample " << s;
    for (int64_t i = 1; i < 12; ++i) ASSERT_EQ(yv[s * 12 + i], first) << "sample " << s << " is split";
    kept += first != 0.0;
  }
  // 2000 Bernoulli(0.75) draws: the standard deviation of the fraction is ~0.01.
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.75, 0.04);
}

}  // namespace
}  // namespace nkd
