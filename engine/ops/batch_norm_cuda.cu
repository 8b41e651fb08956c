// Batch norm on the GPU, hand-written (cuDNN 9 deprecates its batch-norm API; these kernels
// reproduce the CPU's two-pass double statistics exactly, see docs/DECISIONS.md). One block per
// channel reduces its N L elements (warp shuffles, then shared memory; fixed order, so results are
// deterministic); the elementwise passes are NKD_HD functors over the flat index. The per-channel
// sum and bias add of conv2d live here too.
#include <algorithm>

#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/ops/batch_norm_cuda.h"
#include "engine/ops/batch_norm_math.h"

namespace nkd::ops::gpu {
namespace {

constexpr int kWarp = 32;
constexpr int kStatBlock = 512;  // threads per channel
constexpr int64_t kMaxChannelGrid = 65535;

// The sum of v over the block, returned to every thread. All threads must call it.
__device__ double block_sum(double v) {
  __shared__ double part[kStatBlock / kWarp];
  __shared__ double total;
  const int lane = static_cast<int>(threadIdx.x) % kWarp, warp = static_cast<int>(threadIdx.x) / kWarp;
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x) / kWarp ? part[lane] : 0.0;
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) total = v;
  }
  __syncthreads();
  const double r = total;
  __syncthreads();  // part and total are reused by the next call
  return r;
}

// Element j < N L of channel c in x [N, C, L].
__device__ __forceinline__ int64_t at(const BatchNormShape& s, int64_t c, int64_t j) {
  const int64_t n = j / s.L;
  return (n * s.C + c) * s.L + (j - n * s.L);
}

// Per channel: statistics (two passes in training, else the running ones), mean and invstd as T,
// the affine (scale, shift) into ss [2 C], and the running-stat update.
template <typename T>
__global__ void __launch_bounds__(kStatBlock)
    stats_kernel(BatchNormShape s, bool training, double eps, double momentum, const T* x,
                 const T* rm_old, const T* rv_old, T* rm_new, T* rv_new, const T* w, const T* b,
                 T* mean_out, T* invstd_out, double* ss) {
  const int64_t M = s.N * s.L;
  for (int64_t c = blockIdx.x; c < s.C; c += gridDim.x) {
    double mean = 0, var = 0;
    if (training) {
      double acc = 0;
      for (int64_t j = threadIdx.x; j < M; j += blockDim.x) acc += static_cast<double>(x[at(s, c, j)]);
      mean = block_sum(acc) / static_cast<double>(M);
      acc = 0;
      for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
        const double d = static_cast<double>(x[at(s, c, j)]) - mean;
        acc += d * d;
      }
      var = block_sum(acc) / static_cast<double>(M);
    } else {
      mean = static_cast<double>(rm_old[c]);
      var = static_cast<double>(rv_old[c]);
    }
    if (threadIdx.x != 0) continue;
    const double is = bn::invstd(var, eps);
    mean_out[c] = static_cast<T>(mean);
    invstd_out[c] = static_cast<T>(is);
    const bn::Affine a = bn::affine(mean, is, w, b, c);
    ss[c] = a.scale;
    ss[s.C + c] = a.shift;
    if (!training) continue;
    const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
    if (rm_new) rm_new[c] = static_cast<T>(bn::running_mean(rm_old[c], mean, momentum));
    if (rv_new) rv_new[c] = static_cast<T>(bn::running_var(rv_old[c], var, unbias, momentum));
  }
}

// y = x * scale[c] + shift[c].
template <typename T>
struct ApplyKernel {
  int64_t C, L;
  const T* x;
  const double* ss;  // [2 C]
  T* y;
  NKD_HD void operator()(int64_t i) const {
    const int64_t c = (i / L) % C;
    y[i] = static_cast<T>(bn::apply(static_cast<double>(x[i]), bn::Affine{ss[c], ss[C + c]}));
  }
};

// Per channel: sg = sum g and sgx = invstd * sum g (x - mean); gw = sgx, gb = sg; coefficients
// (k, a, bx) of the gx pass into coef [3 C].
template <typename T>
__global__ void __launch_bounds__(kStatBlock)
    grad_stats_kernel(BatchNormShape s, bool training, const T* x, const T* g, const T* mean,
                      const T* invstd, const T* w, T* gw, T* gb, double* coef) {
  const int64_t M = s.N * s.L;
  for (int64_t c = blockIdx.x; c < s.C; c += gridDim.x) {
    const double m = static_cast<double>(mean[c]), is = static_cast<double>(invstd[c]);
    double sg = 0, sgx = 0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t i = at(s, c, j);
      const double gv = static_cast<double>(g[i]);
      sg += gv;
      sgx += gv * (static_cast<double>(x[i]) - m);
    }
    sg = block_sum(sg);
    sgx = block_sum(sgx) * is;
    if (threadIdx.x != 0) continue;
    if (gw) gw[c] = static_cast<T>(sgx);
    if (gb) gb[c] = static_cast<T>(sg);
    const double inv_m = 1.0 / static_cast<double>(M);
    coef[c] = w ? w[c] * is : is;
    coef[s.C + c] = training ? sg * inv_m : 0.0;
    coef[2 * s.C + c] = training ? sgx * inv_m : 0.0;
  }
}

template <typename T>
struct GradXKernel {
  int64_t C, L;
  const T *x, *g, *mean, *invstd;
  const double* coef;  // [3 C]: k, a, bx
  T* gx;
  NKD_HD void operator()(int64_t i) const {
    const int64_t c = (i / L) % C;
    gx[i] = static_cast<T>(bn::grad_x(static_cast<double>(g[i]), static_cast<double>(x[i]),
                                      static_cast<double>(mean[c]), static_cast<double>(invstd[c]),
                                      coef[c], coef[C + c], coef[2 * C + c]));
  }
};

template <typename T>
__global__ void __launch_bounds__(kStatBlock)
    channel_sum_kernel(BatchNormShape s, const T* x, T* out) {
  const int64_t M = s.N * s.L;
  for (int64_t c = blockIdx.x; c < s.C; c += gridDim.x) {
    double acc = 0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) acc += static_cast<double>(x[at(s, c, j)]);
    acc = block_sum(acc);
    if (threadIdx.x == 0) out[c] = static_cast<T>(acc);
  }
}

template <typename T>
struct AddBiasKernel {
  int64_t C, L;
  T* y;
  const T* b;
  NKD_HD void operator()(int64_t i) const { y[i] += b[(i / L) % C]; }
};

unsigned channel_grid(const BatchNormShape& s) {
  return static_cast<unsigned>(std::clamp<int64_t>(s.C, 1, kMaxChannelGrid));
}

}  // namespace

template <typename T>
void batch_norm_forward(Device device, const BatchNormShape& s, bool training, double eps,
                        double momentum, const T* x, const T* rm_old, const T* rv_old, T* rm_new,
                        T* rv_new, const T* w, const T* b, T* y, T* mean, T* invstd,
                        double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  stats_kernel<T><<<channel_grid(s), kStatBlock, 0, stream>>>(
      s, training, eps, momentum, x, rm_old, rv_old, rm_new, rv_new, w, b, mean, invstd, scratch);
  NKD_CUDA_CHECK_LAUNCH();
  cuda::launch(s.N * s.C * s.L, ApplyKernel<T>{s.C, s.L, x, scratch, y}, stream);
}

template <typename T>
void batch_norm_backward(Device device, const BatchNormShape& s, bool training, const T* x,
                         const T* g, const T* mean, const T* invstd, const T* w, T* gx, T* gw,
                         T* gb, double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  grad_stats_kernel<T><<<channel_grid(s), kStatBlock, 0, stream>>>(s, training, x, g, mean,
                                                                   invstd, w, gw, gb, scratch);
  NKD_CUDA_CHECK_LAUNCH();
  if (gx)
    cuda::launch(s.N * s.C * s.L, GradXKernel<T>{s.C, s.L, x, g, mean, invstd, scratch, gx},
                 stream);
}

template <typename T>
void channel_sum(Device device, const BatchNormShape& s, const T* x, T* out) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  channel_sum_kernel<T><<<channel_grid(s), kStatBlock, 0, stream>>>(s, x, out);
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T>
void add_channel_bias(Device device, const BatchNormShape& s, T* y, const T* b) {
  const cuda::DeviceGuard guard(device.index);
  cuda::launch(s.N * s.C * s.L, AddBiasKernel<T>{s.C, s.L, y, b},
               cuda::context(device.index).compute_stream());
}

#define NKD_INSTANTIATE_BN(T)                                                                    \
  template void batch_norm_forward<T>(Device, const BatchNormShape&, bool, double, double,       \
                                      const T*, const T*, const T*, T*, T*, const T*, const T*,  \
                                      T*, T*, T*, double*);                                      \
  template void batch_norm_backward<T>(Device, const BatchNormShape&, bool, const T*, const T*,  \
                                       const T*, const T*, const T*, T*, T*, T*, double*);       \
  template void channel_sum<T>(Device, const BatchNormShape&, const T*, T*);                     \
  template void add_channel_bias<T>(Device, const BatchNormShape&, T*, const T*);
NKD_INSTANTIATE_BN(float)
NKD_INSTANTIATE_BN(double)

}  // namespace nkd::ops::gpu
