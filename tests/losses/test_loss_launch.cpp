// The small functors the GPU path adds to the loss row kernels (losses/row_math.h,
// losses/uskd_math.h), run on the CPU here, so their indexing is tested without a GPU: USKD's Zipf positions by counting equal
// the stable sort's (ties to the smaller index, NaN last), the label clamp flags exactly the
// out-of-range rows' batches, the strided batch mean sums in index order and turns NaN on a flag, and
// the one statistics kernel of tf-NKD and USKD gives USKD's s^2 as exactly the square of tf-NKD's s.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/cpu/parallel.h"
#include "losses/row_math.h"
#include "losses/uskd_math.h"

namespace nkd::losses {
namespace {

TEST(LossLaunch, RankKernelEqualsStableSort) {
  const int64_t n = 3, c = 9;
  const double nan = std::nan("");
  std::vector<double> score = {0.5, 0.1, 0.5, nan, -1.0, 0.1, 2.0, 0.5, nan,   // ties and NaN
                               1, 2, 3, 4, 5, 6, 7, 8, 9,                        // increasing
                               0, 0, 0, 0, 0, 0, 0, 0, 0};                       // all tied
  std::vector<int64_t> pos(n * c, -1);
  cpu::launch(n * c, math::UskdRankKernel<double>{score.data(), c, pos.data()});
  for (int64_t r = 0; r < n; ++r) {
    std::vector<int64_t> order(c);
    std::iota(order.begin(), order.end(), 0);
    const double* s = score.data() + r * c;
    const auto key = [s](int64_t j) { return std::isnan(s[j]) ? -HUGE_VAL : s[j]; };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key(a) > key(b); });
    for (int64_t p = 0; p < c; ++p) EXPECT_EQ(pos[r * c + order[p]], p) << "row " << r << " position " << p;
  }
}

TEST(LossLaunch, LabelClampFlagsOutOfRange) {
  std::vector<int64_t> in = {0, 4, 2}, out(3, -1);
  int bad = -1;
  math::LabelClampKernel{in.data(), 3, 5, out.data(), &bad}(0);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(out, in);
  in = {0, 5, -1};
  math::LabelClampKernel{in.data(), 3, 5, out.data(), &bad}(0);
  EXPECT_EQ(bad, 1);
  EXPECT_EQ(out, (std::vector<int64_t>{0, 0, 0}));
}

TEST(LossLaunch, StridedMeanInIndexOrder) {
  const std::vector<double> v = {1, 10, 2, 20, 3, 30};  // [3 rows, 2 columns]
  std::vector<double> mean(2);
  cpu::launch(2, math::BatchMeanKernel<double>{v.data(), 3, 2, 0.5, nullptr, mean.data()});
  EXPECT_EQ(mean, (std::vector<double>{1.0, 10.0}));  // 0.5 * 6 / 3, 0.5 * 60 / 3
  float out = 0;
  const int flag = 1;
  math::LossValueKernel<float>{v.data(), 3, 2, 1.0, &flag, &out}(0);
  EXPECT_TRUE(std::isnan(out));
}

TEST(LossLaunch, TargetProbSquaredIsExactlyTheSquare) {
  const int64_t n = 3, c = 4;
  const std::vector<double> z = {0.5, -1, 2, 0.25, 3, 3, -2, 1, 0, 40, -40, 7};
  const std::vector<int64_t> label = {2, 0, 3};
  const std::vector<double> soft = {0.1, 0.6, 0.3, 0, 0, 0, 0.2, 0.8, 0.5, 0, 0, 0.5};
  for (bool use_soft : {false, true}) {
    const int k = use_soft ? 2 : 1;
    const int64_t* index = use_soft ? nullptr : label.data();
    const double* s = use_soft ? soft.data() : nullptr;
    std::vector<double> y(n * k), sq(n * k);
    cpu::launch(n, math::TargetProbKernel<double>{z.data(), index, s, c, k, false, y.data()});
    cpu::launch(n, math::TargetProbKernel<double>{z.data(), index, s, c, k, true, sq.data()});
    for (int64_t i = 0; i < n * k; ++i) {
      EXPECT_EQ(sq[i], y[i] * y[i]) << i;
      EXPECT_GT(y[i], 0.0) << i;
    }
  }
  std::vector<double> y(n);
  cpu::launch(n, math::TargetProbKernel<double>{z.data(), label.data(), nullptr, c, 1, false, y.data()});
  const double e = std::exp(0.5) + std::exp(-1.0) + std::exp(2.0) + std::exp(0.25);
  EXPECT_NEAR(y[0], std::exp(2.0) / e, 1e-15);  // softmax(z_0)_2
}

}  // namespace
}  // namespace nkd::losses
