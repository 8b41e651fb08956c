// The direct F32 3x3 convolution (engine/ops/conv3x3_cpu.cpp, issue 17): conv2d's F32 forward,
// input gradient and weight gradient against the same computation in F64 (the im2col + GEMM path),
// on shapes with channel counts off the kernel's blocks of 8 (output) and 3 (weight gradient),
// planes that are not a multiple of 16 pixels, non-square planes and one input channel (the stem);
// the precision at 128 channels; and the direct path is deterministic run to run. The small-plane
// kernels (4x4, 7x7 and 14x14 planes, channels a multiple of 16: engine/ops/conv3x3_small_cpu.cpp)
// the same way, with one image, odd batches, 16 / 32 / 48-channel blocks, and on 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/conv.h"
#include "engine/ops/detail/conv3x3_small_cpu.h"
#include "engine/ops/detail/conv_cpu.h"
#include "tests/support/conv3x3_check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nkd {
namespace {

using Shape = test::Conv3x3Shape;
using Result = test::Conv3x3Result;
using test::rel_err;

Result run(const Shape& s, DType dt, bool bias) { return test::run_conv3x3(s, dt, bias, 1, 11); }
ops::detail::ConvGeom geom(const Shape& s) { return test::conv3x3_geom(s, 1); }

const std::vector<Shape> kShapes = {
    {3, 1, 16, 28, 28},  // the demo's stem
    {4, 16, 16, 28, 28}, {5, 12, 10, 7, 7}, {2, 9, 17, 5, 13}, {3, 20, 3, 14, 14}, {6, 32, 24, 8, 8},
    {2, 32, 20, 30, 18}, {3, 16, 5, 9, 13},  // weight gradient with input channels in the lanes
    {3, 64, 96, 9, 13},                      // forward and input gradient with output channels in the lanes
};

// Shapes of the small-plane kernels: output channels in blocks of 32 and 16 (48 = three of 16), in
// both directions (the input gradient runs the kernel with C and K swapped).
const std::vector<Shape> kSmallShapes = {
    {1, 16, 32, 7, 7}, {3, 32, 16, 4, 4}, {5, 48, 48, 7, 7}, {2, 64, 64, 4, 4}, {3, 32, 64, 7, 7}, {1, 128, 16, 4, 4}, {3, 16, 32, 14, 14},
};

std::string describe(const Shape& s) {
  return "n " + std::to_string(s.n) + " c " + std::to_string(s.c) + " k " + std::to_string(s.k) + " " +
         std::to_string(s.h) + "x" + std::to_string(s.w);
}

void expect_matches_f64(const Shape& s, bool bias) {
  const Result f = run(s, DType::F32, bias), d = run(s, DType::F64, bias);
  EXPECT_LT(rel_err(f.y, d.y), 2e-6) << "forward, " << describe(s);
  EXPECT_LT(rel_err(f.gx, d.gx), 2e-6) << "input gradient, " << describe(s);
  EXPECT_LT(rel_err(f.gw, d.gw), 2e-6) << "weight gradient, " << describe(s);
  if (bias) {
    EXPECT_LT(rel_err(f.gb, d.gb), 2e-6) << "bias gradient, " << describe(s);
  }
}

TEST(Conv3x3Direct, F32MatchesF64) {
  bool any_direct = false;
  for (const Shape& s : kShapes) {
    expect_matches_f64(s, s.k % 2 == 1 || s.c >= 64);
    any_direct |= ops::detail::conv3x3_direct_applicable(geom(s));
  }
  if (!any_direct) GTEST_SKIP() << "this CPU has no AVX-512: the direct 3x3 path is not taken (im2col + GEMM checked)";
}

// At 128 channels the forward and input-gradient sums run over 1152 products: summed in blocks of
// 16 channels they stay as precise as im2col + GEMM (about 3e-7 relative here; one running sum
// gave 1e-6 and failed the train-mode ResNet-50 parity test).
TEST(Conv3x3Direct, WideChannelsKeepGemmPrecision) {
  const Shape s{2, 128, 128, 8, 8};
  if (!ops::detail::conv3x3_direct_applicable(geom(s))) GTEST_SKIP() << "no AVX-512: the direct path is not taken";
  const Result f = run(s, DType::F32, false), d = run(s, DType::F64, false);
  EXPECT_LT(rel_err(f.y, d.y), 5e-7) << "forward";
  EXPECT_LT(rel_err(f.gx, d.gx), 5e-7) << "input gradient";
}

// ResNet layer4's 512 channels on 7x7 planes take the small-plane kernel (32 blocks of 16 input
// channels per sum) and keep the precision of the 128-channel case.
TEST(Conv3x3Direct, SmallPlanes512ChannelsKeepGemmPrecision) {
  const Shape s{2, 512, 512, 7, 7};
  if (!ops::detail::conv3x3_direct_applicable(geom(s))) GTEST_SKIP() << "no AVX-512: the direct path is not taken";
  EXPECT_TRUE(ops::detail::conv3x3_small_applicable(geom(s)));
  const Result f = run(s, DType::F32, false), d = run(s, DType::F64, false);
  EXPECT_LT(rel_err(f.y, d.y), 5e-7) << "forward";
  EXPECT_LT(rel_err(f.gx, d.gx), 5e-7) << "input gradient";
  EXPECT_LT(rel_err(f.gw, d.gw), 5e-7) << "weight gradient";
}

TEST(Conv3x3Direct, SmallPlanesMatchF64) {
  for (const Shape& s : kSmallShapes) {
    EXPECT_TRUE(ops::detail::conv3x3_small_applicable(geom(s))) << describe(s);
    expect_matches_f64(s, s.n % 2 == 1);
  }
  if (!ops::detail::conv3x3_direct_applicable(geom(kSmallShapes[0])))
    GTEST_SKIP() << "this CPU has no AVX-512: the small-plane path is not taken (im2col + GEMM checked)";
}

// Large enough that the kernels split their work over 2 threads; the same bits on 1 thread (each
// output is summed by one thread in a fixed order).
TEST(Conv3x3Direct, SmallPlanesOnTwoThreads) {
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  for (const Shape& s : {Shape{8, 64, 64, 7, 7}, Shape{6, 128, 96, 4, 4}}) {
    // im2col + GEMM (no AVX-512) promises no bits across thread counts: OpenBLAS splits its sums.
    if (!ops::detail::conv3x3_direct_applicable(geom(s))) GTEST_SKIP() << "no AVX-512: the direct path is not taken";
    omp_set_num_threads(2);
    const Result two = run(s, DType::F32, true), d = run(s, DType::F64, true);
    omp_set_num_threads(1);
    const Result one = run(s, DType::F32, true);
    omp_set_num_threads(threads);
    EXPECT_LT(rel_err(two.y, d.y), 2e-6) << "forward, " << describe(s);
    EXPECT_LT(rel_err(two.gx, d.gx), 2e-6) << "input gradient, " << describe(s);
    EXPECT_LT(rel_err(two.gw, d.gw), 2e-6) << "weight gradient, " << describe(s);
    EXPECT_EQ(two.y, one.y) << describe(s);
    EXPECT_EQ(two.gx, one.gx) << describe(s);
    EXPECT_EQ(two.gw, one.gw) << describe(s);
  }
#else
  GTEST_SKIP() << "built without OpenMP";
#endif
}

TEST(Conv3x3Direct, RepeatsBitForBit) {
  const Shape s{8, 16, 24, 14, 14};
  const Result a = run(s, DType::F32, false), b = run(s, DType::F32, false);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.gx, b.gx);
  EXPECT_EQ(a.gw, b.gw);
}

}  // namespace
}  // namespace nkd
