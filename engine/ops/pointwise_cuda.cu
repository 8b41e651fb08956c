// CUDA launchers of the pointwise functors (pointwise_kernels.h): unary forward/backward, binary,
// in-place add, strided copy with conversion, fill and random draws, each on the compute stream.
#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/ops/elementwise_math.h"
#include "engine/ops/pointwise_cuda.h"

namespace nkd::ops::gpu {
namespace {

// Makes the device current for the launch and returns its compute stream.
struct On {
  explicit On(Device d) : guard(d.index), stream(cuda::context(d.index).compute_stream()) {}
  cuda::DeviceGuard guard;
  cudaStream_t stream;
};

// The contiguous kernels, V elements per access (cuda::launch_vec): the same per-element
// expressions as the functors of pointwise_kernels.h, whose scalar loads kept too few bytes in
// flight to reach the memory bandwidth (relu ran at 0.69x PyTorch, docs/PERF.md).
template <typename Op, typename T>
struct UnaryFwdVec {
  Op op;
  const T* x;
  T* y;
  template <int V>
  __device__ void run(int64_t i) const {
    const cuda::Pack<T, V> a = cuda::load_pack<V>(x, i);
    cuda::Pack<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = op.template fwd<T>(a.v[k]);
    cuda::store_pack<V>(y, i, o);
  }
};

template <typename Op, typename T>
struct UnaryBwdVec {
  Op op;
  const T *g, *x, *y;  // x, y: null when Op does not need them (read as zeros)
  T* gx;
  template <int V>
  __device__ void run(int64_t i) const {
    const cuda::Pack<T, V> gv = cuda::load_pack<V>(g, i), xv = cuda::load_pack<V>(x, i),
                           yv = cuda::load_pack<V>(y, i);
    cuda::Pack<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = op.template bwd<T>(gv.v[k], xv.v[k], yv.v[k]);
    cuda::store_pack<V>(gx, i, o);
  }
};

template <typename F, typename T>
struct BinaryVec {
  F f;
  const T *a, *b;
  T* out;
  template <int V>
  __device__ void run(int64_t i) const {
    const cuda::Pack<T, V> av = cuda::load_pack<V>(a, i), bv = cuda::load_pack<V>(b, i);
    cuda::Pack<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = f(av.v[k], bv.v[k]);
    cuda::store_pack<V>(out, i, o);
  }
};

template <typename T>
struct AddInplaceVec {
  T* a;
  const T* b;
  template <int V>
  __device__ void run(int64_t i) const {
    cuda::Pack<T, V> av = cuda::load_pack<V>(a, i);
    const cuda::Pack<T, V> bv = cuda::load_pack<V>(b, i);
#pragma unroll
    for (int k = 0; k < V; ++k) av.v[k] += bv.v[k];
    cuda::store_pack<V>(a, i, av);
  }
};

}  // namespace

template <typename Op, typename T>
void unary_forward(Device device, const Op& op, const T* x, T* y, int64_t n) {
  On on(device);
  cuda::launch_vec<T>(n, UnaryFwdVec<Op, T>{op, x, y}, cuda::aligned16(x) && cuda::aligned16(y),
                      on.stream);
}

template <typename Op, typename T>
void unary_backward(Device device, const Op& op, const T* g, const T* x, const T* y, T* gx,
                    int64_t n) {
  On on(device);
  const bool aligned = cuda::aligned16(g) && cuda::aligned16(x) && cuda::aligned16(y) &&
                       cuda::aligned16(gx);
  cuda::launch_vec<T>(n, UnaryBwdVec<Op, T>{op, g, x, y, gx}, aligned, on.stream);
}

template <typename F, typename T>
void binary(Device device, const T* a, const T* b, T* out, int64_t n) {
  On on(device);
  cuda::launch_vec<T>(n, BinaryVec<F, T>{F{}, a, b, out},
                      cuda::aligned16(a) && cuda::aligned16(b) && cuda::aligned16(out), on.stream);
}

template <typename T>
void add_inplace(Device device, T* a, const T* b, int64_t n) {
  On on(device);
  cuda::launch_vec<T>(n, AddInplaceVec<T>{a, b}, cuda::aligned16(a) && cuda::aligned16(b),
                      on.stream);
}

#define NKD_INSTANTIATE_UNARY(Op)                                                              \
  template void unary_forward<math::Op, float>(Device, const math::Op&, const float*, float*,  \
                                               int64_t);                                       \
  template void unary_forward<math::Op, double>(Device, const math::Op&, const double*,        \
                                                double*, int64_t);                             \
  template void unary_backward<math::Op, float>(Device, const math::Op&, const float*,         \
                                                const float*, const float*, float*, int64_t);  \
  template void unary_backward<math::Op, double>(Device, const math::Op&, const double*,       \
                                                 const double*, const double*, double*, int64_t);
#define NKD_INSTANTIATE_BINARY(F)                                                              \
  template void binary<math::F, float>(Device, const float*, const float*, float*, int64_t);   \
  template void binary<math::F, double>(Device, const double*, const double*, double*, int64_t);
NKD_CUDA_UNARY_OPS(NKD_INSTANTIATE_UNARY)
NKD_CUDA_BINARY_OPS(NKD_INSTANTIATE_BINARY)
template void add_inplace<float>(Device, float*, const float*, int64_t);
template void add_inplace<double>(Device, double*, const double*, int64_t);

void copy_strided(Device device, DType dst_dtype, void* dst, DType src_dtype, const void* src,
                  const CopyDims& dims, int64_t n) {
  On on(device);
  const bool small = n < (int64_t{1} << 31);  // 32-bit index arithmetic
  const CopyIndex32 index32 = small ? CopyIndex32(dims) : CopyIndex32();
  dispatch_all(dst_dtype, "copy_", [&]<typename TD>() {
    dispatch_all(src_dtype, "copy_", [&]<typename TS>() {
      auto* d = static_cast<TD*>(dst);
      const auto* s = static_cast<const TS*>(src);
      if (small)
        cuda::launch(n, detail::CopyKernel32<TD, TS>{d, s, index32}, on.stream);
      else
        cuda::launch(n, detail::CopyKernel<TD, TS>{d, dims.dst, s, dims.src}, on.stream);
    });
  });
}

void fill(Device device, DType dtype, void* out, double value, int64_t n) {
  On on(device);
  dispatch_all(dtype, "fill", [&]<typename T>() {
    cuda::launch(n, detail::FillKernel<T>{static_cast<T*>(out), static_cast<T>(value)}, on.stream);
  });
}

void random(Device device, DType dtype, void* out, const detail::RandomSpec& spec, int64_t n) {
  On on(device);
  dispatch_float(dtype, "random", [&]<typename T>() {
    cuda::launch(n, detail::RandomKernel<T>{static_cast<T*>(out), spec}, on.stream);
  });
}

}  // namespace nkd::ops::gpu
