// The per-device context on a GPU (label gpu; built only with CUDA): streams, events, the cuBLAS
// and cuDNN handles, the check macros, and the launch helpers' grid arithmetic.
#include <cublas_v2.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/factory.h"
#include "tests/engine/cuda/cuda_test.h"

namespace nkd::testing {
namespace {

TEST(CudaCheck, MacrosThrowCudaErrorWithTheExpression) {
  // Pure status checks: no device needed.
  try {
    NKD_CUDA_CHECK(cudaErrorInvalidValue);
    ADD_FAILURE() << "no throw";
  } catch (const CudaError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cudaErrorInvalidValue"), std::string::npos) << what;
    EXPECT_NE(what.find("test_cuda_context.cpp"), std::string::npos) << what;
  }
  EXPECT_THROW(NKD_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED), CudaError);
  EXPECT_THROW(NKD_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM), CudaError);
  EXPECT_NO_THROW(NKD_CUDA_CHECK(cudaSuccess));
}

TEST(CudaContext, StreamsEventsAndHandles) {
  NKD_REQUIRE_CUDA();
  cuda::init(gpu());
  cuda::Context& ctx = cuda::context(0);
  EXPECT_EQ(&ctx, &cuda::context(0)) << "one context per device";
  EXPECT_NE(ctx.compute_stream(), nullptr);
  EXPECT_NE(ctx.copy_stream(), ctx.compute_stream());
  cublasContext* blas = ctx.cublas();
  ASSERT_NE(blas, nullptr);
  EXPECT_EQ(ctx.cublas(), blas) << "the handle is created once";
  cudaStream_t bound = nullptr;
  NKD_CUBLAS_CHECK(cublasGetStream(blas, &bound));
  EXPECT_EQ(bound, ctx.compute_stream());
  cudnnContext* dnn = ctx.cudnn();
  ASSERT_NE(dnn, nullptr);
  NKD_CUDNN_CHECK(cudnnGetStream(dnn, &bound));
  EXPECT_EQ(bound, ctx.compute_stream());

  // Order the copy stream after work on the compute stream, with timing events.
  const Tensor t = full({1 << 20}, 1.0, {DType::F32, gpu()});
  cuda::Event start(true), stop(true);
  start.record(ctx.compute_stream());
  stop.record(ctx.compute_stream());
  stop.block(ctx.copy_stream());
  stop.synchronize();
  EXPECT_GE(stop.elapsed_ms(start), 0.0f);
  cuda::synchronize(gpu());
  EXPECT_THROW(cuda::context(cuda::device_count()), Error);
}

TEST(CudaContext, MoveOnlyWrappers) {
  NKD_REQUIRE_CUDA();
  static_assert(!std::is_copy_constructible_v<cuda::Context>);
  static_assert(std::is_nothrow_move_constructible_v<cuda::Context>);
  static_assert(!std::is_copy_constructible_v<cuda::Stream>);
  static_assert(!std::is_copy_constructible_v<cuda::Event>);
  cuda::Stream s(0);
  const cudaStream_t raw = s.get();
  cuda::Stream moved = std::move(s);
  EXPECT_EQ(moved.get(), raw);
  EXPECT_EQ(s.get(), nullptr);
}

}  // namespace
}  // namespace nkd::testing
