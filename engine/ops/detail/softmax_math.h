// Softmax's functor header: per-row math shared by the CPU loops, the CUDA kernels and the loss
// kernels (a row is n elements `stride` apart), the row geometry and the per-row functors.
// Max-subtracted; sums accumulate in Acc (double for F32 on the CPU), so logits of +-1e4 give
// finite, exact results (exp of a very negative number is 0, never NaN).
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace nkd::ops::math {

// The accumulation type of a row: double for float, the type itself otherwise.
template <typename T>
struct SoftmaxAccOf {
  using type = T;
};
template <>
struct SoftmaxAccOf<float> {
  using type = double;
};
template <typename T>
using SoftmaxAcc = typename SoftmaxAccOf<T>::type;

// max_j x[j]; NaN propagates (a NaN row gives a NaN result, as in PyTorch).
template <typename Acc, typename T>
NKD_HD Acc row_max(const T* x, int64_t n, int64_t stride) {
  Acc m = static_cast<Acc>(x[0]);
  for (int64_t j = 1; j < n; ++j) {
    const Acc v = static_cast<Acc>(x[j * stride]);
    if (v > m || v != v) m = v;
    if (m != m) break;
  }
  return m;
}

// The larger of a and b with NaN winning, as row_max: the combine step of a parallel row maximum.
template <typename Acc>
NKD_HD Acc nan_max(Acc a, Acc b) {
  return (a != a || a >= b) ? a : b;
}

// One element of the row formulas below, shared with the GPU kernels (which reduce a row in
// parallel and then apply these per element).
template <typename Acc, typename T>
NKD_HD Acc exp_shifted(T x, Acc m) {
  using std::exp;
  return exp(static_cast<Acc>(x) - m);
}
template <typename Acc, typename T>
NKD_HD T softmax_value(T x, Acc m, Acc inv_sum) {
  return static_cast<T>(exp_shifted(x, m) * inv_sum);
}
template <typename Acc, typename T>
NKD_HD T log_softmax_value(T x, Acc lse) {
  return static_cast<T>(static_cast<Acc>(x) - lse);
}
template <typename Acc, typename T>
NKD_HD T softmax_grad(T g, T y, Acc dot) {
  return static_cast<T>(static_cast<Acc>(y) * (static_cast<Acc>(g) - dot));
}
template <typename Acc, typename T>
NKD_HD T log_softmax_grad(T g, T y, Acc sum) {
  using std::exp;
  return static_cast<T>(static_cast<Acc>(g) - exp(static_cast<Acc>(y)) * sum);
}

// log sum_j exp(x[j]) = m + log sum_j exp(x[j] - m), with m the row maximum.
template <typename Acc, typename T>
NKD_HD Acc row_logsumexp(const T* x, int64_t n, int64_t stride, Acc m) {
  using std::log;
  Acc s = 0;
  for (int64_t j = 0; j < n; ++j) s += exp_shifted(x[j * stride], m);
  return m + log(s);
}

// y[j] = exp(x[j] - m) / sum_k exp(x[k] - m).
template <typename Acc, typename T>
NKD_HD void softmax_row(const T* x, T* y, int64_t n, int64_t stride) {
  const Acc m = row_max<Acc>(x, n, stride);
  Acc s = 0;
  for (int64_t j = 0; j < n; ++j) s += exp_shifted(x[j * stride], m);
  const Acc inv = Acc(1) / s;
  for (int64_t j = 0; j < n; ++j) y[j * stride] = softmax_value(x[j * stride], m, inv);
}

// y[j] = x[j] - logsumexp(x).
template <typename Acc, typename T>
NKD_HD void log_softmax_row(const T* x, T* y, int64_t n, int64_t stride) {
  const Acc lse = row_logsumexp<Acc>(x, n, stride, row_max<Acc>(x, n, stride));
  for (int64_t j = 0; j < n; ++j) y[j * stride] = log_softmax_value(x[j * stride], lse);
}

// Softmax backward from the output y: gx[j] = y[j] * (g[j] - sum_k g[k] y[k]).
template <typename Acc, typename T>
NKD_HD void softmax_backward_row(const T* g, const T* y, T* gx, int64_t n, int64_t stride) {
  Acc dot = 0;
  for (int64_t j = 0; j < n; ++j) dot += static_cast<Acc>(g[j * stride]) * static_cast<Acc>(y[j * stride]);
  for (int64_t j = 0; j < n; ++j) gx[j * stride] = softmax_grad(g[j * stride], y[j * stride], dot);
}

// Log-softmax backward from the output y: gx[j] = g[j] - exp(y[j]) * sum_k g[k].
template <typename Acc, typename T>
NKD_HD void log_softmax_backward_row(const T* g, const T* y, T* gx, int64_t n, int64_t stride) {
  Acc sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += static_cast<Acc>(g[j * stride]);
  for (int64_t j = 0; j < n; ++j) gx[j * stride] = log_softmax_grad(g[j * stride], y[j * stride], sum);
}

// ---- row geometry and per-row functors ------------------------------------------------------
// x is viewed as [outer, D, inner]: row r = (o, i) starts at o * D * inner + i and steps by inner.
// cpu::launch runs the functors on the host, the GPU (softmax_cuda.cu) for rows whose elements are
// strided (dim not last).
struct SoftmaxGeometry {
  int64_t outer = 1, dim = 1, inner = 1;
  NKD_HD int64_t base(int64_t r) const { return (r / inner) * dim * inner + r % inner; }
  NKD_HD int64_t rows() const { return outer * inner; }
};

template <typename T, bool kLog>
struct SoftmaxFwdKernel {
  SoftmaxGeometry geo;
  const T* x;  // [outer, D, inner]
  T* y;        // [outer, D, inner]
  NKD_HD void operator()(int64_t r) const {
    using Acc = SoftmaxAcc<T>;
    const int64_t b = geo.base(r);
    if constexpr (kLog) {
      log_softmax_row<Acc>(x + b, y + b, geo.dim, geo.inner);
    } else {
      softmax_row<Acc>(x + b, y + b, geo.dim, geo.inner);
    }
  }
};

template <typename T, bool kLog>
struct SoftmaxBwdKernel {
  SoftmaxGeometry geo;
  const T* g;  // [outer, D, inner]
  const T* y;  // [outer, D, inner], the forward output
  T* gx;       // [outer, D, inner]
  NKD_HD void operator()(int64_t r) const {
    using Acc = SoftmaxAcc<T>;
    const int64_t b = geo.base(r);
    if constexpr (kLog) {
      log_softmax_backward_row<Acc>(g + b, y + b, gx + b, geo.dim, geo.inner);
    } else {
      softmax_backward_row<Acc>(g + b, y + b, gx + b, geo.dim, geo.inner);
    }
  }
};

}  // namespace nkd::ops::math
