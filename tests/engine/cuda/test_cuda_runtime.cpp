// The CUDA runtime on a GPU (label gpu; skipped with the reason without one): allocation and its
// statistics, bit-exact host-device round trips, differentiable device copies, fills, conversions,
// long-row reductions against the CPU, and the Philox draws matching the CPU's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/autograd/grad_mode.h"
#include "engine/cuda/allocator.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/support/compare.h"

namespace nkd::testing {
namespace {

TEST(CudaAllocator, StatsFollowAllocations) {
  NKD_REQUIRE_CUDA();
  const cuda::MemoryStats before = cuda::memory_stats(0);
  cuda::reset_peak_memory_stats(0);
  {
    const Tensor t = empty({1 << 18}, {DType::F32, gpu()});  // 1 MiB
    const cuda::MemoryStats during = cuda::memory_stats(0);
    EXPECT_EQ(during.current_bytes, before.current_bytes + (size_t{1} << 20));
    EXPECT_GE(during.peak_bytes, during.current_bytes);
    EXPECT_EQ(during.live_allocations, before.live_allocations + 1);
    EXPECT_EQ(during.total_allocations, before.total_allocations + 1);
    if (!cuda::sync_alloc_enabled()) {
      EXPECT_GE(during.reserved_bytes, size_t{1} << 20);
    }
  }
  const cuda::MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_GE(after.peak_bytes, before.current_bytes + (size_t{1} << 20));
  const Tensor none = empty({0, 3}, {DType::F32, gpu()});
  EXPECT_EQ(none.numel(), 0);
  EXPECT_EQ(none.to(kCPU).numel(), 0);
}

TEST(CudaAllocator, OutOfMemoryThrowsAndRecovers) {
  NKD_REQUIRE_CUDA();
  try {
    (void)empty({int64_t{1} << 48}, {DType::U8, gpu()});  // 256 TiB
    ADD_FAILURE() << "a 256 TiB allocation succeeded";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("tried to allocate"), std::string::npos) << e.what();
  }
  const Tensor t = full({1000}, 3.0, {DType::F32, gpu()});  // the device still works
  EXPECT_EQ(to_vector<float>(t)[999], 3.0f);
}

TEST(CudaAllocator, PinnedBuffer) {
  NKD_REQUIRE_CUDA();
  cuda::PinnedBuffer buf(4096);
  ASSERT_NE(buf.data(), nullptr);
  std::memset(buf.data(), 7, buf.bytes());
  cuda::PinnedBuffer moved = std::move(buf);
  EXPECT_EQ(buf.data(), nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(moved.data())[4095], 7);
}

// Random bit patterns of every dtype (NaN payloads included) survive CPU -> GPU -> CPU.
TEST(CudaCopy, HostDeviceRoundTripIsBitExact) {
  NKD_REQUIRE_CUDA();
  for (DType dt : {DType::F32, DType::F64, DType::I64, DType::I32, DType::U8}) {
    const int64_t n = 100003;
    std::vector<uint8_t> bytes(static_cast<size_t>(n) * size_of(dt));
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (uint8_t& b : bytes) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      b = static_cast<uint8_t>(s);
    }
    const Tensor host = from_host(bytes.data(), {n}, {dt, kCPU});
    const Tensor dev = host.to(gpu());
    ASSERT_TRUE(dev.is_cuda());
    const Tensor back = dev.to(kCPU);
    ASSERT_FALSE(back.is_cuda());
    EXPECT_EQ(std::memcmp(back.raw_data(), bytes.data(), bytes.size()), 0) << name(dt);
    const Tensor dev2 = from_host(bytes.data(), {n}, {dt, gpu()}).clone();  // device-to-device
    EXPECT_EQ(std::memcmp(dev2.to(kCPU).raw_data(), bytes.data(), bytes.size()), 0) << name(dt);
  }
}

TEST(CudaCopy, NonContiguousSourcesAndViews) {
  NKD_REQUIRE_CUDA();
  Generator gen(3);
  const Tensor a = randn({37, 53}, gen);
  const Tensor at = a.transpose(0, 1);
  NKD_EXPECT_CLOSE(at.to(gpu()).to(kCPU), at.contiguous(), 0, 0);       // CPU view -> GPU
  NKD_EXPECT_CLOSE(a.to(gpu()).transpose(0, 1).to(kCPU), at.contiguous(), 0, 0);  // GPU view
  NKD_EXPECT_CLOSE(a.to(gpu()).narrow(1, 5, 17).contiguous().to(kCPU),
                   a.narrow(1, 5, 17).contiguous(), 0, 0);
  // copy_ from a CPU tensor into a strided GPU view, and a broadcast fill_.
  const Tensor d = zeros({53, 37}, {DType::F32, gpu()});
  ops::copy_(d.narrow(0, 10, 20), at.narrow(0, 0, 20));
  std::vector<float> got = to_vector<float>(d), want(53 * 37, 0.0f);
  const std::vector<float> src = to_vector<float>(at.narrow(0, 0, 20));
  std::copy(src.begin(), src.end(), want.begin() + 10 * 37);
  EXPECT_EQ(got, want);
  NoGradGuard no_grad;
  ops::fill_(d.transpose(0, 1).narrow(0, 1, 2), -4.0);
  EXPECT_EQ(to_vector<float>(d)[1], -4.0f);
  EXPECT_EQ(to_vector<float>(d)[3], 0.0f);
}

TEST(CudaCopy, DtypeConversionsMatchCpu) {
  NKD_REQUIRE_CUDA();
  Generator gen(5);
  const Tensor x = ops::mul(randn({1000}, gen), 50.0);
  for (DType dt : {DType::F64, DType::I64, DType::I32, DType::U8}) {
    const Tensor want = (dt == DType::U8 ? ops::mul(x, 0.0) + 7.0 : x).to(dt);
    const Tensor got = (dt == DType::U8 ? ops::mul(x, 0.0) + 7.0 : x).to(gpu()).to(dt);
    EXPECT_EQ(got.dtype(), dt);
    NKD_EXPECT_CLOSE(got, want, 0, 0);
  }
  NKD_EXPECT_CLOSE(full({5}, 2.5, {DType::F64, gpu()}), full({5}, 2.5, {DType::F64}), 0, 0);
  NKD_EXPECT_CLOSE(arange(9, {DType::I64, gpu()}), arange(9, {DType::I64}), 0, 0);
}

// y = sum((x on the GPU) * 3): dL/dx = 3, delivered on x's device; and the reverse direction.
TEST(CudaCopy, ToDeviceIsDifferentiable) {
  NKD_REQUIRE_CUDA();
  Tensor x = full({4, 5}, 1.5);
  x.set_requires_grad(true);
  Tensor y = ops::sum(ops::mul(x.transpose(0, 1).to(gpu()), 3.0));
  EXPECT_TRUE(y.is_cuda());
  y.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_FALSE(x.grad().is_cuda());
  NKD_EXPECT_CLOSE(x.grad(), full({4, 5}, 3.0), 0, 0);

  Tensor g = full({3}, 2.0, {DType::F32, gpu()});
  g.set_requires_grad(true);
  Tensor z = ops::sum(ops::mul(g.to(kCPU), g.to(kCPU)));
  z.backward();
  ASSERT_TRUE(g.grad().is_cuda());
  NKD_EXPECT_CLOSE(g.grad(), full({3}, 4.0), 0, 0);
}

// Rows long enough for the block-per-row kernel, many short rows, NaN and ties in max.
TEST(CudaReduce, LongAndManyRowsMatchCpu) {
  NKD_REQUIRE_CUDA();
  Generator gen(11);
  for (const Shape& s : {Shape{3, 10000}, Shape{70000, 5}, Shape{1 << 20}, Shape{2, 3, 4097}}) {
    const Tensor x = randn(s, gen);
    const Tensor xg = x.to(gpu());
    NKD_EXPECT_CLOSE(ops::sum(xg, {-1}), ops::sum(x, {-1}), 1e-5, 1e-5);
    NKD_EXPECT_CLOSE(ops::mean(xg), ops::mean(x), 1e-6, 1e-5);
    NKD_EXPECT_CLOSE(ops::max(xg, {-1}), ops::max(x, {-1}), 0, 0);
    NKD_EXPECT_CLOSE(ops::argmax(xg, -1), ops::argmax(x, -1), 0, 0);
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t inner : {50, 5000}) {  // the warp-per-row and the block-per-row kernel
    std::vector<float> v(3 * inner, 1.0f);
    v[7] = 2.0f;  // a tie: the first index wins
    v[9] = 2.0f;
    v[inner + inner * 4 / 5] = nan;  // the first NaN wins
    v[inner + inner * 9 / 10] = nan;
    v[3 * inner - 1] = 3.0f;
    const Tensor t = from_vector(v, {3, inner});
    NKD_EXPECT_CLOSE(ops::argmax(t.to(gpu()), 1), ops::argmax(t, 1), 0, 0);
    NKD_EXPECT_CLOSE(ops::max(t.to(gpu()), {1}), ops::max(t, {1}), 0, 0);
  }
}

// Element i of a draw uses Philox counter offset + i on every device.
TEST(CudaRandom, DrawsMatchCpu) {
  NKD_REQUIRE_CUDA();
  for (DType dt : {DType::F32, DType::F64}) {
    Generator on_cpu(42, 3), on_gpu(42, 3);
    for (int draw = 0; draw < 2; ++draw) {
      const std::vector<double> want = to_vector<double>(randn({4097}, on_cpu, {dt, kCPU}));
      const std::vector<double> got = to_vector<double>(randn({4097}, on_gpu, {dt, gpu()}));
      const std::vector<double> uw = to_vector<double>(uniform({999}, -2, 3, on_cpu, {dt, kCPU}));
      const std::vector<double> ug = to_vector<double>(uniform({999}, -2, 3, on_gpu, {dt, gpu()}));
      // GPU libm differs from glibc by an ulp or two: F32 values are then almost always equal.
      const double tol = dt == DType::F32 ? 1e-6 : 1e-13;
      size_t exact = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << name(dt) << " randn " << i;
        exact += got[i] == want[i];
      }
      if (dt == DType::F32) {
        EXPECT_GE(exact, want.size() * 99 / 100);
      }
      for (size_t i = 0; i < uw.size(); ++i)
        EXPECT_NEAR(ug[i], uw[i], tol * (1 + std::abs(uw[i]))) << name(dt) << " uniform " << i;
    }
    EXPECT_EQ(on_cpu.offset(), on_gpu.offset());
  }
}

}  // namespace
}  // namespace nkd::testing
