// fold_batch_norm: conv + eval-mode BN equals the folded conv (grouped or not, with and without
// conv bias and BN affine).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/random.h"
#include "layers/bn_fold.h"
#include "layers/conv.h"

namespace nkd::layers {
namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return std::sqrt(ops::max(ops::pow(ops::sub(a, b), 2.0)).item());
}

void set_random(const Tensor& t, Generator& gen) {
  NoGradGuard no_grad;
  ops::copy_(t, randn(t.shape(), gen));
}

void check_fold(int64_t groups, bool conv_bias, bool affine) {
  Generator gen(7);
  Conv2d conv({.in = 4, .out = 6, .kernel = 3, .padding = 1, .groups = groups, .bias = conv_bias});
  BatchNorm2d bn(6, 1e-3, 0.1, affine);
  set_random(conv.weight, gen);
  if (conv_bias) set_random(conv.bias, gen);
  if (affine) {
    set_random(bn.weight, gen);
    set_random(bn.bias, gen);
  }
  set_random(bn.running_mean, gen);
  NoGradGuard no_grad;
  ops::copy_(bn.running_var, ops::add(ops::pow(randn({6}, gen), 2.0), 0.1));
  bn.eval();
  const Tensor x = randn({2, 4, 5, 5}, gen);
  const Tensor expected = bn.forward(conv.forward(x));
  const FoldedWeights f = fold_batch_norm(conv.weight, conv.bias, bn);
  const Tensor got = ops::conv2d(x, f.weight, f.bias, {.stride = 1, .padding = 1, .groups = groups});
  // F32 with outputs of order 10: the two orders of rounding differ by ~1e-6.
  EXPECT_LT(max_abs_diff(got, expected), 1e-4) << "groups " << groups << " bias " << conv_bias << " affine " << affine;
}

TEST(BnFold, EqualsConvThenEvalBatchNorm) {
  for (int64_t groups : {1, 2})
    for (bool conv_bias : {false, true})
      for (bool affine : {false, true}) check_fold(groups, conv_bias, affine);
}

TEST(BnFold, RejectsChannelMismatch) {
  Conv2d conv({.in = 2, .out = 3, .kernel = 1, .bias = false});
  BatchNorm2d bn(4);
  EXPECT_THROW(fold_batch_norm(conv.weight, conv.bias, bn), Error);
}

}  // namespace
}  // namespace nkd::layers
