// Batch norm on the GPU, hand-written (cuDNN 9 deprecates its batch-norm API; see
// docs/DECISIONS.md). Three steps per pass:
//   1. partial sums: block (k, c) reduces chunk k of channel c's N L elements into two doubles
//      (several blocks per channel, so that a few channels still fill the GPU); forward: sums of
//      d = x - x[0, c, 0] and d^2 (one pass, shifted by the channel's first element so that the
//      variance does not cancel), backward: sums of g and g (x - mean);
//   2. finish: one thread per channel adds its chunks in order (deterministic) and computes the
//      statistics, the affine or the gradient coefficients (batch_norm_math.h, as on the CPU);
//   3. the elementwise pass, 16-byte vector loads where the rows allow, 32-bit index arithmetic
//      where the tensor allows.
// The per-channel sum and bias add of conv2d (conv.cpp) use steps 1-3 too.
#include <algorithm>
#include <cstdint>

#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/ops/batch_norm_cuda.h"
#include "engine/ops/batch_norm_math.h"

namespace nkd::ops::gpu {
namespace {

constexpr int kWarp = 32;
constexpr int kSumBlock = 256;    // threads of a partial-sum block
constexpr int kUnroll = 4;        // loads in flight per thread in the partial sums
constexpr int kFinishBlock = 128;
constexpr int64_t kMaxGridY = 65535;

// The sum of v over the block, returned to every thread. All threads must call it.
__device__ double block_sum(double v) {
  __shared__ double part[kSumBlock / kWarp];
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

// ---- step 1: partial sums per (chunk, channel) ------------------------------------------------

enum class Terms {
  Shifted,  // a += x - K, b += (x - K)^2 with K = x[0, c, 0]
  Grad,     // a += g, b += g (x - mean[c])
  Plain,    // a += x
};

// Chunk k = blockIdx.x of channel c holds the elements j in [k per, (k + 1) per) of the channel's
// j = n L + l order; part[(c chunks + k) * 2 + {0, 1}] receives (a, b).
template <typename T, Terms kTerms>
__global__ void __launch_bounds__(kSumBlock, 4)  // 4 blocks per SM: 64 registers
    partial_sums_kernel(BatchNormShape s, int64_t per, const T* x, const T* g, const T* mean,
                        double* part) {
  const int64_t M = s.N * s.L, CL = s.C * s.L, B = blockDim.x;
  const int64_t qB = B / s.L, rB = B - qB * s.L;  // a step of B elements: qB planes and rB
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * per, j1 = j0 + per < M ? j0 + per : M;
  for (int64_t c = blockIdx.y; c < s.C; c += gridDim.y) {
    double center = 0;
    if constexpr (kTerms == Terms::Shifted) center = static_cast<double>(x[c * s.L]);
    if constexpr (kTerms == Terms::Grad) center = static_cast<double>(mean[c]);
    double a = 0, b = 0;
    int64_t j = j0 + threadIdx.x;
    int64_t l = j % s.L;
    int64_t off = ((j / s.L) * s.C + c) * s.L + l;  // x[n, c, l] for j = n L + l
    for (; j < j1; j += kUnroll * B) {
      double xv[kUnroll], gv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const bool in = j + u * B < j1;  // a masked element adds exactly zero
        xv[u] = in ? static_cast<double>(x[off]) : center;
        if constexpr (kTerms == Terms::Grad) gv[u] = in ? static_cast<double>(g[off]) : 0.0;
        l += rB;
        off += qB * CL + rB;
        if (l >= s.L) {
          l -= s.L;
          off += CL - s.L;
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if constexpr (kTerms == Terms::Shifted) {
          const double d = xv[u] - center;
          a += d;
          b += d * d;
        } else if constexpr (kTerms == Terms::Grad) {
          a += gv[u];
          b += gv[u] * (xv[u] - center);
        } else {
          a += xv[u];
        }
      }
    }
    a = block_sum(a);
    if constexpr (kTerms != Terms::Plain) b = block_sum(b);
    if (threadIdx.x == 0) {
      part[(c * gridDim.x + blockIdx.x) * 2] = a;
      part[(c * gridDim.x + blockIdx.x) * 2 + 1] = b;
    }
  }
}

// The chunks of the partial sums of s (see batch_norm_scratch_doubles) and their length.
struct Chunks {
  int64_t count, per;
};
Chunks chunks_of(const BatchNormShape& s) {
  const int64_t M = s.N * s.L, count = reduction_chunks(s);
  return {count, std::max<int64_t>(1, (M + count - 1) / count)};
}

template <typename T, Terms kTerms>
void partial_sums(const BatchNormShape& s, const Chunks& ch, const T* x, const T* g, const T* mean,
                  double* part, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(ch.count),
                  static_cast<unsigned>(std::clamp<int64_t>(s.C, 1, kMaxGridY)));
  partial_sums_kernel<T, kTerms><<<grid, kSumBlock, 0, stream>>>(s, ch.per, x, g, mean, part);
  NKD_CUDA_CHECK_LAUNCH();
}

// Sums of channel c's chunks, in chunk order.
__device__ __forceinline__ void chunk_totals(const double* part, int64_t c, int64_t chunks,
                                             double& a, double& b) {
  a = b = 0;
  for (int64_t k = 0; k < chunks; ++k) {
    a += part[(c * chunks + k) * 2];
    b += part[(c * chunks + k) * 2 + 1];
  }
}

unsigned finish_grid(int64_t C) {
  return static_cast<unsigned>(std::max<int64_t>(1, (C + kFinishBlock - 1) / kFinishBlock));
}

// ---- step 2: per-channel results --------------------------------------------------------------

// Statistics (training: from the partial sums; inference: the running ones), mean and invstd as T,
// the affine (scale, shift) into ss [2 C], and the running-stat update.
template <typename T>
__global__ void stats_finish_kernel(BatchNormShape s, int64_t chunks, bool training, double eps,
                                    double momentum, const T* x, const T* rm_old, const T* rv_old,
                                    T* rm_new, T* rv_new, const T* w, const T* b, T* mean_out,
                                    T* invstd_out, const double* part, double* ss) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= s.C) return;
  const int64_t M = s.N * s.L;
  double mean = 0, var = 0;
  if (training) {
    double sd = 0, sdd = 0;
    chunk_totals(part, c, chunks, sd, sdd);
    const double dm = sd / static_cast<double>(M);  // mean - K
    mean = static_cast<double>(x[c * s.L]) + dm;
    var = ::fmax(sdd / static_cast<double>(M) - dm * dm, 0.0);
  } else {
    mean = static_cast<double>(rm_old[c]);
    var = static_cast<double>(rv_old[c]);
  }
  const double is = bn::invstd(var, eps);
  mean_out[c] = static_cast<T>(mean);
  invstd_out[c] = static_cast<T>(is);
  const bn::Affine a = bn::affine(mean, is, w, b, c);
  ss[c] = a.scale;
  ss[s.C + c] = a.shift;
  if (!training) return;
  const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
  if (rm_new) rm_new[c] = static_cast<T>(bn::running_mean(rm_old[c], mean, momentum));
  if (rv_new) rv_new[c] = static_cast<T>(bn::running_var(rv_old[c], var, unbias, momentum));
}

// sg = sum g, sgx = invstd * sum g (x - mean); gw = sgx, gb = sg; the coefficients (k, a, bx) of
// the gx pass into coef [3 C]. Without partial sums (inference, no gw / gb) sg = sgx = 0.
template <typename T>
__global__ void grad_finish_kernel(BatchNormShape s, int64_t chunks, bool training,
                                   const T* invstd, const T* w, T* gw, T* gb, const double* part,
                                   double* coef) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= s.C) return;
  const double is = static_cast<double>(invstd[c]);
  double sg = 0, sgx = 0;
  if (part) chunk_totals(part, c, chunks, sg, sgx);
  sgx *= is;
  if (gw) gw[c] = static_cast<T>(sgx);
  if (gb) gb[c] = static_cast<T>(sg);
  const double inv_m = 1.0 / static_cast<double>(s.N * s.L);
  coef[c] = w ? w[c] * is : is;
  coef[s.C + c] = training ? sg * inv_m : 0.0;
  coef[2 * s.C + c] = training ? sgx * inv_m : 0.0;
}

template <typename T>
__global__ void sum_finish_kernel(int64_t C, int64_t chunks, const double* part, T* out) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double a = 0, unused = 0;
  chunk_totals(part, c, chunks, a, unused);
  out[c] = static_cast<T>(a);
}

// ---- step 3: elementwise per channel ----------------------------------------------------------

// Calls f.template run<V>(i, c) for every group of V consecutive elements i.. of [N, C, L] (V
// divides L, so a group lies in one channel c). Idx: uint32_t when the tensor allows, else int64_t.
template <int V, typename Idx, typename F>
__global__ void __launch_bounds__(cuda::kBlockSize)
    per_channel_kernel(Idx groups, Idx L, Idx C, F f) {
  const Idx stride = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx gi = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; gi < groups; gi += stride) {
    const Idx i = gi * V;
    f.template run<V>(static_cast<int64_t>(i), static_cast<int64_t>((i / L) % C));
  }
}

template <int V, typename F>
void launch_groups(const BatchNormShape& s, const F& f, cudaStream_t stream) {
  const int64_t groups = s.N * s.C * s.L / V;
  const unsigned grid = cuda::grid_size(groups);
  if (s.N * s.C * s.L < (int64_t{1} << 31))
    per_channel_kernel<V, uint32_t, F><<<grid, cuda::kBlockSize, 0, stream>>>(
        static_cast<uint32_t>(groups), static_cast<uint32_t>(s.L), static_cast<uint32_t>(s.C), f);
  else
    per_channel_kernel<V, int64_t, F><<<grid, cuda::kBlockSize, 0, stream>>>(groups, s.L, s.C, f);
  NKD_CUDA_CHECK_LAUNCH();
}

// Runs f over [N, C, L] with 16-byte accesses when L and every pointer allow, else one element at
// a time.
template <typename T, typename F>
void launch_per_channel(const BatchNormShape& s, const F& f, bool aligned, cudaStream_t stream) {
  if (s.N * s.C * s.L <= 0) return;
  constexpr int kVec = cuda::kVecOf<T>;
  if (aligned && s.L % kVec == 0)
    launch_groups<kVec>(s, f, stream);
  else
    launch_groups<1>(s, f, stream);
}

// y = x * scale[c] + shift[c].
template <typename T>
struct ApplyFn {
  int64_t C;
  const T* x;
  const double* ss;  // [2 C]
  T* y;
  template <int V>
  __device__ void run(int64_t i, int64_t c) const {
    const cuda::Pack<T, V> in = cuda::load_pack<V>(x, i);
    const bn::Affine a{ss[c], ss[C + c]};
    cuda::Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = static_cast<T>(bn::apply(static_cast<double>(in.v[k]), a));
    cuda::store_pack<V>(y, i, out);
  }
};

template <typename T>
struct GradXFn {
  int64_t C;
  const T *x, *g, *mean, *invstd;
  const double* coef;  // [3 C]: k, a, bx
  T* gx;
  template <int V>
  __device__ void run(int64_t i, int64_t c) const {
    const cuda::Pack<T, V> xv = cuda::load_pack<V>(x, i);
    const cuda::Pack<T, V> gv = cuda::load_pack<V>(g, i);
    const double m = static_cast<double>(mean[c]), is = static_cast<double>(invstd[c]);
    const double k = coef[c], a = coef[C + c], bx = coef[2 * C + c];
    cuda::Pack<T, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e)
      out.v[e] = static_cast<T>(bn::grad_x(static_cast<double>(gv.v[e]),
                                           static_cast<double>(xv.v[e]), m, is, k, a, bx));
    cuda::store_pack<V>(gx, i, out);
  }
};

template <typename T>
struct AddBiasFn {
  T* y;
  const T* b;
  template <int V>
  __device__ void run(int64_t i, int64_t c) const {
    cuda::Pack<T, V> v = cuda::load_pack<V>(static_cast<const T*>(y), i);
    const T bc = b[c];
#pragma unroll
    for (int k = 0; k < V; ++k) v.v[k] += bc;
    cuda::store_pack<V>(y, i, v);
  }
};

}  // namespace

template <typename T>
void batch_norm_forward(Device device, const BatchNormShape& s, bool training, double eps,
                        double momentum, const T* x, const T* rm_old, const T* rv_old, T* rm_new,
                        T* rv_new, const T* w, const T* b, T* y, T* mean, T* invstd,
                        double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  const Chunks ch = chunks_of(s);
  double* part = scratch;
  double* ss = scratch + 2 * s.C * ch.count;
  if (training) partial_sums<T, Terms::Shifted>(s, ch, x, nullptr, nullptr, part, stream);
  stats_finish_kernel<T><<<finish_grid(s.C), kFinishBlock, 0, stream>>>(
      s, ch.count, training, eps, momentum, x, rm_old, rv_old, rm_new, rv_new, w, b, mean, invstd,
      part, ss);
  NKD_CUDA_CHECK_LAUNCH();
  launch_per_channel<T>(s, ApplyFn<T>{s.C, x, ss, y}, cuda::aligned16(x) && cuda::aligned16(y),
                        stream);
}

template <typename T>
void batch_norm_backward(Device device, const BatchNormShape& s, bool training, const T* x,
                         const T* g, const T* mean, const T* invstd, const T* w, T* gx, T* gw,
                         T* gb, double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  const Chunks ch = chunks_of(s);
  double* part = scratch;
  double* coef = scratch + 2 * s.C * ch.count;
  const bool sums = training || gw || gb;  // inference gx needs only invstd and w
  if (sums) partial_sums<T, Terms::Grad>(s, ch, x, g, mean, part, stream);
  grad_finish_kernel<T><<<finish_grid(s.C), kFinishBlock, 0, stream>>>(
      s, ch.count, training, invstd, w, gw, gb, sums ? part : nullptr, coef);
  NKD_CUDA_CHECK_LAUNCH();
  if (gx)
    launch_per_channel<T>(s, GradXFn<T>{s.C, x, g, mean, invstd, coef, gx},
                          cuda::aligned16(x) && cuda::aligned16(g) && cuda::aligned16(gx), stream);
}

template <typename T>
void channel_sum(Device device, const BatchNormShape& s, const T* x, T* out, double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  const Chunks ch = chunks_of(s);
  partial_sums<T, Terms::Plain>(s, ch, x, nullptr, nullptr, scratch, stream);
  sum_finish_kernel<T><<<finish_grid(s.C), kFinishBlock, 0, stream>>>(s.C, ch.count, scratch, out);
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T>
void add_channel_bias(Device device, const BatchNormShape& s, T* y, const T* b) {
  const cuda::DeviceGuard guard(device.index);
  launch_per_channel<T>(s, AddBiasFn<T>{y, b}, cuda::aligned16(y),
                        cuda::context(device.index).compute_stream());
}

#define NKD_INSTANTIATE_BN(T)                                                                    \
  template void batch_norm_forward<T>(Device, const BatchNormShape&, bool, double, double,       \
                                      const T*, const T*, const T*, T*, T*, const T*, const T*,  \
                                      T*, T*, T*, double*);                                      \
  template void batch_norm_backward<T>(Device, const BatchNormShape&, bool, const T*, const T*,  \
                                       const T*, const T*, const T*, T*, T*, T*, double*);       \
  template void channel_sum<T>(Device, const BatchNormShape&, const T*, T*, double*);            \
  template void add_channel_bias<T>(Device, const BatchNormShape&, T*, const T*);
NKD_INSTANTIATE_BN(float)
NKD_INSTANTIATE_BN(double)

}  // namespace nkd::ops::gpu
