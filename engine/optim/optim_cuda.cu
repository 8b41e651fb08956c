// Multi-tensor optimizer kernels (see optim_cuda.h): a launch covers up to kMaxTensors tensors
// whose pointers and sizes travel in the kernel parameters; block b updates kChunk elements of one
// tensor with the optim_math.h functor, so the arithmetic is the CPU's. The gradient norm is a sum
// of per-block partials (fixed split, fixed reduction tree: deterministic) finished on the device.
#include <cmath>

#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/dtype.h"
#include "engine/optim/optim_cuda.h"
#include "engine/optim/optim_math.h"

namespace nkd::optim::gpu {
namespace {

constexpr int kThreads = 256;

// The tensors of one launch: item t owns blocks [first_block[t], first_block[t + 1]).
template <typename Item>
struct TensorList {
  Item item[kMaxTensors];
  int64_t first_block[kMaxTensors + 1];
};

template <typename Item>
__device__ int find_tensor(const TensorList<Item>& list) {
  int t = 0;
  while (static_cast<int64_t>(blockIdx.x) >= list.first_block[t + 1]) ++t;
  return t;
}

// body(item, i) for every element i of every listed tensor.
template <typename Item, typename Body>
__global__ void __launch_bounds__(kThreads) multi_tensor_kernel(TensorList<Item> list, Body body) {
  const int t = find_tensor(list);
  const Item& it = list.item[t];
  const int64_t begin = (static_cast<int64_t>(blockIdx.x) - list.first_block[t]) * kChunk;
  const int64_t end = begin + kChunk < it.n ? begin + kChunk : it.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) body(it, i);
}

// partial[base + block] = sum of g^2 over the block's chunk (double, fixed tree).
template <typename T>
__global__ void __launch_bounds__(kThreads) square_partials_kernel(TensorList<GradSlice<T>> list, double* partial,
                                                                   int64_t base) {
  __shared__ double sum[kThreads];
  const int t = find_tensor(list);
  const GradSlice<T>& it = list.item[t];
  const int64_t begin = (static_cast<int64_t>(blockIdx.x) - list.first_block[t]) * kChunk;
  const int64_t end = begin + kChunk < it.n ? begin + kChunk : it.n;
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const double v = static_cast<double>(it.g[i]);
    s += v * v;
  }
  sum[threadIdx.x] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) sum[threadIdx.x] += sum[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[base + blockIdx.x] = sum[0];
}

__global__ void __launch_bounds__(kThreads) finish_norm_kernel(const double* partial, int64_t count, double max_norm,
                                                               double* norm_factor) {
  __shared__ double sum[kThreads];
  double s = 0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) s += partial[i];
  sum[threadIdx.x] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) sum[threadIdx.x] += sum[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const double norm = sqrt(sum[0]);
    norm_factor[0] = norm;
    norm_factor[1] = clip_factor(norm, max_norm);
  }
}

// Splits `items` into launches of at most kMaxTensors tensors; launch(list, blocks, first) queues
// one (first: the global block number of its first block). Empty tensors are skipped.
template <typename Item, typename Launch>
void for_each_launch(const std::vector<Item>& items, const Launch& launch) {
  TensorList<Item> list{};
  int count = 0;
  int64_t blocks = 0, first = 0;
  const auto flush = [&]() {
    if (count == 0) return;
    for (int t = count; t <= kMaxTensors; ++t) list.first_block[t] = blocks;
    launch(list, blocks, first);
    first += blocks;
    count = 0;
    blocks = 0;
  };
  for (const Item& it : items) {
    if (it.n <= 0) continue;
    list.item[count] = it;
    list.first_block[count] = blocks;
    blocks += (it.n + kChunk - 1) / kChunk;
    if (++count == kMaxTensors) flush();
  }
  flush();
}

template <typename Item, typename Body>
void run_multi_tensor(Device device, const std::vector<Item>& items, const Body& body) {
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  for_each_launch(items, [&](const TensorList<Item>& list, int64_t blocks, int64_t) {
    multi_tensor_kernel<Item, Body><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(list, body);
    NKD_CUDA_CHECK_LAUNCH();
  });
}

template <typename T>
struct SgdBody {
  double momentum;
  bool nesterov;
  const double* device_lr;  // null: it.lr is the learning rate; else it.lr is its multiplier
  __device__ void operator()(const SgdItem<T>& it, int64_t i) const {
    const double lr = device_lr != nullptr ? mul_rn(*device_lr, it.lr) : it.lr;
    SgdKernel<T>{it.p, it.g, it.buf, lr, momentum, it.weight_decay, nesterov, it.first_step}(i);
  }
};

template <typename T>
struct AdamWBody {
  double beta1, beta2, eps, bias_correction1, bias_correction2;
  __device__ void operator()(const AdamWItem<T>& it, int64_t i) const {
    AdamWKernel<T>{it.p, it.g, it.m, it.v, it.lr, beta1, beta2, eps, it.weight_decay, bias_correction1,
                   bias_correction2}(i);
  }
};

template <typename T>
struct ScaleBody {
  const double* norm_factor;
  __device__ void operator()(const GradSlice<T>& it, int64_t i) const { ClipScaleKernel<T>{it.g, norm_factor}(i); }
};

}  // namespace

template <typename T>
void sgd_step(Device device, const std::vector<SgdItem<T>>& items, double momentum, bool nesterov,
              const double* device_lr) {
  run_multi_tensor(device, items, SgdBody<T>{momentum, nesterov, device_lr});
}

template <typename T>
void adamw_step(Device device, const std::vector<AdamWItem<T>>& items, double beta1, double beta2, double eps,
                double bias_correction1, double bias_correction2) {
  run_multi_tensor(device, items, AdamWBody<T>{beta1, beta2, eps, bias_correction1, bias_correction2});
}

template <typename T>
void grad_square_partials(Device device, const std::vector<GradSlice<T>>& grads, double* partial) {
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  for_each_launch(grads, [&](const TensorList<GradSlice<T>>& list, int64_t blocks, int64_t first) {
    square_partials_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(list, partial, first);
    NKD_CUDA_CHECK_LAUNCH();
  });
}

void finish_norm(Device device, const double* partial, int64_t count, double max_norm, double* norm_factor) {
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  finish_norm_kernel<<<1, kThreads, 0, stream>>>(partial, count, max_norm, norm_factor);
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T>
void scale_grads(Device device, const std::vector<GradSlice<T>>& grads, const double* norm_factor) {
  run_multi_tensor(device, grads, ScaleBody<T>{norm_factor});
}

#define NKD_INSTANTIATE_OPTIM(T, D)                                                                         \
  template void sgd_step<T>(Device, const std::vector<SgdItem<T>>&, double, bool, const double*);         \
  template void adamw_step<T>(Device, const std::vector<AdamWItem<T>>&, double, double, double, double,   \
                              double);                                                                    \
  template void grad_square_partials<T>(Device, const std::vector<GradSlice<T>>&, double*);               \
  template void scale_grads<T>(Device, const std::vector<GradSlice<T>>&, const double*);
NKD_FLOAT_TYPES(NKD_INSTANTIATE_OPTIM)

}  // namespace nkd::optim::gpu
