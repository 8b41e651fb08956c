// Tensor handles, views, factories and the counter-based RNG.
#include <gtest/gtest.h>

#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/view.h"

namespace nkd {
namespace {

TEST(Tensor, FactoriesAndMetadata) {
  const Tensor t = full({2, 3}, 1.5);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Strides{3, 1}));
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(to_vector<float>(t), std::vector<float>(6, 1.5f));
  EXPECT_EQ(to_vector<int64_t>(arange(4, {DType::I64})), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(describe(zeros({4}, {DType::F64})), "F64[4] cpu");
}

TEST(Tensor, ViewsShareStorage) {
  const Tensor x = from_vector<double>({0, 1, 2, 3, 4, 5}, {2, 3});
  const Tensor t = x.transpose(0, 1);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.storage(), x.storage());
  EXPECT_EQ(to_vector<double>(t), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  const Tensor n = x.narrow(1, 1, 2);
  EXPECT_EQ(to_vector<double>(n), (std::vector<double>{1, 2, 4, 5}));
  const Tensor e = from_vector<double>({7, 8}, {2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides()[1], 0);
  EXPECT_EQ(to_vector<double>(e), (std::vector<double>{7, 7, 7, 8, 8, 8}));
  EXPECT_EQ(x.unsqueeze(1).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(x.unsqueeze(1).squeeze(1).shape(), (Shape{2, 3}));
  EXPECT_EQ(zeros({2, 3, 4, 5}).flatten(1).shape(), (Shape{2, 60}));
}

TEST(Tensor, ContiguousCopiesOnlyWhenNeeded) {
  const Tensor x = zeros({3, 4});
  EXPECT_TRUE(x.contiguous().same(x));
  const Tensor t = x.transpose(0, 1).contiguous();
  EXPECT_NE(t.storage(), x.storage());
  EXPECT_TRUE(t.is_contiguous());
}

TEST(Tensor, InPlaceWritesBumpTheVersion) {
  const Tensor x = zeros({4});
  const uint32_t v0 = x.version();
  ops::add_(x, ones({4}));
  EXPECT_EQ(x.version(), v0 + 1);
  ops::copy_(x.narrow(0, 1, 2), full({1}, 5.0));
  EXPECT_EQ(to_vector<float>(x), (std::vector<float>{1, 5, 5, 1}));
  EXPECT_EQ(x.version(), v0 + 2);
}

TEST(Tensor, DtypeConversion) {
  const Tensor x = from_vector<double>({1.5, -2.25}, {2});
  EXPECT_EQ(to_vector<float>(x.to(DType::F32)), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(to_vector<int64_t>(x.to(DType::I64)), (std::vector<int64_t>{1, -2}));
  EXPECT_DOUBLE_EQ(from_vector<double>({3.0}, {}).item(), 3.0);
}

TEST(Random, CounterBasedAndThreadIndependent) {
  Generator a(42, 0), b(42, 0), c(42, 1);
  const Tensor ra = randn({1000}, a), rb = randn({1000}, b), rc = randn({1000}, c);
  EXPECT_EQ(to_vector<float>(ra), to_vector<float>(rb));
  EXPECT_NE(to_vector<float>(ra), to_vector<float>(rc));
  // The generator advances: a second draw differs from the first, and equals a draw that starts
  // at the same offset.
  const Tensor second = randn({1000}, a);
  EXPECT_NE(to_vector<float>(second), to_vector<float>(ra));
  Generator d(42, 0);
  d.set_offset(1000);
  EXPECT_EQ(to_vector<float>(randn({1000}, d)), to_vector<float>(second));
  // Moments of 100k normals and uniforms.
  Generator g(7);
  const std::vector<double> n = to_vector<double>(randn({100000}, g, {DType::F64}));
  double m = 0, v = 0;
  for (double x : n) m += x;
  m /= n.size();
  for (double x : n) v += (x - m) * (x - m);
  v /= n.size();
  EXPECT_NEAR(m, 0.0, 0.01);
  EXPECT_NEAR(v, 1.0, 0.02);
  const std::vector<double> u = to_vector<double>(uniform({100000}, -1, 3, g, {DType::F64}));
  double mu = 0;
  for (double x : u) {
    ASSERT_GE(x, -1.0);
    ASSERT_LT(x, 3.0);
    mu += x;
  }
  EXPECT_NEAR(mu / u.size(), 1.0, 0.02);
}

}  // namespace
}  // namespace nkd
