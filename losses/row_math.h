// Per-row helpers shared by every loss kernel (one NKD_HD functor runs on the CPU and, launched by
// engine/launch.h, on a GPU): masked, temperature-scaled log-sum-exp, the target classes of a row
// (index label, argmax or top-2 of a soft label, ties to the smaller class index), and the functors
// every loss shares: target probabilities, batch means, the GPU label check and the backward scaling.
// A row is C contiguous elements. The row helpers take the row's team (engine/row_team.h): the row
// functors are written once in their team form and run as one thread per row (SerialRow: the CPU,
// short rows on a GPU) or one warp or block per row (long rows on a GPU; engine/launch.h).
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/host_device.h"
#include "engine/row_team.h"
#include "engine/ops/detail/softmax_math.h"

namespace nkd::losses::math {

using ops::math::SoftmaxAcc;

template <typename Acc>
NKD_HD Acc neg_inf() {
  return -static_cast<Acc>(HUGE_VAL);
}

// log sum_j exp(f(j)) over j in [0, n), max-subtracted; f(j) = -inf drops column j.
// -inf when every column is dropped (an empty sum); NaN propagates. tm: the row's team
// (engine/row_team.h; SerialRow: one thread, the plain loop).
template <typename Acc, typename Team, typename F>
NKD_HD Acc lse_of(const Team& tm, int64_t n, const F& f) {
  using std::exp;
  using std::log;
  const Acc m = tm.max(n, [&](int64_t j) { return static_cast<Acc>(f(j)); });
  if (m != m || m == neg_inf<Acc>()) return m;
  return m + log(tm.sum(n, [&](int64_t j) { return static_cast<Acc>(exp(f(j) - m)); }));
}

// log sum_j exp(x[j]) over the whole row (T = 1): the engine's softmax row math
// (ops::math::row_max, row_logsumexp).
template <typename Acc, typename Team, typename T>
NKD_HD Acc full_lse(const Team& tm, const T* x, int64_t n) {
  using std::log;
  const Acc m = tm.max(n, [=](int64_t j) { return static_cast<Acc>(x[j]); });
  return m + log(tm.sum(n, [=](int64_t j) { return ops::math::exp_shifted(x[j], m); }));
}

// log sum_{j != skip0, skip1} exp(x[j] * inv_t) (skip = -1: none; inv_t = 1/T > 0).
template <typename Acc, typename Team, typename T>
NKD_HD Acc masked_lse(const Team& tm, const T* x, int64_t n, Acc inv_t, int64_t skip0 = -1, int64_t skip1 = -1) {
  return lse_of<Acc>(tm, n, [=](int64_t j) {
    return (j == skip0 || j == skip1) ? neg_inf<Acc>() : static_cast<Acc>(x[j]) * inv_t;
  });
}

// Index of the first maximum of a row (torch.argmax).
template <typename Team, typename T>
NKD_HD int64_t row_argmax(const Team& tm, const T* y, int64_t n) {
  return tm.argmax(n, -1, [=](int64_t j) { return y[j]; });
}

// The K target classes of a row and their label values lambda: K = 1 with lambda = 1 for an index
// label; K = 2 with the top-2 values for a soft label.
template <typename Acc>
struct RowTargets {
  int k = 1;
  int64_t cls[2] = {0, -1};
  Acc value[2] = {1, 0};
};

// The first two classes of a stable descending sort of a soft row (n >= 2): ties go to the smaller
// class index.
template <typename Acc, typename Team, typename T>
NKD_HD RowTargets<Acc> top2(const Team& tm, const T* y, int64_t n) {
  RowTargets<Acc> t;
  t.k = 2;
  t.cls[0] = row_argmax(tm, y, n);
  t.cls[1] = tm.argmax(n, t.cls[0], [=](int64_t j) { return y[j]; });
  t.value[0] = static_cast<Acc>(y[t.cls[0]]);
  t.value[1] = static_cast<Acc>(y[t.cls[1]]);
  return t;
}

// Targets of row r: index[r] when index labels are given, else the top-2 (k_soft = 2) or the argmax
// (k_soft = 1, value 1) of soft[r].
template <typename Acc, typename Team, typename T>
NKD_HD RowTargets<Acc> row_targets(const Team& tm, const int64_t* index, const T* soft, int64_t r, int64_t c,
                                   int k_soft) {
  RowTargets<Acc> t;
  if (index) {
    t.cls[0] = index[r];
  } else if (k_soft == 2) {
    t = top2<Acc>(tm, soft + r * c, c);
  } else {
    t.cls[0] = row_argmax(tm, soft + r * c, c);
  }
  return t;
}

// The loss backward: gx[i] = sum_m g[m][0] * d[m][i] over `terms` (<= 2) scalar outputs. g points to
// the 0-dim grad_outputs (read in the kernel: no host synchronisation), d to the stored gradients.
template <typename T>
struct ScaledSumKernel {
  const T* g[2];  // [1] each
  const T* d[2];  // [n] each
  int terms;
  T* gx;  // [n]
  NKD_HD void operator()(int64_t i) const {
    T s = 0;
    for (int m = 0; m < terms; ++m) s += g[m][0] * d[m][i];
    gx[i] = s;
  }
};

// Statistics pass of tf-NKD and USKD: out[r, k] = softmax(z0)_{l_k} (tf-NKD's y_k) or its square
// (squared: USKD's s_k^2) for the K targets of row r (z0: the statistics logits).
template <typename T>
struct TargetProbKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z0;           // [N, C]
  const int64_t* label;  // [N], or null with soft labels (top-2)
  const T* soft;         // [N, C], or null with index labels
  int64_t c;
  int k;         // K: 1 for index labels, 2 for soft labels
  bool squared;  // USKD: write s * s
  Acc* out;      // [N, K]

  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    using std::exp;
    const T* zr = z0 + r * c;
    const RowTargets<Acc> tg = row_targets<Acc>(tm, label, soft, r, c, 2);
    const Acc lse = full_lse<Acc>(tm, zr, c);
    if (!tm.leader()) return;
    for (int kk = 0; kk < k; ++kk) {
      const Acc s = exp(static_cast<Acc>(zr[tg.cls[kk]]) - lse);
      out[r * k + kk] = squared ? s * s : s;
    }
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

// mul * sum_{i} v[i * stride + k] / count for i in [0, count) (index order, so the sum is
// deterministic and the same on both devices); NaN when *bad != 0 (a label was out of range).
template <typename Acc>
NKD_HD Acc strided_mean(const Acc* v, int64_t count, int64_t stride, Acc mul, const int* bad, int64_t k) {
  Acc s = 0;
  for (int64_t i = 0; i < count; ++i) s += v[i * stride + k];
  const Acc m = s * mul / static_cast<Acc>(count);
  return bad && bad[0] ? static_cast<Acc>(HUGE_VAL) * Acc(0) : m;  // inf * 0: NaN
}

// out[k] = the strided mean of column k, in the logits' dtype T (a loss value).
template <typename T>
struct LossValueKernel {
  using Acc = SoftmaxAcc<T>;
  const Acc* v;    // [count, stride]
  int64_t count;   // N
  int64_t stride;  // K
  Acc mul;
  const int* bad;  // [1], or null
  T* out;          // [stride]
  NKD_HD void operator()(int64_t k) const { out[k] = static_cast<T>(strided_mean(v, count, stride, mul, bad, k)); }
};

// out[k] = the strided mean of column k, kept in Acc (a batch statistic for a later pass).
template <typename T>
struct BatchMeanKernel {
  using Acc = SoftmaxAcc<T>;
  const Acc* v;    // [count, stride]
  int64_t count;   // N
  int64_t stride;  // K
  Acc mul;
  const int* bad;  // [1], or null
  Acc* out;        // [stride]
  NKD_HD void operator()(int64_t k) const { out[k] = strided_mean(v, count, stride, mul, bad, k); }
};

// GPU label check without a host synchronisation (run as one index): out[r] = in[r] where it lies
// in [0, c), else 0 (so no kernel reads outside a row), and bad[0] = 1 if any did not; the
// LossValueKernel that finishes the loss then writes NaN, which the trainer's NaN check reports.
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

}  // namespace nkd::losses::math
