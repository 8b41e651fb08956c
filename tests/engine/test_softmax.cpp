// Softmax / log-softmax at logits of +-1e4: every value finite and exactly the saturated result,
// in F32 and F64, forward and backward.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"

namespace nkd {
namespace {

template <typename T>
void check_extreme(DType dt) {
  // Rows: one clear winner; a tie between two maxima; all equal; the winner in the middle.
  const Tensor x = from_vector<double>({1e4, -1e4, 0, -1e4,     //
                                        1e4, 1e4, -1e4, -1e4,   //
                                        -1e4, -1e4, -1e4, -1e4, //
                                        -1e4, 0, -1e4, -1e4},
                                       {4, 4}).to(dt);
  const std::vector<T> sm = to_vector<T>(ops::softmax(x, 1));
  const std::vector<T> expect_sm = {1, 0, 0, 0, 0.5, 0.5, 0, 0, 0.25, 0.25, 0.25, 0.25, 0, 1, 0, 0};
  EXPECT_EQ(sm, expect_sm);
  const std::vector<T> ls = to_vector<T>(ops::log_softmax(x, -1));
  const T l2 = static_cast<T>(std::log(2.0)), l4 = static_cast<T>(std::log(4.0)), m = T(-2e4);
  const std::vector<T> expect_ls = {0, -2e4, -1e4, -2e4, -l2, -l2, m - l2, m - l2,
                                    -l4, -l4, -l4, -l4, -1e4, 0, -1e4, -1e4};
  for (size_t i = 0; i < ls.size(); ++i) {
    EXPECT_TRUE(std::isfinite(ls[i])) << i;
    EXPECT_NEAR(ls[i], expect_ls[i], std::abs(expect_ls[i]) * 1e-7) << i;
  }
  // Softmax over dim 0 of the same logits (a dim that is not last) is finite too.
  for (T v : to_vector<T>(ops::softmax(x, 0))) EXPECT_TRUE(std::isfinite(v));
}

TEST(Softmax, ExtremeLogitsF32) { check_extreme<float>(DType::F32); }
TEST(Softmax, ExtremeLogitsF64) { check_extreme<double>(DType::F64); }

TEST(Softmax, ExtremeLogitsBackwardIsFinite) {
  Tensor x = from_vector<double>({1e4, -1e4, 0, 1e4, 1e4, -1e4}, {2, 3}).to(DType::F32);
  x.set_requires_grad(true);
  const Tensor w = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  ops::sum(ops::log_softmax(x, 1) * w).backward();
  // gx = w - softmax * sum(w): row 0 softmax (1, 0, 0), row 1 (0.5, 0.5, 0).
  EXPECT_EQ(to_vector<float>(x.grad()), (std::vector<float>{1 - 6, 2, 3, 4 - 7.5f, 5 - 7.5f, 6}));
  x.zero_grad();
  ops::sum(ops::softmax(x, 1) * w).backward();
  // gx = y * (w - sum(w * y)): row 0 all zero, row 1 (0.5 * (4 - 4.5), 0.5 * (5 - 4.5), 0).
  EXPECT_EQ(to_vector<float>(x.grad()), (std::vector<float>{0, 0, 0, -0.25f, 0.25f, 0}));
}

TEST(Softmax, RowsSumToOne) {
  Generator gen(4);
  const Tensor x = randn({3, 5, 7}, gen, {DType::F64});
  for (int64_t dim : {0, 1, 2}) {
    for (double s : to_vector<double>(ops::sum(ops::softmax(x, dim), {dim})))
      EXPECT_NEAR(s, 1.0, 1e-12) << "dim " << dim;
  }
}

}  // namespace
}  // namespace nkd
