// The GPU paths of the shape, indexing and dropout ops (label gpu; skipped without a GPU):
// dropout / drop_path masks bit-identical to the CPU's for the same generator state, F64 gradient
// checks of the GPU ops (inputs moved to the GPU inside the checked function), sizes beyond 65535
// blocks, odd shapes and integer dtypes, deterministic backward passes and index errors.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "engine/factory.h"
#include "engine/ops/dropout.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/shape_ops.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;

// More elements than 65535 blocks of 256 threads cover.
constexpr int64_t kLarge = 65535 * 256 + 12345;

// The two tensors hold the same dtype, shape and bytes (the GPU one is copied to the host).
::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << describe(a) << " vs " << describe(b);
  const Tensor ha = a.detach().to(kCPU).contiguous(), hb = b.detach().to(kCPU).contiguous();
  const size_t bytes = static_cast<size_t>(ha.numel()) * size_of(ha.dtype());
  if (bytes != 0 && std::memcmp(ha.raw_data(), hb.raw_data(), bytes) != 0)
    return ::testing::AssertionFailure() << "bytes differ: " << describe(a);
  return ::testing::AssertionSuccess();
}

// fn run with its inputs moved to the GPU (differentiably) and its outputs moved back: a
// gradcheck of this on CPU F64 inputs checks the GPU forward and backward.
OpFn on_gpu(const OpFn& fn) {
  return [fn](const V& in) {
    V dev, out;
    for (const Tensor& x : in) dev.push_back(x.to(gpu()));
    for (const Tensor& y : fn(dev)) {
      EXPECT_TRUE(y.is_cuda());
      out.push_back(y.to(kCPU));
    }
    return out;
  };
}

void expect_gradcheck(const OpFn& fn, const V& inputs, const std::string& what) {
  const GradcheckResult r = gradcheck(on_gpu(fn), inputs);
  EXPECT_TRUE(r.ok) << what << ": " << r.report;
}

Tensor randn64(const Shape& s, uint64_t seed, bool grad = true) {
  Generator gen(seed);
  Tensor t = randn(s, gen, {DType::F64, kCPU});
  if (grad) t.set_requires_grad(true);
  return t;
}

Tensor index_tensor(const std::vector<int64_t>& v, const Shape& s) { return from_vector(v, s); }

// I64 values in [0, bound) from a fixed xorshift sequence (CPU tensor).
Tensor random_index(const Shape& s, int64_t bound, uint64_t seed) {
  std::vector<int64_t> v(static_cast<size_t>(numel(s)));
  uint64_t r = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t& e : v) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    e = static_cast<int64_t>(r % static_cast<uint64_t>(bound));
  }
  return from_vector(v, s);
}

// Runs op(x) with x on the CPU and on the GPU from the same generator state, with a backward of a
// random cotangent; forward values, gradients and the generators' offsets agree bit for bit.
void expect_same_mask(const std::function<Tensor(const Tensor&, Generator&)>& op, const Shape& s,
                      DType dt, const std::string& what) {
  Generator data(7);
  const Tensor x = randn(s, data, {dt, kCPU});
  Tensor xc = x.clone(), xg = x.to(gpu());
  xc.set_requires_grad(true);
  xg.set_requires_grad(true);
  Generator gc(1234, 5), gg(1234, 5);
  gc.set_offset(99);
  gg.set_offset(99);
  const Tensor yc = op(xc, gc), yg = op(xg, gg);
  ASSERT_TRUE(yg.is_cuda()) << what;
  EXPECT_TRUE(same_bits(yg, yc)) << what << " forward";
  EXPECT_EQ(gg.offset(), gc.offset()) << what;
  const Tensor cot = randn(yc.shape(), data, {dt, kCPU});
  yc.backward(cot);
  yg.backward(cot.to(gpu()));
  ASSERT_TRUE(xg.grad().defined() && xg.grad().is_cuda()) << what;
  EXPECT_TRUE(same_bits(xg.grad(), xc.grad())) << what << " backward";
}

TEST(CudaDropout, MasksMatchCpuBitForBit) {
  NKD_REQUIRE_CUDA();
  const auto dropout = [](double p) {
    return [p](const Tensor& x, Generator& g) { return ops::dropout(x, p, true, g); };
  };
  expect_same_mask(dropout(0.3), {kLarge}, DType::F32, "dropout large f32");
  expect_same_mask(dropout(0.5), {3, 5, 7}, DType::F64, "dropout odd f64");
  expect_same_mask(dropout(1.0), {1001}, DType::F32, "dropout p=1");
  expect_same_mask(dropout(0.1), {1}, DType::F32, "dropout one element");
  // A strided input: the mask follows the logical order on both devices.
  expect_same_mask(
      [](const Tensor& x, Generator& g) { return ops::dropout(x.transpose(0, 1), 0.4, true, g); },
      {37, 129}, DType::F32, "dropout transposed");
}

TEST(CudaDropout, DropPathMatchesCpuBitForBit) {
  NKD_REQUIRE_CUDA();
  const auto drop_path = [](double p) {
    return [p](const Tensor& x, Generator& g) { return ops::drop_path(x, p, true, g); };
  };
  expect_same_mask(drop_path(0.4), {33, 3, 7, 5}, DType::F32, "drop_path nchw");
  expect_same_mask(drop_path(0.5), {1, 2, 3}, DType::F64, "drop_path batch 1");
  expect_same_mask(drop_path(0.25), {129, kLarge / 129}, DType::F32, "drop_path large");
}

TEST(CudaDropout, KeepsTheDeviceAndIdentityCases) {
  NKD_REQUIRE_CUDA();
  Generator g(3);
  const Tensor x = full({4, 5}, 2.0, {DType::F32, gpu()});
  const Tensor y = ops::dropout(x, 0.5, false, g);
  EXPECT_TRUE(same_bits(y, x));
  EXPECT_EQ(g.offset(), 0u);
  const Tensor e = ops::dropout(empty({0, 3}, {DType::F32, gpu()}), 0.5, true, g);
  EXPECT_TRUE(e.is_cuda());
  EXPECT_EQ(e.numel(), 0);
}

TEST(CudaShapeGradcheck, IndexOpsF64) {
  NKD_REQUIRE_CUDA();
  const Tensor gi = index_tensor({0, 0, 2, 0, 1, 1, 1, 1, 2, 0, 2, 2}, {3, 4});
  expect_gradcheck([](const V& in) { return V{ops::gather(in[0], 1, in[1])}; },
                   {randn64({3, 5}, 1), gi}, "gather dim1 duplicates");
  const Tensor si = index_tensor({5, 0, 2, 1, 4, 3, 0, 1, 2}, {3, 3});
  expect_gradcheck([](const V& in) { return V{ops::scatter(in[0], 1, in[1], in[2])}; },
                   {randn64({3, 6}, 2), si, randn64({3, 3}, 3)}, "scatter dim1");
  const Tensor ii = index_tensor({1, 1, 3, 0, 1, 4, 4}, {7});
  expect_gradcheck([](const V& in) { return V{ops::index_select(in[0], 1, in[1])}; },
                   {randn64({2, 5, 3}, 4), ii}, "index_select dim1 duplicates");
  expect_gradcheck([](const V& in) { return V{ops::index_select(in[0], 0, in[1])}; },
                   {randn64({5, 1}, 5), ii}, "index_select dim0 inner 1");
}

TEST(CudaShapeGradcheck, MoversAndDropoutF64) {
  NKD_REQUIRE_CUDA();
  expect_gradcheck([](const V& in) { return V{ops::concat(in, -1)}; },
                   {randn64({2, 3, 1}, 6), randn64({2, 3, 4}, 7), randn64({2, 3, 2}, 8)}, "concat");
  expect_gradcheck([](const V& in) { return ops::chunk(in[0], 3, 1); }, {randn64({3, 7}, 9)},
                   "chunk");
  expect_gradcheck([](const V& in) { return V{ops::roll(in[0], {-2, 3}, {1, 2})}; },
                   {randn64({2, 5, 4, 3}, 10)}, "roll");
  expect_gradcheck([](const V& in) { return V{ops::roll(in[0], {7}, {})}; },
                   {randn64({3, 5}, 11)}, "roll flat");
  expect_gradcheck([](const V& in) { return V{ops::pad(in[0], {-1, 2, 1, -1}, 0.5)}; },
                   {randn64({2, 3, 6}, 12)}, "pad with crop");
  expect_gradcheck([](const V& in) { return V{ops::channel_shuffle(in[0], 3)}; },
                   {randn64({2, 6, 3, 1}, 13)}, "channel_shuffle");
  expect_gradcheck(
      [](const V& in) {
        Generator g(77, 1);
        return V{ops::dropout(in[0], 0.4, true, g)};
      },
      {randn64({4, 9}, 14)}, "dropout");
  expect_gradcheck(
      [](const V& in) {
        Generator g(78, 1);
        return V{ops::drop_path(in[0], 0.5, true, g)};
      },
      {randn64({6, 2, 3}, 15)}, "drop_path");
}

// Data movers on integer and float dtypes, on sizes beyond 65535 blocks: the GPU equals the CPU.
TEST(CudaShapeLarge, MoversMatchCpuExactly) {
  NKD_REQUIRE_CUDA();
  Generator gen(21);
  const Tensor x = randn({kLarge / 5, 5}, gen);
  const Tensor xg = x.to(gpu());
  EXPECT_TRUE(same_bits(ops::roll(xg, {12345, -2}, {0, 1}), ops::roll(x, {12345, -2}, {0, 1})));
  EXPECT_TRUE(same_bits(ops::pad(xg, {1, 2, 3, -4}, 9.0), ops::pad(x, {1, 2, 3, -4}, 9.0)));
  EXPECT_TRUE(same_bits(ops::concat({xg, xg.narrow(1, 1, 3)}, 1), ops::concat({x, x.narrow(1, 1, 3)}, 1)));
  for (DType dt : {DType::U8, DType::I32, DType::I64, DType::F64}) {
    const Tensor xi = random_index({kLarge / 5, 5}, 1000, 3).to(dt), xig = xi.to(gpu());
    EXPECT_TRUE(same_bits(ops::roll(xig, {-3}, {}), ops::roll(xi, {-3}, {}))) << name(dt);
    EXPECT_TRUE(same_bits(ops::pad(xig, {0, 1}, 3.0), ops::pad(xi, {0, 1}, 3.0))) << name(dt);
    const Tensor idx = from_vector(std::vector<int64_t>{4, 0, 0, 2}, {4});
    EXPECT_TRUE(same_bits(ops::index_select(xig, 1, idx.to(gpu())), ops::index_select(xi, 1, idx)))
        << name(dt);
  }
}

TEST(CudaShapeLarge, IndexOpsMatchCpu) {
  NKD_REQUIRE_CUDA();
  Generator gen(22);
  const int64_t rows = kLarge / 8;
  const Tensor x = randn({rows, 8}, gen);
  Tensor xc = x.clone(), xg = x.to(gpu());
  xc.set_requires_grad(true);
  xg.set_requires_grad(true);
  // Labels-style gather over many rows, and an index with every value repeated.
  const Tensor idx = random_index({rows, 3}, 8, 4);
  const Tensor yc = ops::gather(xc, 1, idx), yg = ops::gather(xg, 1, idx.to(gpu()));
  EXPECT_TRUE(same_bits(yg, yc));
  const Tensor cot = randn(yc.shape(), gen);
  yc.backward(cot);
  yg.backward(cot.to(gpu()));
  EXPECT_TRUE(all_close(xg.grad(), xc.grad(), 1e-6, 1e-6, "gather backward"));
  const Tensor oh = ops::one_hot(idx.narrow(1, 0, 1).to(gpu()), -1, DType::F32);
  EXPECT_TRUE(same_bits(oh, ops::one_hot(idx.narrow(1, 0, 1), -1, DType::F32)));
}

// Swin's relative-position bias: a small table read at 2401 positions; the backward sums many
// duplicates in index order, the same order on every run.
TEST(CudaShapeBackward, IndexSelectDuplicatesAreDeterministic) {
  NKD_REQUIRE_CUDA();
  Generator gen(23);
  const Tensor table = randn({169, 6}, gen);
  const Tensor idx = random_index({2401}, 169, 5);
  const Tensor cot = randn({2401, 6}, gen);
  std::vector<Tensor> grads;
  for (int run = 0; run < 2; ++run) {
    Tensor t = table.to(gpu()).detach();
    t.set_requires_grad(true);
    ops::index_select(t, 0, idx.to(gpu())).backward(cot.to(gpu()));
    grads.push_back(t.grad());
  }
  EXPECT_TRUE(same_bits(grads[0], grads[1]));
  Tensor tc = table.detach().clone();
  tc.set_requires_grad(true);
  ops::index_select(tc, 0, idx).backward(cot);
  EXPECT_TRUE(all_close(grads[0], tc.grad(), 1e-5, 1e-5, "index_select backward"));
}

TEST(CudaShapeOdd, EmptyEightDimsAndErrors) {
  NKD_REQUIRE_CUDA();
  Generator gen(24);
  // Eight dims (kMaxDims), odd sizes.
  const Tensor x8 = randn({2, 1, 3, 1, 2, 3, 1, 5}, gen);
  const Tensor g8 = x8.to(gpu());
  EXPECT_TRUE(same_bits(ops::roll(g8, {1, -1, 4}, {0, 2, 7}), ops::roll(x8, {1, -1, 4}, {0, 2, 7})));
  const std::vector<int64_t> pads = {1, 1, 0, 2, -1, 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1};
  EXPECT_TRUE(same_bits(ops::pad(g8, pads, -1.0), ops::pad(x8, pads, -1.0)));
  // Zero-size tensors.
  const Tensor z = empty({0, 4}, {DType::F32, gpu()});
  EXPECT_EQ(ops::roll(z, {2}, {1}).numel(), 0);
  EXPECT_EQ(ops::pad(z, {1, 1, 1, 1}).numel(), 12);
  EXPECT_TRUE(same_bits(ops::pad(z, {1, 1, 1, 1}, 2.0), full({2, 6}, 2.0)));
  EXPECT_EQ(ops::index_select(g8, 0, empty({0}, {DType::I64, gpu()})).numel(), 0);
  EXPECT_EQ(ops::concat({z, empty({3, 4}, {DType::F32, gpu()})}, 0).size(0), 3);
  // Bad indices on the GPU throw before any kernel runs; the device keeps working.
  const Tensor bad = from_vector(std::vector<int64_t>{0, 7, 1}, {3}).to(gpu());
  EXPECT_THROW(ops::index_select(g8, 7, bad), Error);
  EXPECT_THROW(ops::gather(g8.reshape({6, 30}), 0, bad.reshape({3, 1})), Error);
  EXPECT_THROW(ops::one_hot(bad, 3), Error);
  EXPECT_THROW(ops::gather(g8.reshape({6, 30}), 0, from_vector(std::vector<int64_t>{0}, {1, 1})), Error);
  EXPECT_THROW(ops::concat({z, empty({1, 4})}, 0), Error);
  EXPECT_TRUE(same_bits(ops::one_hot(bad, 8, DType::U8), ops::one_hot(bad.to(kCPU), 8, DType::U8)));
}

// A GPU index is range-checked on the host once; after an in-place write (the version moves) or
// against a smaller bound it is checked again.
TEST(CudaShapeOdd, CheckedIndexIsCheckedAgainAfterAWrite) {
  NKD_REQUIRE_CUDA();
  Generator gen(25);
  const Tensor x = randn({5, 3}, gen).to(gpu());
  const Tensor index = from_vector(std::vector<int64_t>{0, 4, 2}, {3}).to(gpu());
  for (int i = 0; i < 3; ++i) EXPECT_NO_THROW(ops::index_select(x, 0, index));  // cached after the first
  EXPECT_THROW(ops::index_select(x.narrow(0, 0, 4), 0, index), Error);           // bound 4: 4 is out
  ops::fill_(index, 9.0);
  EXPECT_THROW(ops::index_select(x, 0, index), Error);
  ops::fill_(index, 1.0);
  EXPECT_TRUE(same_bits(ops::index_select(x, 0, index), ops::index_select(x.to(kCPU), 0, index.to(kCPU))));
}

}  // namespace
}  // namespace nkd::testing
