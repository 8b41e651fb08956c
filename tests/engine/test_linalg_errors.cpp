// matmul / bmm / linear / conv2d: misuse throws nkd::Error naming the op and both shapes (or the
// dtypes); and the parallel paths that the op table's small cases do not reach (batched GEMMs over
// threads, conv2d's per-thread image ranges, multi-image GEMM chunks and weight-gradient partials)
// agree with the one-image / one-matrix results.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/view.h"
#include "tests/support/compare.h"

namespace nkd {
namespace {

template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected one mentioning " << parts[0];
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(LinalgErrors, MatmulShapeMismatch) {
  expect_error([] { ops::matmul(zeros({2, 3}), zeros({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_error([] { ops::matmul(zeros({2, 3, 4}), zeros({3, 4, 5})); }, {"matmul", "[2, 3, 4]", "[3, 4, 5]"});
  expect_error([] { ops::matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]"});
  expect_error([] { ops::matmul(zeros({}), zeros({4})); }, {"matmul", "[]", "[4]"});
  expect_error([] { ops::bmm(zeros({2, 3, 4}), zeros({3, 4, 5})); }, {"bmm", "[2, 3, 4]", "[3, 4, 5]"});
  expect_error([] { ops::bmm(zeros({3, 4}), zeros({4, 5})); }, {"bmm", "[3, 4]", "[4, 5]"});
  expect_error([] { ops::linear(zeros({2, 3}), zeros({5, 4})); }, {"linear", "[2, 3]", "[5, 4]"});
  expect_error([] { ops::linear(zeros({2, 4}), zeros({5, 4}), zeros({4})); }, {"linear", "[4]", "[5, 4]"});
}

TEST(LinalgErrors, Conv2dShapeMismatch) {
  expect_error([] { ops::conv2d(zeros({8, 4, 32, 32}), zeros({64, 3, 7, 7})); },
               {"conv2d", "weight [64, 3, 7, 7] expects 3 input channels (groups 1)", "[8, 4, 32, 32]"});
  expect_error([] { ops::conv2d(zeros({1, 4, 8, 8}), zeros({6, 1, 3, 3}), Tensor(), {.groups = 2}); },
               {"conv2d", "[6, 1, 3, 3]", "[1, 4, 8, 8]", "groups 2"});
  expect_error([] { ops::conv2d(zeros({1, 4, 8, 8}), zeros({5, 2, 3, 3}), Tensor(), {.groups = 2}); },
               {"conv2d", "[5, 2, 3, 3]", "groups 2"});
  expect_error([] { ops::conv2d(zeros({1, 2, 4, 4}), zeros({3, 2, 5, 5})); },
               {"conv2d", "[3, 2, 5, 5]", "[1, 2, 4, 4]"});
  expect_error([] { ops::conv2d(zeros({2, 8, 8}), zeros({3, 2, 3, 3})); },
               {"conv2d", "[2, 8, 8]", "[3, 2, 3, 3]"});
  expect_error([] { ops::conv2d(zeros({1, 2, 8, 8}), zeros({3, 2, 3, 3}), zeros({4})); },
               {"conv2d", "[4]", "[3, 2, 3, 3]"});
  expect_error([] { ops::conv2d(zeros({1, 2, 8, 8}), zeros({3, 2, 3, 3}), Tensor(), {.stride = 0}); },
               {"conv2d", "stride"});
}

TEST(LinalgErrors, MixedDtypes) {
  const Tensor f32 = zeros({3, 3}), f64 = zeros({3, 3}, {DType::F64});
  expect_error([&] { ops::matmul(f32, f64); }, {"matmul", "F32", "F64"});
  expect_error([&] { ops::bmm(zeros({1, 3, 3}), zeros({1, 3, 3}, {DType::F64})); }, {"bmm", "F32", "F64"});
  expect_error([&] { ops::linear(f32, f64); }, {"linear", "F32", "F64"});
  expect_error([&] { ops::linear(f32, f32, zeros({3}, {DType::F64})); }, {"linear", "F32", "F64"});
  expect_error([] { ops::conv2d(zeros({1, 2, 5, 5}), zeros({2, 2, 3, 3}, {DType::F64})); },
               {"conv2d", "F32", "F64"});
  expect_error([] { ops::conv2d(zeros({1, 2, 5, 5}), zeros({2, 2, 3, 3}), zeros({2}, {DType::F64})); },
               {"conv2d", "F32", "F64"});
  expect_error([] { ops::matmul(zeros({2, 2}, {DType::I64}), zeros({2, 2}, {DType::I64})); }, {"matmul", "I64"});
}

// A batch of small products runs one per thread; each must equal the product of its own slices.
TEST(LinalgParallel, BatchedMatmulMatchesSlices) {
  Generator gen(3);
  const Tensor a = randn({300, 9, 7}, gen, {DType::F64}), b = randn({300, 7, 5}, gen, {DType::F64});
  const Tensor c = ops::matmul(a, b);
  for (int64_t i = 0; i < 300; i += 37) {
    auto slice = [i](const Tensor& t) { return ops::squeeze(ops::narrow(t, 0, i, 1), 0); };
    const Tensor ci = ops::matmul(slice(a), slice(b));
    EXPECT_TRUE(testing::all_close(slice(c), ci, 1e-12, 1e-12, "slice"));
  }
}

// conv2d of a batch (split over threads, images grouped into GEMMs) against one image at a time:
// outputs and input gradients per image, weight and bias gradients summed over the images.
void check_batch_against_images(const Shape& xs, const Shape& ws, const ops::Conv2dOptions& o) {
  Generator gen(5);
  const TensorOptions f64{DType::F64};
  const Tensor x = randn(xs, gen, f64), w = randn(ws, gen, f64), b = randn({ws[0]}, gen, f64);
  auto leaf = [](const Tensor& t) {
    Tensor l = t.clone();
    l.set_requires_grad(true);
    return l;
  };
  const Tensor xl = leaf(x), wl = leaf(w), bl = leaf(b);
  const Tensor y = ops::conv2d(xl, wl, bl, o);
  const Tensor gy = randn(y.shape(), gen, {DType::F64});
  y.backward(gy);
  Tensor gw_sum = zeros(ws, {DType::F64}), gb_sum = zeros({ws[0]}, {DType::F64});
  for (int64_t n = 0; n < xs[0]; ++n) {
    const Tensor xn = leaf(ops::narrow(x, 0, n, 1)), wn = leaf(w), bn = leaf(b);
    const Tensor yn = ops::conv2d(xn, wn, bn, o);
    yn.backward(ops::narrow(gy, 0, n, 1).contiguous());
    const std::string at = "image " + std::to_string(n);
    EXPECT_TRUE(testing::all_close(ops::narrow(y, 0, n, 1), yn, 1e-10, 1e-10, "y " + at));
    EXPECT_TRUE(testing::all_close(ops::narrow(xl.grad(), 0, n, 1), xn.grad(), 1e-10, 1e-10, "dx " + at));
    gw_sum = gw_sum + wn.grad();
    gb_sum = gb_sum + bn.grad();
  }
  EXPECT_TRUE(testing::all_close(wl.grad(), gw_sum, 1e-9, 1e-9, "dw"));
  EXPECT_TRUE(testing::all_close(bl.grad(), gb_sum, 1e-9, 1e-9, "db"));
}

TEST(LinalgParallel, Conv2dLargeImagesPerThread) {
  check_batch_against_images({6, 32, 16, 16}, {48, 16, 3, 3}, {.padding = 1, .groups = 2});
  // One image alone: its GEMMs and im2col loops are split over the threads instead.
  check_batch_against_images({2, 64, 24, 24}, {64, 64, 3, 3}, {.padding = 1});
}

TEST(LinalgParallel, Conv2dSmallImagesGroupedIntoGemms) {
  check_batch_against_images({7, 64, 9, 9}, {64, 64, 3, 3}, {.stride = 2, .padding = 1});
  check_batch_against_images({5, 64, 6, 6}, {96, 64, 1, 1}, {});
}

TEST(LinalgParallel, Conv2dDepthwiseBatch) {
  check_batch_against_images({4, 32, 20, 19}, {64, 1, 3, 3}, {.padding = 1, .groups = 32});
  check_batch_against_images({3, 16, 21, 21}, {16, 1, 5, 5},
                             {.stride = 2, .padding = 2, .dilation = 2, .groups = 16});
}

}  // namespace
}  // namespace nkd
