// conv2d's bias on the GPU (conv.cpp): the bias add y[n, c, l] += b[c] and the bias gradient
// (the per-channel sum of dy), on the per-channel machinery shared with batch norm
// (detail/channel_cuda.cuh). The convolutions themselves are cuDNN's (conv_cudnn.cpp).
#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/channel_cuda.cuh"
#include "engine/ops/detail/conv_cuda.h"

namespace nkd::ops::gpu {
namespace {

using namespace channel;

template <typename T>
__global__ void sum_finish_kernel(int64_t C, int64_t chunks, const double* part, T* out) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double a = 0, unused = 0;
  chunk_totals(part, c, chunks, a, unused);
  out[c] = static_cast<T>(a);
}

template <typename T>
struct AddBiasFn {
  T* y;
  const T* b;
  template <int V>
  __device__ void run(int64_t i, int64_t c) const {
    cuda::Pack<T, V> v = cuda::load_pack<V>(static_cast<const T*>(y), i);
    using C = compute_t<T>;  // bf16: widened, added in float, rounded once
    const C bc = C(b[c]);
#pragma unroll
    for (int k = 0; k < V; ++k) v.v[k] = T(C(v.v[k]) + bc);
    cuda::store_pack<V>(y, i, v);
  }
};

}  // namespace

template <typename T>
void channel_sum(Device device, const ChannelShape& s, const T* x, T* out, double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  const Chunks ch = chunks_of(s);
  partial_sums<T, Terms::Plain>(s, ch, x, nullptr, nullptr, scratch, stream);
  sum_finish_kernel<T><<<finish_grid(s.C), kFinishBlock, 0, stream>>>(s.C, ch.count, scratch, out);
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T>
void add_channel_bias(Device device, const ChannelShape& s, T* y, const T* b) {
  const cuda::DeviceGuard guard(device.index);
  launch_per_channel<T>(s, AddBiasFn<T>{y, b}, cuda::aligned16(y),
                        cuda::context(device.index).compute_stream());
}

#define NKD_INSTANTIATE_CONV_BIAS(T, D)                                                  \
  template void channel_sum<T>(Device, const ChannelShape&, const T*, T*, double*); \
  template void add_channel_bias<T>(Device, const ChannelShape&, T*, const T*);
NKD_ALL_FLOAT_TYPES(NKD_INSTANTIATE_CONV_BIAS)

}  // namespace nkd::ops::gpu
