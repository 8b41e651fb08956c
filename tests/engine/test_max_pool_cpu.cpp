// The vector 3x3 stride-2 max pool (engine/ops/max_pool_cpu.cpp) against the generic kernel
// (pool::MaxPoolFwd): the same values (bit for bit, NaN where NaN) and the same indices, on odd and
// even planes, widths across the 16-column blocks, ceil_mode's extra row and column, ties (first
// in raster order wins), -inf windows and NaNs; the AVX-512 and the AVX2 variant, where the CPU has them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cpu/features.h"
#include "engine/ops/detail/max_pool_cpu.h"

namespace nkd::ops::detail {
namespace {

int64_t out_size(int64_t in, bool ceil_mode) {
  const int64_t span = in + 2 - 3;
  int64_t out = (ceil_mode ? (span + 1) / 2 : span / 2) + 1;
  if (ceil_mode && (out - 1) * 2 >= in + 1) --out;
  return out;
}

void expect_same_as_generic(int64_t h, int64_t w, bool ceil_mode, unsigned seed, PoolIsa isa) {
  pool::Geom g;
  g.planes = 3, g.H = h, g.W = w, g.P = out_size(h, ceil_mode), g.Q = out_size(w, ceil_mode);
  g.R = g.S = 3, g.sh = g.sw = 2, g.ph = g.pw = 1;
  ASSERT_TRUE(max_pool3x3s2_applicable(g));
  std::vector<float> x(g.planes * h * w);
  unsigned r = seed;
  for (float& v : x) {
    r = r * 1103515245u + 12345u;
    const unsigned k = (r >> 16) % 23;
    // Few distinct values (ties), some -inf, a few NaNs.
    v = k == 0 ? std::numeric_limits<float>::quiet_NaN() : k < 3 ? -std::numeric_limits<float>::infinity()
                                                          : float(int(k % 7) - 3);
  }
  const int64_t outs = g.planes * g.P * g.Q;
  std::vector<float> y_ref(outs), y(outs);
  std::vector<int64_t> i_ref(outs, -7), i(outs, -7);
  const pool::MaxPoolFwd<float> ref{g, x.data(), y_ref.data(), i_ref.data()};
  for (int64_t row = 0; row < g.planes * g.P; ++row) ref(row);
  max_pool3x3s2_forward(g, x.data(), y.data(), i.data(), isa);
  for (int64_t j = 0; j < outs; ++j) {
    ASSERT_EQ(std::memcmp(&y[j], &y_ref[j], sizeof(float)), 0) << h << "x" << w << " cell " << j << ": " << y[j]
                                                               << " vs " << y_ref[j];
    ASSERT_EQ(i[j], i_ref[j]) << h << "x" << w << " cell " << j;
  }
  std::vector<float> y_only(outs);  // without indices (eval)
  max_pool3x3s2_forward(g, x.data(), y_only.data(), nullptr, isa);
  EXPECT_EQ(std::memcmp(y_only.data(), y.data(), outs * sizeof(float)), 0);
}

void expect_isa_same_as_generic(PoolIsa isa) {
  unsigned seed = 1;
  for (int64_t h : {1, 2, 3, 4, 7, 8, 13})
    for (int64_t w : {1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 34, 63, 65, 112, 113})
      for (bool ceil_mode : {false, true}) expect_same_as_generic(h, w, ceil_mode, seed++, isa);
}

TEST(MaxPool3x3s2, Avx512SameValuesAndIndicesAsTheGenericKernel) {
  if (!cpu::has_avx512f()) GTEST_SKIP() << "no AVX-512F on this CPU";
  expect_isa_same_as_generic(PoolIsa::kAvx512);
}

TEST(MaxPool3x3s2, Avx2SameValuesAndIndicesAsTheGenericKernel) {
  if (!cpu::has_avx2()) GTEST_SKIP() << "no AVX2 + FMA on this CPU";
  expect_isa_same_as_generic(PoolIsa::kAvx2);
}

}  // namespace
}  // namespace nkd::ops::detail
