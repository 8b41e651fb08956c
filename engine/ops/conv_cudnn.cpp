// conv2d on CUDA through cuDNN's (legacy, still supported) convolution API: forward, backward-data
// and backward-filter. The algorithm of each (device, dtype, geometry, direction, deterministic,
// TF32, exact) key is searched once - cudnnFind*AlgorithmEx, which times the candidates on the real
// buffers, or with NKD_CUDNN_BENCHMARK=0 the cudnnGet*_v7 heuristics - and cached. Workspaces come
// from the stream-ordered allocator. Float runs with CUDNN_FMA_MATH (no TF32) unless
// cuda::allow_tf32(); cuda::deterministic() admits only deterministic algorithms;
// cuda::exact_conv() leaves out FFT and non-fused Winograd for float. BF16 data convolves with F32
// accumulation (cudnn_compute_dtype) under cuDNN's default math (tensor cores).
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/check.h"
#include "engine/cuda/allocator.h"
#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/dtype.h"
#include "engine/cuda/cudnn_utils.h"
#include "engine/cuda/math_mode.h"
#include "engine/ops/detail/conv_cuda.h"

namespace nkd::ops::gpu {
namespace {

using detail::ConvGeom;
using cuda::ConvolutionDescriptor;
using cuda::FilterDescriptor;
using cuda::TensorDescriptor;

// Largest workspace the search may hand cuDNN (and the heuristics path may pick).
constexpr size_t kSearchWorkspaceCap = size_t{512} << 20;

enum class Dir { Fwd, BwdData, BwdFilter };
const char* dir_name(Dir d) {
  return d == Dir::Fwd ? "forward" : d == Dir::BwdData ? "backward-data" : "backward-filter";
}

bool benchmark_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NKD_CUDNN_BENCHMARK");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on;
}

// Stream-ordered device scratch of `bytes` (null when 0), freed in stream order on scope exit.
class Workspace {
 public:
  Workspace(size_t bytes, Device device) : device_(device), bytes_(bytes) {
    ptr_ = cuda::allocate(bytes, device);
  }
  ~Workspace() { cuda::deallocate(ptr_, device_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get() const { return ptr_; }
  size_t bytes() const { return ptr_ ? bytes_ : 0; }

 private:
  Device device_;
  size_t bytes_;
  void* ptr_ = nullptr;
};

struct Descs {
  TensorDescriptor x, y;  // x [N, C, H, W], y [N, K, P, Q]
  FilterDescriptor w;     // [K, C/G, R, S]
  ConvolutionDescriptor conv;
};

template <typename T>
Descs make_descs(const ConvGeom& g) {
  const int64_t weight_numel = g.k * (g.c / g.groups) * g.r * g.s;
  for (int64_t numel : {g.n * g.c * g.h * g.w, g.n * g.k * g.p * g.q, weight_numel})
    NKD_CHECK(numel <= INT_MAX, "conv2d: tensors above 2^31 - 1 elements are not supported on cuda ",
              "(input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w, "], weight [", g.k, ", ",
              g.c / g.groups, ", ", g.r, ", ", g.s, "])");
  return Descs{TensorDescriptor::nchw<T>(g.n, g.c, g.h, g.w),
               TensorDescriptor::nchw<T>(g.n, g.k, g.p, g.q),
               FilterDescriptor::kcrs<T>(g.k, g.c / g.groups, g.r, g.s),
               ConvolutionDescriptor::make<T>(g.pad_h, g.pad_w, g.stride_h, g.stride_w, g.dil_h,
                                              g.dil_w, g.groups)};
}

// The math mode the search runs under: float without TF32 is restricted to FMA (no tensor cores).
template <typename T>
cudnnMathType_t base_math() {
  if (std::is_same_v<T, float> && !cuda::allow_tf32()) return CUDNN_FMA_MATH;
  return CUDNN_DEFAULT_MATH;
}

// The buffers of one call: fwd (x, w -> y), bwd-data (dy, w -> dx), bwd-filter (x, dy -> dw).
struct Buffers {
  const void* a;
  const void* b;
  void* out;
};

// The cuDNN entry points of one direction.
template <Dir D>
struct Api;

template <>
struct Api<Dir::Fwd> {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr int kAlgos = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static cudnnStatus_t find(cudnnHandle_t h, const Descs& d, Buffers b, int n, int* got, Perf* p,
                            void* ws, size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, d.x.get(), b.a, d.w.get(), b.b, d.conv.get(),
                                                  d.y.get(), b.out, n, got, p, ws, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descs& d, int n, int* got, Perf* p) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                  n, got, p);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descs& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), d.conv.get(),
                                                   d.y.get(), a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descs& d, Algo a, Buffers b, void* ws,
                           size_t bytes, const void* one, const void* zero) {
    return cudnnConvolutionForward(h, one, d.x.get(), b.a, d.w.get(), b.b, d.conv.get(), a, ws,
                                   bytes, zero, d.y.get(), b.out);
  }
};

template <>
struct Api<Dir::BwdData> {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr int kAlgos = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static cudnnStatus_t find(cudnnHandle_t h, const Descs& d, Buffers b, int n, int* got, Perf* p,
                            void* ws, size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.get(), b.b, d.y.get(), b.a,
                                                       d.conv.get(), d.x.get(), b.out, n, got, p,
                                                       ws, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descs& d, int n, int* got, Perf* p) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.get(), d.y.get(), d.conv.get(),
                                                       d.x.get(), n, got, p);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descs& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.get(), d.y.get(), d.conv.get(),
                                                        d.x.get(), a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descs& d, Algo a, Buffers b, void* ws,
                           size_t bytes, const void* one, const void* zero) {
    return cudnnConvolutionBackwardData(h, one, d.w.get(), b.b, d.y.get(), b.a, d.conv.get(), a,
                                        ws, bytes, zero, d.x.get(), b.out);
  }
};

template <>
struct Api<Dir::BwdFilter> {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr int kAlgos = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static cudnnStatus_t find(cudnnHandle_t h, const Descs& d, Buffers b, int n, int* got, Perf* p,
                            void* ws, size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x.get(), b.a, d.y.get(), b.b,
                                                         d.conv.get(), d.w.get(), b.out, n, got,
                                                         p, ws, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descs& d, int n, int* got, Perf* p) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.get(), d.y.get(), d.conv.get(),
                                                         d.w.get(), n, got, p);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descs& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.get(), d.y.get(), d.conv.get(),
                                                          d.w.get(), a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descs& d, Algo a, Buffers b, void* ws,
                           size_t bytes, const void* one, const void* zero) {
    return cudnnConvolutionBackwardFilter(h, one, d.x.get(), b.a, d.y.get(), b.b, d.conv.get(), a,
                                          ws, bytes, zero, d.w.get(), b.out);
  }
};

// ---- the algorithm cache ---------------------------------------------------------------------

using Key = std::array<int64_t, 22>;
struct Choice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

struct Cache {
  std::mutex mutex;
  std::map<Key, Choice> entries;
  int64_t searches = 0, hits = 0;
};
Cache& cache() {
  static auto* c = new Cache();  // leaked: lookups may run during static destruction
  return *c;
}

template <typename T>
Key make_key(Device device, const ConvGeom& g, Dir dir) {
  return {device.index, static_cast<int64_t>(sizeof(T)), static_cast<int64_t>(dir),
          cuda::deterministic() ? 1 : 0, cuda::allow_tf32() ? 1 : 0, cuda::exact_conv() ? 1 : 0,
          g.n, g.c, g.h, g.w, g.k, g.r, g.s, g.p, g.q,
          g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups};
}

std::string describe_geom(const ConvGeom& g) {
  return nkd::detail::cat("input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w, "], weight [", g.k,
                          ", ", g.c / g.groups, ", ", g.r, ", ", g.s, "], stride [", g.stride_h,
                          ", ", g.stride_w, "], padding [", g.pad_h, ", ", g.pad_w,
                          "], dilation [", g.dil_h, ", ", g.dil_w, "], groups ", g.groups);
}

// The FFT and non-fused Winograd algorithms trade accuracy for speed: on an H100 (2026-11-26) one
// of them, picked by the search for a 1-channel 5x5 float convolution, gave an input gradient 1e-3
// (relative) away from the exact sum, where cuDNN's other algorithms and the CPU agree to 1e-6. They
// are also the fastest for many 3x3 convolutions (leaving them out cost resnet18 30% of its
// training speed, docs/GPU.md run 6), and PyTorch's cudnn.benchmark admits them; so they are left
// out only under cuda::exact_conv() (the CPU-parity tests), for float without TF32. Doubles keep
// them (their error stays near 1e-12).
template <Dir D>
bool reduced_precision(int algo) {
  if constexpr (D == Dir::Fwd)
    return algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT || algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
           algo == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
  else if constexpr (D == Dir::BwdData)
    return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
           algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
  else
    return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
           algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// Appends the usable candidates of a ranked list to `out`: succeeded, deterministic when asked, no
// tensor-core math when TF32 is off for float, no reduced-precision algorithm under exact_conv, a workspace
// (queried under the math it will run with) no larger than `max_ws`, not already listed. Each
// keeps the math it was ranked under.
template <typename T, Dir D>
void collect(cudnnHandle_t h, const Descs& d, const std::vector<typename Api<D>::Perf>& perfs,
             size_t max_ws, std::vector<Choice>& out) {
  const bool fma_only = base_math<T>() == CUDNN_FMA_MATH;
  for (const auto& p : perfs) {
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    if (cuda::deterministic() && p.determinism != CUDNN_DETERMINISTIC) continue;
    if (fma_only && cuda::exact_conv() && reduced_precision<D>(static_cast<int>(p.algo))) continue;
    if (fma_only && (p.mathType == CUDNN_TENSOR_OP_MATH ||
                     p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    const cudnnMathType_t math = fma_only ? CUDNN_FMA_MATH : p.mathType;
    const int algo = static_cast<int>(p.algo);
    if (std::any_of(out.begin(), out.end(),
                    [&](const Choice& c) { return c.algo == algo && c.math == math; }))
      continue;
    d.conv.set_math(math);
    size_t bytes = 0;
    if (Api<D>::workspace(h, d, p.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > max_ws) continue;
    out.push_back(Choice{algo, math, bytes});
  }
}

// cudnnFind*Ex: times every algorithm on the call's own buffers (it writes the output, which the
// real call then overwrites) with a workspace as large as the largest candidate needs, up to
// kSearchWorkspaceCap. Returns the ranked list, empty when the search itself fails.
template <typename T, Dir D>
std::vector<typename Api<D>::Perf> find_ranked(cudnnHandle_t h, Device device, const Descs& d,
                                               Buffers b) {
  d.conv.set_math(base_math<T>());
  size_t ws_bytes = 0;
  for (int a = 0; a < Api<D>::kAlgos; ++a) {
    size_t bytes = 0;
    if (Api<D>::workspace(h, d, static_cast<typename Api<D>::Algo>(a), &bytes) ==
            CUDNN_STATUS_SUCCESS &&
        bytes <= kSearchWorkspaceCap)
      ws_bytes = std::max(ws_bytes, bytes);
  }
  std::vector<typename Api<D>::Perf> perfs(Api<D>::kAlgos);
  int got = 0;
  try {
    const Workspace ws(ws_bytes, device);
    // SYNC: the search runs and times each algorithm before returning (once per cache key).
    if (Api<D>::find(h, d, b, Api<D>::kAlgos, &got, perfs.data(), ws.get(), ws.bytes()) !=
        CUDNN_STATUS_SUCCESS)
      got = 0;
  } catch (const OutOfMemoryError&) {
    got = 0;  // the heuristics (smaller workspaces) take over
  }
  perfs.resize(static_cast<size_t>(std::clamp(got, 0, Api<D>::kAlgos)));
  return perfs;
}

template <typename T, Dir D>
std::vector<typename Api<D>::Perf> heuristic_ranked(cudnnHandle_t h, const Descs& d) {
  d.conv.set_math(base_math<T>());
  std::vector<typename Api<D>::Perf> perfs(Api<D>::kAlgos);
  int got = 0;
  NKD_CUDNN_CHECK(Api<D>::heuristic(h, d, Api<D>::kAlgos, &got, perfs.data()));
  perfs.resize(static_cast<size_t>(std::clamp(got, 0, Api<D>::kAlgos)));
  return perfs;
}

// Candidates best first: the search's ranking (unless NKD_CUDNN_BENCHMARK=0), then the heuristics'
// within the workspace cap, then the heuristics' with any workspace.
template <typename T, Dir D>
std::vector<Choice> candidates(cudnnHandle_t h, Device device, const Descs& d, Buffers b) {
  std::vector<Choice> out;
  if (benchmark_enabled())
    collect<T, D>(h, d, find_ranked<T, D>(h, device, d, b), kSearchWorkspaceCap, out);
  const auto heur = heuristic_ranked<T, D>(h, d);
  collect<T, D>(h, d, heur, kSearchWorkspaceCap, out);
  collect<T, D>(h, d, heur, SIZE_MAX, out);
  return out;
}

template <typename T, Dir D>
cudnnStatus_t run_choice(cudnnHandle_t h, Device device, const Descs& d, const Choice& c,
                         Buffers b) {
  d.conv.set_math(c.math);
  const Workspace ws(c.workspace, device);
  const compute_t<T> one = 1, zero = 0;  // the scale type: float for F32 and BF16 data
  return Api<D>::run(h, d, static_cast<typename Api<D>::Algo>(c.algo), b, ws.get(), ws.bytes(),
                     &one, &zero);
}

// One convolution call of direction D. A cached key runs its algorithm; a new key tries the
// candidates in order (one may still refuse the problem at run time) and caches the first that runs.
template <typename T, Dir D>
void convolve(Device device, const ConvGeom& g, Buffers b) {
  const cuda::DeviceGuard guard(device.index);
  cudnnHandle_t h = cuda::context(device.index).cudnn();
  const Descs d = make_descs<T>(g);
  const Key key = make_key<T>(device, g, D);
  Cache& cc = cache();
  Choice cached;
  bool hit = false;
  {
    std::lock_guard<std::mutex> lock(cc.mutex);
    const auto it = cc.entries.find(key);
    if (it != cc.entries.end()) {
      ++cc.hits;
      cached = it->second;
      hit = true;
    }
  }
  if (hit) {
    NKD_CUDNN_CHECK((run_choice<T, D>(h, device, d, cached, b)));
    return;
  }
  const std::vector<Choice> cands = candidates<T, D>(h, device, d, b);
  std::string why = "no candidate";
  for (const Choice& c : cands) {
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    try {
      s = run_choice<T, D>(h, device, d, c, b);
    } catch (const OutOfMemoryError& e) {
      why = e.what();
      continue;
    }
    if (s == CUDNN_STATUS_SUCCESS) {
      std::lock_guard<std::mutex> lock(cc.mutex);
      ++cc.searches;
      cc.entries.emplace(key, c);
      return;
    }
    why = nkd::detail::cat("algorithm ", c.algo, ": ", cudnnGetErrorString(s));
  }
  NKD_FAIL("conv2d: cuDNN ran no ", cuda::deterministic() ? "deterministic " : "", dir_name(D),
           " algorithm for ", name(dtype_of<T>()), " ", describe_geom(g), " (",
           cands.size(), " candidates; last: ", why, ")");
}

}  // namespace

template <typename T>
void conv2d_forward(Device device, const ConvGeom& g, const T* x, const T* w, T* y) {
  convolve<T, Dir::Fwd>(device, g, Buffers{x, w, y});
}

template <typename T>
void conv2d_backward_data(Device device, const ConvGeom& g, const T* dy, const T* w, T* dx) {
  convolve<T, Dir::BwdData>(device, g, Buffers{dy, w, dx});
}

template <typename T>
void conv2d_backward_filter(Device device, const ConvGeom& g, const T* dy, const T* x, T* dw) {
  convolve<T, Dir::BwdFilter>(device, g, Buffers{x, dy, dw});
}

ConvAlgoCacheStats cudnn_algo_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {static_cast<int64_t>(c.entries.size()), c.searches, c.hits};
}

void clear_cudnn_algo_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.entries.clear();
  c.searches = c.hits = 0;
}

#define NKD_INSTANTIATE_CONV(T, D)                                                               \
  template void conv2d_forward<T>(Device, const ConvGeom&, const T*, const T*, T*);             \
  template void conv2d_backward_data<T>(Device, const ConvGeom&, const T*, const T*, T*);       \
  template void conv2d_backward_filter<T>(Device, const ConvGeom&, const T*, const T*, T*);
NKD_ALL_FLOAT_TYPES(NKD_INSTANTIATE_CONV)

}  // namespace nkd::ops::gpu
