// The bf16 storage type (round to nearest even, NaN kept), BF16 tensors (conversions, dispatch,
// mixed BF16 / F32 arithmetic) and the autocast policy's switch and parameter cache.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/bf16.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"

namespace nkd {
namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Bf16, RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly between 1 and 1 + 2^-7 (the next bf16): the tie goes to the even 1.
  EXPECT_EQ(float_to_bf16_bits(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd mantissa) and 1 + 2^-6: the tie goes up to the even one.
  EXPECT_EQ(float_to_bf16_bits(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  // Just above a tie rounds up, just below rounds down.
  EXPECT_EQ(float_to_bf16_bits(from_bits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(float_to_bf16_bits(from_bits(0x3f807fffu)), 0x3f80);
  // Exact values, signs and zeros.
  EXPECT_EQ(float_to_bf16_bits(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bf16_bits(-0.0f), 0x8000);
  EXPECT_EQ(static_cast<float>(bf16(0.15625f)), 0.15625f);
  // The largest finite float rounds to infinity; infinities stay.
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(float_to_bf16_bits(-std::numeric_limits<float>::infinity()), 0xff80);
  // A subnormal keeps its top bits.
  EXPECT_EQ(float_to_bf16_bits(from_bits(0x00010000u)), 0x0001);
}

TEST(Bf16, KeepsNaN) {
  // A NaN whose payload sits in the low half only would round to infinity without the NaN rule.
  const float nan_low = from_bits(0x7f800001u);
  ASSERT_TRUE(std::isnan(nan_low));
  EXPECT_TRUE(std::isnan(static_cast<float>(bf16(nan_low))));
  EXPECT_TRUE(std::isnan(static_cast<float>(bf16(-std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::signbit(static_cast<float>(bf16(from_bits(0xffc00000u)))));
}

TEST(Bf16, TensorConversionRoundTrips) {
  const std::vector<double> v = {1.0, -2.5, 3.14159265, 1e-3, 65504.0, 1e30, -0.0};
  const Tensor t = from_vector(v, {7});
  const Tensor h = t.to(DType::BF16);
  EXPECT_EQ(h.dtype(), DType::BF16);
  EXPECT_EQ(h.storage()->bytes(), 14u);
  const std::vector<double> back = to_vector<double>(h);
  for (size_t i = 0; i < v.size(); ++i) {
    const double expected = static_cast<float>(bf16(static_cast<float>(v[i])));
    EXPECT_EQ(back[i], expected) << i;
    EXPECT_LE(std::abs(back[i] - v[i]), std::abs(v[i]) * std::ldexp(1.0, -8)) << i;
  }
  // BF16 -> F32 -> BF16 is exact.
  EXPECT_EQ(to_vector<double>(h.to(DType::F32).to(DType::BF16)), back);
  // Fills and integer conversions.
  EXPECT_EQ(to_vector<double>(full({3}, 0.1, {DType::BF16})), std::vector<double>(3, double(float(bf16(0.1f)))));
  EXPECT_EQ(to_vector<int64_t>(from_vector<int64_t>({-3, 7}, {2}).to(DType::BF16)), (std::vector<int64_t>{-3, 7}));
}

TEST(Bf16, ArithmeticRoundsOnceFromF32) {
  Generator gen(5);
  const Tensor a = randn({257}, gen).to(DType::BF16), b = randn({257}, gen).to(DType::BF16);
  // add / gelu in BF16 == the F32 op on the widened values, rounded once.
  EXPECT_EQ(to_vector<double>(ops::add(a, b)),
            to_vector<double>(ops::add(a.to(DType::F32), b.to(DType::F32)).to(DType::BF16)));
  EXPECT_EQ(to_vector<double>(ops::exp(a)), to_vector<double>(ops::exp(a.to(DType::F32)).to(DType::BF16)));
  // A sum of 4096 ones accumulates in F32 (a BF16 accumulator would stop at 256).
  EXPECT_EQ(ops::sum(ones({4096}, {DType::BF16}), {}, false).item(), 4096.0);
  // A BF16 operand meeting an F32 one widens to F32 (both ways), with gradients back in each dtype.
  Tensor x = a.detach(), w = ones({257});
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  const Tensor y = ops::mul(x, w);
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_EQ(ops::add(w, x).dtype(), DType::F32);
  ops::sum(y, {}, false).backward();
  EXPECT_EQ(x.grad().dtype(), DType::BF16);
  EXPECT_EQ(w.grad().dtype(), DType::F32);
  EXPECT_EQ(to_vector<double>(w.grad()), to_vector<double>(a));
}

TEST(Bf16, UnsupportedMixesStayErrors) {
  EXPECT_THROW(ops::add(ones({2}), ones({2}, {DType::F64})), Error);
  EXPECT_THROW(ops::matmul(ones({2, 2}, {DType::BF16}), ones({2, 2})), Error);
}

TEST(Autocast, CastsOnlyF32UnderTheGuard) {
  const Tensor x = ones({2, 3});
  EXPECT_EQ(autocast(x).dtype(), DType::F32);
  {
    AutocastGuard on(true);
    EXPECT_TRUE(autocast_enabled());
    EXPECT_EQ(autocast(x).dtype(), DType::BF16);
    EXPECT_EQ(autocast(ones({2}, {DType::F64})).dtype(), DType::F64);  // gradchecks stay exact
    {
      AutocastGuard off(false);
      EXPECT_EQ(autocast(x).dtype(), DType::F32);
    }
    EXPECT_TRUE(autocast_enabled());
  }
  EXPECT_FALSE(autocast_enabled());
  EXPECT_EQ(widen_to_f32(ones({2}, {DType::BF16})).dtype(), DType::F32);
  EXPECT_EQ(parse_precision("bf16", "t"), Precision::kBf16);
  EXPECT_THROW(parse_precision("fp16", "runner.precision"), Error);
}

// A parameter used twice in one step is converted once; the next step converts it again; an
// in-place update inside the scope refreshes the copy; the gradient reaches the F32 parameter.
TEST(Autocast, WeightCopiedOncePerScope) {
  Tensor w = from_vector<float>({1.f, 2.f, 3.f, 4.f}, {2, 2});
  w.set_requires_grad(true);
  const int64_t before = autocast_weight_conversions();
  {
    AutocastGuard on(true);
    const Tensor w1 = autocast_weight(w), w2 = autocast_weight(w);
    EXPECT_EQ(w1.dtype(), DType::BF16);
    EXPECT_EQ(autocast_weight_conversions() - before, 1);
    const Tensor y = ops::add(ops::matmul(w1, w2), ops::matmul(w2, w1));
    ops::sum(y, {}, false).backward();
    {
      NoGradGuard no_grad;
      EXPECT_EQ(autocast_weight(w).requires_grad(), false);  // a no-grad use gets its own copy
      EXPECT_EQ(autocast_weight_conversions() - before, 2);
      ops::add_(w, ones({2, 2}));  // the optimizer's update bumps the version
      EXPECT_EQ(to_vector<double>(autocast_weight(w))[0], 2.0);
      EXPECT_EQ(autocast_weight_conversions() - before, 3);
    }
  }
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), DType::F32);
  // d/dw sum(2 w w) = 2 (G w^T + w^T G), G = ones, at the original w = [[1, 2], [3, 4]].
  EXPECT_EQ(to_vector<double>(w.grad()), (std::vector<double>{14, 22, 18, 26}));
  {
    AutocastGuard next_step(true);
    autocast_weight(w);
    EXPECT_EQ(autocast_weight_conversions() - before, 4);
  }
}

}  // namespace
}  // namespace nkd
