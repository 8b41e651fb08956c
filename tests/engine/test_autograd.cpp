// The autograd engine: gradient accumulation, retain_graph, deterministic order, deep graphs,
// no-grad mode, and the errors users hit (non-scalar backward, in-place modification of a saved
// tensor, backward twice without retain_graph).
#include <gtest/gtest.h>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace nkd {
namespace {

Tensor leaf(std::vector<double> v, Shape s) {
  Tensor t = from_vector(v, s);
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, ChainAndFanOutSumGradients) {
  // y = sum(x * x + 3x): dy/dx = 2x + 3, with x used three times.
  const Tensor x = leaf({1, -2, 0.5}, {3});
  ops::sum(x * x + x * 3.0).backward();
  EXPECT_EQ(to_vector<double>(x.grad()), (std::vector<double>{5, -1, 4}));
}

TEST(Autograd, LeafGradientsAccumulateAcrossBackwardCalls) {
  const Tensor x = leaf({1, 2}, {2});
  ops::sum(x * 2.0).backward();
  ops::sum(x * 2.0).backward();
  EXPECT_EQ(to_vector<double>(x.grad()), (std::vector<double>{4, 4}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  const Tensor x = leaf({3}, {1});
  const Tensor y = ops::sum(ops::exp(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_NEAR(to_vector<double>(x.grad())[0], 2 * std::exp(3.0), 1e-12);
}

TEST(Autograd, SecondBackwardWithoutRetainGraphThrows) {
  const Tensor x = leaf({3}, {1});
  const Tensor y = ops::sum(ops::exp(x));
  y.backward();
  EXPECT_THROW(y.backward(), Error);
}

TEST(Autograd, NonScalarBackwardNeedsAGradient) {
  const Tensor x = leaf({1, 2}, {2});
  const Tensor y = x * 2.0;
  try {
    y.backward();
    FAIL() << "expected nkd::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only for a scalar"), std::string::npos) << e.what();
  }
  y.backward(from_vector<double>({1, 10}, {2}));
  EXPECT_EQ(to_vector<double>(x.grad()), (std::vector<double>{2, 20}));
}

TEST(Autograd, InPlaceModificationOfASavedTensorIsAnError) {
  const Tensor x = leaf({1, 2}, {2});
  const Tensor w = from_vector<double>({3, 4}, {2});
  const Tensor y = ops::sum(x * w);  // saves w for dL/dx
  ops::add_(w, ones({2}, {DType::F64}));
  try {
    y.backward();
    FAIL() << "expected nkd::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("MulBackward"), std::string::npos) << e.what();
  }
}

TEST(Autograd, InPlaceUpdateOfALeafThatRequiresGradNeedsNoGrad) {
  const Tensor x = leaf({1, 2}, {2});
  EXPECT_THROW(ops::mul_(x, 2.0), Error);
  NoGradGuard guard;
  ops::mul_(x, 2.0);
  EXPECT_EQ(to_vector<double>(x), (std::vector<double>{2, 4}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  const Tensor x = leaf({1, 2}, {2});
  Tensor y;
  {
    NoGradGuard guard;
    y = ops::relu(x * 2.0);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_TRUE(grad_enabled());
  EXPECT_THROW(ops::sum(y).backward(), Error);
}

TEST(Autograd, BackwardOnTensorWithoutGradThrows) {
  EXPECT_THROW(ops::sum(ones({2})).backward(), Error);
}

TEST(Autograd, SetRequiresGradOnlyOnLeavesAndFloats) {
  const Tensor x = leaf({1}, {1});
  Tensor y = x * 2.0;
  EXPECT_THROW(y.set_requires_grad(false), Error);
  Tensor i = arange(3, {DType::I64});
  EXPECT_THROW(i.set_requires_grad(true), Error);
}

TEST(Autograd, DeepGraphDoesNotOverflowTheStack) {
  // 200000 chained ops: a recursive engine (or recursive node destruction) would overflow.
  const Tensor x = leaf({1.0}, {1});
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y + 0.0001;
  ops::sum(y).backward();
  EXPECT_DOUBLE_EQ(to_vector<double>(x.grad())[0], 1.0);
}

TEST(Autograd, GradientsAreDeterministicAcrossRuns) {
  // The same graph run twice gives bit-identical gradients (fixed node order, fixed sums).
  auto run = [] {
    Generator g(3);
    Tensor x = randn({64, 33}, g, {DType::F32});
    x.set_requires_grad(true);
    Tensor y = ops::sum(ops::tanh(x) * x + ops::sigmoid(x), {1});
    ops::sum(ops::mul(y, y)).backward();
    return to_vector<float>(x.grad());
  };
  EXPECT_EQ(run(), run());
}

TEST(Autograd, DetachSharesStorageAndLeavesTheGraph) {
  const Tensor x = leaf({1, 2}, {2});
  const Tensor d = (x * 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
}

}  // namespace
}  // namespace nkd
