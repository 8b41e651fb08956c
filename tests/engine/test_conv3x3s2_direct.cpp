// The direct F32 3x3 stride-2 convolution (engine/ops/conv3x3s2_cpu.cpp, issue 17): conv2d's F32
// forward, input gradient, weight gradient and bias gradient against the same computation in F64
// (the im2col + GEMM path), on odd and even input sizes, non-square planes, channel counts off the
// kernel's blocks (8 output channels, 3 in the weight gradient, 16 in the channel sums), one input
// channel and 1-pixel planes, with 1 and 2 threads; the precision at 128 channels; and the direct
// path is deterministic run to run.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/conv.h"
#include "engine/ops/detail/conv_cpu.h"
#include "tests/support/conv3x3_check.h"

namespace nkd {
namespace {

using Shape = test::Conv3x3Shape;
using Result = test::Conv3x3Result;
using test::rel_err;

Result run(const Shape& s, DType dt, bool bias) { return test::run_conv3x3(s, dt, bias, 2, 13); }
ops::detail::ConvGeom geom(const Shape& s) { return test::conv3x3_geom(s, 2); }

std::string where(const Shape& s) {
  return "n " + std::to_string(s.n) + " c " + std::to_string(s.c) + " k " + std::to_string(s.k) + " " +
         std::to_string(s.h) + "x" + std::to_string(s.w) + ", " + std::to_string(omp_get_max_threads()) +
         " thread(s)";
}

const std::vector<Shape> kShapes = {
    {3, 1, 16, 28, 28},  // one input channel
    {4, 16, 32, 28, 28},  // the demo's 16->32
    {5, 12, 10, 7, 7},   // odd sizes: the odd parity planes have a zero last row and column
    {2, 9, 17, 5, 13},   // non-square, odd, channel counts off the blocks
    {2, 33, 9, 6, 11},   // even rows, odd columns; 33 input channels = 3 channel blocks
    {3, 20, 3, 14, 14},  // 7x7 output (4 vectors, the last one partial)
    {2, 64, 24, 7, 7},   // 4x4 output: one vector per image
    {4, 5, 7, 2, 3},     // 1x2 output
    {3, 4, 8, 1, 1},     // 1x1 input and output: only the centre tap
    {8, 32, 40, 30, 18}, // large enough for 2 weight-gradient tasks and 2 image ranges
};

void check_shapes(double tol) {
  for (const Shape& s : kShapes) {
    const bool bias = s.k % 2 == 1;
    const Result f = run(s, DType::F32, bias), d = run(s, DType::F64, bias);
    EXPECT_LT(rel_err(f.y, d.y), tol) << "forward, " << where(s);
    EXPECT_LT(rel_err(f.gx, d.gx), tol) << "input gradient, " << where(s);
    EXPECT_LT(rel_err(f.gw, d.gw), tol) << "weight gradient, " << where(s);
    if (bias) {
      EXPECT_LT(rel_err(f.gb, d.gb), tol) << "bias gradient, " << where(s);
    }
  }
}

// The thread count for one scope (restored after).
class Threads {
 public:
  explicit Threads(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int saved_;
};

bool direct_taken() {
  for (const Shape& s : kShapes)
    if (!ops::detail::conv3x3s2_direct_applicable(geom(s))) return false;
  return true;
}

TEST(Conv3x3s2Direct, F32MatchesF64OneThread) {
  const Threads one(1);
  check_shapes(2e-6);
  if (!direct_taken()) GTEST_SKIP() << "this CPU has no AVX-512: the direct path is not taken (im2col checked)";
}

TEST(Conv3x3s2Direct, F32MatchesF64TwoThreads) {
  const Threads two(2);
  check_shapes(2e-6);
  if (!direct_taken()) GTEST_SKIP() << "this CPU has no AVX-512: the direct path is not taken (im2col checked)";
}

// At 128 channels the forward and input-gradient sums run over 1152 products: in blocks of 16
// channels they stay as precise as im2col + GEMM (see test_conv3x3_direct.cpp).
TEST(Conv3x3s2Direct, WideChannelsKeepGemmPrecision) {
  const Shape s{2, 128, 128, 16, 16};
  if (!ops::detail::conv3x3s2_direct_applicable(geom(s))) GTEST_SKIP() << "no AVX-512: the direct path is not taken";
  const Result f = run(s, DType::F32, false), d = run(s, DType::F64, false);
  EXPECT_LT(rel_err(f.y, d.y), 5e-7) << "forward";
  EXPECT_LT(rel_err(f.gx, d.gx), 5e-7) << "input gradient";
}

TEST(Conv3x3s2Direct, RepeatsBitForBit) {
  const Threads two(2);
  const Shape s{8, 32, 40, 30, 18};
  const Result a = run(s, DType::F32, false), b = run(s, DType::F32, false);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.gx, b.gx);
  EXPECT_EQ(a.gw, b.gw);
}

}  // namespace
}  // namespace nkd
