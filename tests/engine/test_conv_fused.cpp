// ops::conv2d_fused (the inference form's convolution): act(conv2d(x, w, b) + residual) with the
// bias, residual and activation applied in the convolution's output pass gives exactly what the
// separate ops give (same additions in the same order), on the GEMM path one image at a time and in
// grouped chunks, pointwise, grouped and depthwise; it refuses to run where a gradient is wanted.
#include <gtest/gtest.h>

#include <vector>

#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"

namespace nkd {
namespace {

struct FusedCase {
  int64_t n, c, hw, k, kernel, stride, groups;
};

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && to_vector<double>(a.to(DType::F64)) == to_vector<double>(b.to(DType::F64));
}

TEST(ConvFused, EqualsConvAddActivationExactly) {
  const std::vector<FusedCase> cases = {
      {2, 3, 9, 5, 3, 1, 1},    // one image per GEMM
      {8, 4, 4, 6, 3, 1, 1},    // 4x4 images: several images per GEMM (a packed output)
      {3, 6, 7, 8, 1, 1, 1},    // pointwise
      {2, 6, 9, 4, 3, 2, 2},    // grouped, stride 2
      {3, 8, 10, 8, 3, 2, 8},   // depthwise
      {2, 4, 6, 8, 3, 1, 4}};   // depthwise, multiplier 2
  Generator gen(7);
  NoGradGuard no_grad;
  for (DType dt : {DType::F32, DType::F64})
    for (const FusedCase& c : cases) {
      const ops::Conv2dOptions o{.stride = c.stride, .padding = c.kernel / 2, .groups = c.groups};
      const Tensor x = randn({c.n, c.c, c.hw, c.hw}, gen).to(dt), w = randn({c.k, c.c / c.groups, c.kernel, c.kernel}, gen).to(dt);
      const Tensor b = randn({c.k}, gen).to(dt);
      const Tensor plain = ops::conv2d(x, w, b, o);
      const Tensor r = ops::mul(randn(plain.shape(), gen), 3.0).to(dt);  // outputs reach ReLU6's clamp
      for (ops::Act act : {ops::Act::kNone, ops::Act::kReLU, ops::Act::kReLU6})
        for (bool with_bias : {false, true})
          for (bool with_res : {false, true}) {
            SCOPED_TRACE(::testing::Message() << "n " << c.n << " c " << c.c << " k " << c.k << " groups " << c.groups
                                              << " act " << static_cast<int>(act) << " bias " << with_bias
                                              << " residual " << with_res << " " << name(dt));
            const Tensor bias = with_bias ? b : Tensor(), res = with_res ? r : Tensor();
            Tensor want = ops::conv2d(x, w, bias, o);
            if (with_res) want = ops::add(want, res);
            want = ops::activate(want, act);
            EXPECT_TRUE(same(ops::conv2d_fused(x, w, bias, res, act, o), want));
          }
    }
}

TEST(ConvFused, RefusesGradientsAndMismatchedResiduals) {
  Generator gen(1);
  Tensor x = randn({1, 2, 5, 5}, gen), w = randn({3, 2, 3, 3}, gen);
  w.set_requires_grad();
  EXPECT_THROW(ops::conv2d_fused(x, w, Tensor(), Tensor(), ops::Act::kReLU, {.padding = 1}), Error);
  NoGradGuard no_grad;
  EXPECT_NO_THROW(ops::conv2d_fused(x, w, Tensor(), Tensor(), ops::Act::kReLU, {.padding = 1}));
  EXPECT_THROW(ops::conv2d_fused(x, w, Tensor(), randn({1, 3, 3, 3}, gen), ops::Act::kReLU, {.padding = 1}), Error);
}

}  // namespace
}  // namespace nkd
