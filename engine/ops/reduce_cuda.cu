// Row reductions on the GPU: one warp per row for short rows, one block per row for long ones,
// warp shuffles then shared memory. Sums accumulate float in double, to match the CPU.
#include <type_traits>

#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/reduce_cuda.h"
#include "engine/ops/detail/reduce_math.h"

namespace nkd::ops::gpu {
namespace {

constexpr int kWarp = 32;
constexpr int kRowBlock = 512;                // threads per row in the block-per-row kernel
constexpr int64_t kBlockPerRowInner = 4096;   // rows at least this long get a whole block
constexpr int64_t kMaxRowGrid = 65535;

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

template <typename T>
struct SumReducer {
  struct State {
    Acc<T> s;
  };
  __device__ static State identity() { return {Acc<T>(0)}; }
  __device__ static void add(State& st, T v, int64_t) { st.s += v; }
  __device__ static State combine(State a, State b) { return {a.s + b.s}; }
  __device__ static State shfl_down(State st, int delta) {
    return {__shfl_down_sync(0xffffffffu, st.s, delta)};
  }
};

// First maximum; a NaN beats every number, the first NaN beats later ones.
template <typename T>
struct MaxReducer {
  struct State {
    T v;
    int64_t i;
  };
  __device__ static bool better(const State& a, const State& b) {
    const bool an = a.v != a.v, bn = b.v != b.v;
    if (an != bn) return an;
    if (!an && a.v != b.v) return a.v > b.v;
    return a.i < b.i;
  }
  __device__ static State identity() { return {T(0), -1}; }
  __device__ static void add(State& st, T v, int64_t i) {
    const State c{v, i};
    if (st.i < 0 || better(c, st)) st = c;
  }
  __device__ static State combine(State a, State b) {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    return better(b, a) ? b : a;
  }
  __device__ static State shfl_down(State st, int delta) {
    const long long i = __shfl_down_sync(0xffffffffu, static_cast<long long>(st.i), delta);
    return {__shfl_down_sync(0xffffffffu, st.v, delta), static_cast<int64_t>(i)};
  }
};

template <typename R>
__device__ typename R::State warp_reduce(typename R::State st) {
  for (int delta = kWarp / 2; delta > 0; delta /= 2) st = R::combine(st, R::shfl_down(st, delta));
  return st;
}

// Rows [outer, inner]; warp w handles rows w, w + warps, ...; lane 0 calls write(o, state).
template <typename R, typename T, typename Write>
__global__ void __launch_bounds__(cuda::kBlockSize)
    warp_per_row(const T* x, int64_t outer, int64_t inner, Write write) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int64_t warps = cuda::global_stride() / kWarp;
  for (int64_t o = cuda::global_index() / kWarp; o < outer; o += warps) {
    const T* row = x + o * inner;
    typename R::State st = R::identity();
    for (int64_t i = lane; i < inner; i += kWarp) R::add(st, row[i], i);
    st = warp_reduce<R>(st);
    if (lane == 0) write(o, st);
  }
}

// Rows [outer, inner]; block b handles rows b, b + blocks, ...; thread 0 calls write(o, state).
template <typename R, typename T, typename Write>
__global__ void __launch_bounds__(kRowBlock)
    block_per_row(const T* x, int64_t outer, int64_t inner, Write write) {
  __shared__ typename R::State partial[kRowBlock / kWarp];
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int warp = static_cast<int>(threadIdx.x) / kWarp;
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* row = x + o * inner;
    typename R::State st = R::identity();
    for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) R::add(st, row[i], i);
    st = warp_reduce<R>(st);
    if (lane == 0) partial[warp] = st;
    __syncthreads();
    if (warp == 0) {
      st = lane < kRowBlock / kWarp ? partial[lane] : R::identity();
      st = warp_reduce<R>(st);
      if (lane == 0) write(o, st);
    }
    __syncthreads();  // partial is reused by the next row
  }
}

template <typename R, typename T, typename Write>
void reduce_rows(Device device, const T* x, int64_t outer, int64_t inner, Write write) {
  if (outer <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  if (inner >= kBlockPerRowInner) {
    const auto grid = static_cast<unsigned>(std::min<int64_t>(outer, kMaxRowGrid));
    block_per_row<R, T, Write><<<grid, kRowBlock, 0, stream>>>(x, outer, inner, write);
  } else {
    const int64_t rows_per_block = cuda::kBlockSize / kWarp;
    const auto grid = static_cast<unsigned>(
        std::min<int64_t>((outer + rows_per_block - 1) / rows_per_block, cuda::kMaxGridSize));
    warp_per_row<R, T, Write><<<grid, cuda::kBlockSize, 0, stream>>>(x, outer, inner, write);
  }
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename T>
struct WriteSum {
  T* y;  // [outer]
  double scale;
  __device__ void operator()(int64_t o, typename SumReducer<T>::State st) const {
    y[o] = static_cast<T>(st.s * scale);
  }
};

template <typename T>
struct WriteMax {
  T* values;       // [outer]
  int64_t* index;  // [outer]
  __device__ void operator()(int64_t o, typename MaxReducer<T>::State st) const {
    values[o] = st.v;
    index[o] = st.i;
  }
};

}  // namespace

template <typename T>
void sum_rows(Device device, const T* x, T* y, int64_t outer, int64_t inner, double scale) {
  reduce_rows<SumReducer<T>>(device, x, outer, inner, WriteSum<T>{y, scale});
}

template <typename T>
void max_rows(Device device, const T* x, T* values, int64_t* index, int64_t outer, int64_t inner) {
  reduce_rows<MaxReducer<T>>(device, x, outer, inner, WriteMax<T>{values, index});
}

#define NKD_INSTANTIATE_REDUCE(T, D)                                           \
  template void sum_rows<T>(Device, const T*, T*, int64_t, int64_t, double);   \
  template void max_rows<T>(Device, const T*, T*, int64_t*, int64_t, int64_t);
NKD_FLOAT_TYPES(NKD_INSTANTIATE_REDUCE)

}  // namespace nkd::ops::gpu

#define NKD_ROW_SCATTER_LAUNCHABLE(T, D) NKD_GPU_LAUNCHABLE(nkd::ops::detail::RowScatterKernel<T>)
NKD_FLOAT_TYPES(NKD_ROW_SCATTER_LAUNCHABLE)
