// Launchers of the pointwise kernels on CUDA devices (defined in pointwise_cuda.cu), called by the
// op code in unary_impl.h, elementwise.cpp, copy.cpp and factory.cpp. CUDA-free header; in a build
// without CUDA, engine/cuda/no_cuda/ops_stub.cpp defines them to throw "built without CUDA".
// Each launcher queues work on the device's compute stream and returns at once.
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/ops/indexing.h"
#include "engine/ops/pointwise_kernels.h"

// The functors of engine/ops/elementwise_math.h compiled for CUDA. A unary op whose functor is not
// listed reports "not implemented for cuda" at run time: list it here to build it for the GPU.
#define NKD_CUDA_UNARY_OPS(X) \
  X(Neg) X(AddScalar) X(MulScalar) X(Exp) X(Log) X(Sqrt) X(PowScalar) X(Relu) X(Relu6) X(Gelu) \
  X(Sigmoid) X(Tanh)
#define NKD_CUDA_BINARY_OPS(X) X(Add) X(Sub) X(Mul) X(Div)

namespace nkd::ops::math {
#define NKD_DECLARE_FUNCTOR(Op) struct Op;
NKD_CUDA_UNARY_OPS(NKD_DECLARE_FUNCTOR)
NKD_CUDA_BINARY_OPS(NKD_DECLARE_FUNCTOR)
#undef NKD_DECLARE_FUNCTOR
}  // namespace nkd::ops::math

namespace nkd::ops::gpu {

template <typename Op>
inline constexpr bool kHasUnary = false;
template <typename F>
inline constexpr bool kHasBinary = false;
#define NKD_MARK_UNARY(Op) template <> inline constexpr bool kHasUnary<math::Op> = true;
#define NKD_MARK_BINARY(Op) template <> inline constexpr bool kHasBinary<math::Op> = true;
NKD_CUDA_UNARY_OPS(NKD_MARK_UNARY)
NKD_CUDA_BINARY_OPS(NKD_MARK_BINARY)
#undef NKD_MARK_UNARY
#undef NKD_MARK_BINARY

// T is float or double throughout.
template <typename Op, typename T>
void unary_forward(Device device, const Op& op, const T* x, T* y, int64_t n);
template <typename Op, typename T>
void unary_backward(Device device, const Op& op, const T* g, const T* x, const T* y, T* gx,
                    int64_t n);
template <typename F, typename T>
void binary(Device device, const T* a, const T* b, T* out, int64_t n);
template <typename T>
void add_inplace(Device device, T* a, const T* b, int64_t n);

// dst[dims.dst(i)] = src[dims.src(i)] converted, for i in [0, n); any dtypes of dispatch_all.
void copy_strided(Device device, DType dst_dtype, void* dst, DType src_dtype, const void* src,
                  const CopyDims& dims, int64_t n);
void fill(Device device, DType dtype, void* out, double value, int64_t n);
// out[i] = draw(spec.first + i): the same Philox numbers as the CPU. dtype F32 or F64.
void random(Device device, DType dtype, void* out, const detail::RandomSpec& spec, int64_t n);

}  // namespace nkd::ops::gpu
