// Where the loss functors run: launch_rows / launch_flat queue an NKD_HD functor on the logits'
// device (the CPU loop, or one CUDA thread per row / per index on the device's compute stream), so
// every loss has one launcher for both devices and the GPU runs the very row math the CPU tests.
// CUDA-free header: the GPU side is losses/losses_cuda.cu; the CPU-only build links
// losses/no_cuda/losses_stub.cpp instead, whose functions throw "built without CUDA".
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "engine/cpu/parallel.h"
#include "engine/tensor.h"
#include "losses/ce_math.h"
#include "losses/dkd_math.h"
#include "losses/kd_math.h"
#include "losses/nkd_math.h"
#include "losses/tf_nkd_math.h"
#include "losses/uskd_math.h"

namespace nkd::losses::math {

// out[k] = Out(mul * sum_{i} v[i * stride + k] / count) for i in [0, count) (index order, so the
// sum is deterministic and the same on both devices); NaN when *bad != 0 (a label was out of range).
template <typename Acc, typename Out>
struct StridedMeanKernel {
  const Acc* v;     // [count, stride]
  int64_t count;    // N
  int64_t stride;   // K
  Acc mul;
  const int* bad;   // [1], or null
  Out* out;         // [stride]
  NKD_HD void operator()(int64_t k) const {
    Acc s = 0;
    for (int64_t i = 0; i < count; ++i) s += v[i * stride + k];
    const Acc m = s * mul / static_cast<Acc>(count);
    out[k] = static_cast<Out>(bad && bad[0] ? static_cast<Acc>(HUGE_VAL) * Acc(0) : m);  // inf * 0: NaN
  }
};

// GPU label check without a host synchronisation (run as one index): out[r] = in[r] where it lies
// in [0, c), else 0 (so no kernel reads outside a row), and bad[0] = 1 if any did not; the
// StridedMeanKernel that finishes the loss then writes NaN, which the trainer's NaN check reports.
struct LabelClampKernel {
  const int64_t* in;  // [n]
  int64_t n, c;
  int64_t* out;  // [n]
  int* bad;      // [1]
  NKD_HD void operator()(int64_t) const {
    int flag = 0;
    for (int64_t r = 0; r < n; ++r) {
      const bool ok = in[r] >= 0 && in[r] < c;
      out[r] = ok ? in[r] : 0;
      flag |= ok ? 0 : 1;
    }
    bad[0] = flag;
  }
};

// USKD Zipf positions on the GPU, one index per (row, class): pos[r, j] = the position of j in a
// stable descending sort of score[r, :] with NaN sorting last (the CPU's rank_rows, evaluated as a
// count: math::descending_position on the NaN-mapped keys).
template <typename Acc>
struct UskdRankKernel {
  const Acc* score;  // [N, C]
  int64_t c;
  int64_t* pos;  // [N, C]
  NKD_HD static Acc key(Acc s) { return s != s ? neg_inf<Acc>() : s; }
  NKD_HD void operator()(int64_t i) const {
    const int64_t r = i / c, j = i % c;
    const Acc* s = score + r * c;
    const Acc kj = key(s[j]);
    int64_t p = 0;
    for (int64_t q = 0; q < c; ++q) {
      const Acc kq = key(s[q]);
      p += (kq > kj || (kq == kj && q < j)) ? 1 : 0;
    }
    pos[i] = p;
  }
};

}  // namespace nkd::losses::math

// Every functor type the launchers are instantiated for: per value type T (float, double), and
// those on the accumulation type, which is double for both (SoftmaxAcc).
#define NKD_LOSS_FUNCTORS(X, T)       \
  X(math::CrossEntropyKernel<T>)      \
  X(math::KdKernel<T>)                \
  X(math::DkdKernel<T>)               \
  X(math::NkdKernel<T>)               \
  X(math::TfNkdStatsKernel<T>)        \
  X(math::TfNkdKernel<T>)             \
  X(math::UskdStatsKernel<T>)         \
  X(math::UskdScoreKernel<T>)         \
  X(math::UskdKernel<T>)              \
  X(math::ScaledSumKernel<T>)
#define NKD_LOSS_ACC_FUNCTORS(X)                      \
  X(math::UskdRankKernel<double>)                     \
  X(math::StridedMeanKernel<double NKD_LOSS_COMMA float>)  \
  X(math::StridedMeanKernel<double NKD_LOSS_COMMA double>) \
  X(math::LabelClampKernel)
#define NKD_LOSS_COMMA ,
static_assert(std::is_same_v<nkd::losses::math::SoftmaxAcc<float>, double> &&
              std::is_same_v<nkd::losses::math::SoftmaxAcc<double>, double>);

namespace nkd::losses::gpu {

// f(r) for r in [0, n), one CUDA thread per row (small blocks, so the rows spread over the SMs),
// on the compute stream of `device`; checks the launch.
template <typename F>
void launch_rows(Device device, int64_t n, const F& f);
// f(i) for i in [0, n), a grid-stride loop with 256-thread blocks (cuda::launch).
template <typename F>
void launch_flat(Device device, int64_t n, const F& f);

}  // namespace nkd::losses::gpu

namespace nkd::losses::detail {

// Row functor f over the n rows of `like` (c columns): the CPU loop or the GPU kernel.
template <typename F>
void launch_rows(const Tensor& like, int64_t n, int64_t c, const F& f) {
  if (like.is_cuda()) return gpu::launch_rows(like.device(), n, f);
  cpu::launch(n, f, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(c, 1)));
}
// Index functor f over [0, n) on the device of `like`.
template <typename F>
void launch_flat(const Tensor& like, int64_t n, const F& f) {
  if (like.is_cuda()) return gpu::launch_flat(like.device(), n, f);
  cpu::launch(n, f);
}

}  // namespace nkd::losses::detail
