// Batch norm on the GPU, hand-written (cuDNN 9 deprecates its batch-norm API; see
// docs/DECISIONS.md). Three steps per pass:
//   1. partial sums: block (k, c) reduces chunk k of channel c's N L elements into two doubles
//      (several blocks per channel, so that a few channels still fill the GPU); forward: sums of
//      d = x - x[0, c, 0] and d^2 (one pass, shifted by the channel's first element so that the
//      variance does not cancel), backward: sums of g and g (x - mean);
//   2. finish: one thread per channel adds its chunks in order (deterministic) and computes the
//      statistics, the affine or the gradient coefficients (batch_norm_math.h, as on the CPU);
//   3. the elementwise pass, 16-byte vector loads where the rows allow, 32-bit index arithmetic
//      where the tensor allows; batch_norm_act's residual add and ReLU / ReLU6 ride in it.
// BF16 natively: x, y, g, gx BF16 (8-element Packs), the per-channel tensors F32 (P), the same
// double arithmetic as F32, one rounding per stored BF16 value.
// Steps 1 and 3 are the per-channel machinery of detail/channel_cuda.cuh, which conv2d's bias
// (conv_cuda.cu) shares.
#include <algorithm>
#include <cstdint>

#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/batch_norm_cuda.h"
#include "engine/ops/detail/batch_norm_math.h"
#include "engine/ops/detail/channel_cuda.cuh"
#include "engine/ops/detail/elementwise_math.h"

namespace nkd::ops::gpu {
namespace {

using namespace channel;

// ---- step 2: per-channel results --------------------------------------------------------------

// Statistics (training: from the partial sums; inference: the running ones), mean and invstd as T,
// the affine (scale, shift) into ss [2 C], and the running-stat update.
template <typename T, typename P>
__global__ void stats_finish_kernel(ChannelShape s, int64_t chunks, bool training, double eps,
                                    double momentum, const T* x, const P* rm_old, const P* rv_old,
                                    P* rm_new, P* rv_new, const P* w, const P* b, P* mean_out,
                                    P* invstd_out, const double* part, double* ss) {
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
  mean_out[c] = static_cast<P>(mean);
  invstd_out[c] = static_cast<P>(is);
  const bn::Affine a = bn::affine(mean, is, w, b, c);
  ss[c] = a.scale;
  ss[s.C + c] = a.shift;
  if (!training) return;
  const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
  if (rm_new) rm_new[c] = static_cast<P>(bn::running_mean(rm_old[c], mean, momentum));
  if (rv_new) rv_new[c] = static_cast<P>(bn::running_var(rv_old[c], var, unbias, momentum));
}

// sg = sum g, sgx = invstd * sum g (x - mean); gw = sgx, gb = sg; the coefficients (k, a, bx) of
// the gx pass into coef [3 C]. Without partial sums (inference, no gw / gb) sg = sgx = 0.
template <typename P>
__global__ void grad_finish_kernel(ChannelShape s, int64_t chunks, bool training,
                                   const P* invstd, const P* w, P* gw, P* gb, const double* part,
                                   double* coef) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= s.C) return;
  const double is = static_cast<double>(invstd[c]);
  double sg = 0, sgx = 0;
  if (part) chunk_totals(part, c, chunks, sg, sgx);
  sgx *= is;
  if (gw) gw[c] = static_cast<P>(sgx);
  if (gb) gb[c] = static_cast<P>(sg);
  const double inv_m = 1.0 / static_cast<double>(s.N * s.L);
  coef[c] = w ? w[c] * is : is;
  coef[s.C + c] = training ? sg * inv_m : 0.0;
  coef[2 * s.C + c] = training ? sgx * inv_m : 0.0;
}

// The identity activation, with math::Relu's interface.
struct NoAct {
  template <typename T> __device__ T fwd(T x) const { return x; }
  template <typename T> __device__ T bwd(T g, T, T) const { return g; }
};

// y = act(bn(x) + r) with bn(x) = x * scale[c] + shift[c] rounded to T, the add in compute_t<T>
// rounded to T (r null: no add), as batch_norm_cpu.cpp's fused kernel.
template <typename T, typename A>
struct ApplyFn {
  int64_t C;
  const T* x;
  const double* ss;  // [2 C]
  const T* r;        // residual or null
  A act;
  T* y;
  template <int V>
  __device__ void run(int64_t i, int64_t c) const {
    using Cm = compute_t<T>;
    const cuda::Pack<T, V> in = cuda::load_pack<V>(x, i);
    const bn::Affine a{ss[c], ss[C + c]};
    cuda::Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = static_cast<T>(bn::apply(static_cast<double>(in.v[k]), a));
    if (r) {
      const cuda::Pack<T, V> rv = cuda::load_pack<V>(r, i);
#pragma unroll
      for (int k = 0; k < V; ++k) out.v[k] = static_cast<T>(static_cast<Cm>(out.v[k]) + static_cast<Cm>(rv.v[k]));
    }
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = act.fwd(out.v[k]);
    cuda::store_pack<V>(y, i, out);
  }
};

// ge = act'(y) g: where batch_norm_act's gradient reaches batch norm (y null without activation).
template <typename T, typename A>
struct MaskFn {
  const T *g, *y;
  A act;
  T* ge;
  template <int V>
  __device__ void run(int64_t i, int64_t) const {
    const cuda::Pack<T, V> gv = cuda::load_pack<V>(g, i);
    const cuda::Pack<T, V> yv = cuda::load_pack<V>(y ? y : g, i);
    cuda::Pack<T, V> out;
#pragma unroll
    for (int k = 0; k < V; ++k) out.v[k] = act.bwd(gv.v[k], yv.v[k], T(0));
    cuda::store_pack<V>(ge, i, out);
  }
};

// Runs make(act) (a functor of the activation type) through launch_per_channel, picking the
// activation once per launch.
template <typename T, typename Make>
void launch_with_act(const ChannelShape& s, Act act, Make make, bool aligned, cudaStream_t stream) {
  switch (act) {
    case Act::kReLU: return launch_per_channel<T>(s, make(math::Relu{}), aligned, stream);
    case Act::kReLU6: return launch_per_channel<T>(s, make(math::Relu6{}), aligned, stream);
    case Act::kNone: break;
  }
  launch_per_channel<T>(s, make(NoAct{}), aligned, stream);
}

template <typename T, typename P>
struct GradXFn {
  int64_t C;
  const T *x, *g;
  const P *mean, *invstd;
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

}  // namespace

template <typename T, typename P>
void batch_norm_forward(Device device, const ChannelShape& s, bool training, double eps,
                        double momentum, const T* x, const P* rm_old, const P* rv_old, P* rm_new,
                        P* rv_new, const P* w, const P* b, const T* residual, Act act, T* y, P* mean,
                        P* invstd, double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  const Chunks ch = chunks_of(s);
  double* part = scratch;
  double* ss = scratch + 2 * s.C * ch.count;
  if (training) partial_sums<T, Terms::Shifted>(s, ch, x, nullptr, nullptr, part, stream);
  stats_finish_kernel<T, P><<<finish_grid(s.C), kFinishBlock, 0, stream>>>(
      s, ch.count, training, eps, momentum, x, rm_old, rv_old, rm_new, rv_new, w, b, mean, invstd,
      part, ss);
  NKD_CUDA_CHECK_LAUNCH();
  const bool aligned = cuda::aligned16(x) && cuda::aligned16(y) && (!residual || cuda::aligned16(residual));
  launch_with_act<T>(
      s, act, [&](auto a) { return ApplyFn<T, decltype(a)>{s.C, x, ss, residual, a, y}; }, aligned, stream);
}

template <typename T, typename P>
void batch_norm_backward(Device device, const ChannelShape& s, bool training, const T* x, const T* y,
                         const T* g, const P* mean, const P* invstd, const P* w, Act act, T* ge, T* gx,
                         P* gw, P* gb, double* scratch) {
  if (s.C <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  if (ge) {
    const bool aligned = cuda::aligned16(g) && cuda::aligned16(ge) && (!y || cuda::aligned16(y));
    launch_with_act<T>(
        s, act, [&](auto a) { return MaskFn<T, decltype(a)>{g, act == Act::kNone ? nullptr : y, a, ge}; },
        aligned, stream);
    g = ge;
  }
  const Chunks ch = chunks_of(s);
  double* part = scratch;
  double* coef = scratch + 2 * s.C * ch.count;
  const bool sums = training || gw || gb;  // inference gx needs only invstd and w
  if (sums) partial_sums<T, Terms::Grad>(s, ch, x, g, mean, part, stream);
  grad_finish_kernel<P><<<finish_grid(s.C), kFinishBlock, 0, stream>>>(
      s, ch.count, training, invstd, w, gw, gb, sums ? part : nullptr, coef);
  NKD_CUDA_CHECK_LAUNCH();
  if (gx)
    launch_per_channel<T>(s, GradXFn<T, P>{s.C, x, g, mean, invstd, coef, gx},
                          cuda::aligned16(x) && cuda::aligned16(g) && cuda::aligned16(gx), stream);
}

#define NKD_INSTANTIATE_BN(T, D)                                                                   \
  template void batch_norm_forward<T, compute_t<T>>(                                               \
      Device, const ChannelShape&, bool, double, double, const T*, const compute_t<T>*,            \
      const compute_t<T>*, compute_t<T>*, compute_t<T>*, const compute_t<T>*, const compute_t<T>*, \
      const T*, Act, T*, compute_t<T>*, compute_t<T>*, double*);                                   \
  template void batch_norm_backward<T, compute_t<T>>(                                              \
      Device, const ChannelShape&, bool, const T*, const T*, const T*, const compute_t<T>*,        \
      const compute_t<T>*, const compute_t<T>*, Act, T*, T*, compute_t<T>*, compute_t<T>*, double*);
NKD_ALL_FLOAT_TYPES(NKD_INSTANTIATE_BN)

}  // namespace nkd::ops::gpu
