// NKD_HD kernel functors of the pointwise ops, copies, fills and random draws: f(i) writes
// element i. cpu::launch runs them on the host and cuda::launch (engine/cuda/launch.cuh) on the GPU,
// so the CPU tests exercise the indexing the GPU runs. Raw pointers; shapes in the comments.
#pragma once
#include <cstdint>

#include "engine/host_device.h"
#include "engine/ops/indexing.h"
#include "engine/random.h"

namespace nkd::ops::detail {

template <typename Op, typename T>
struct UnaryFwdKernel {
  Op op;
  const T* x;  // [n]
  T* y;        // [n]
  NKD_HD void operator()(int64_t i) const { y[i] = op.template fwd<T>(x[i]); }
};

template <typename Op, typename T>
struct UnaryBwdKernel {
  Op op;
  const T* g;  // [n]
  const T* x;  // [n], or null when Op does not need it
  const T* y;  // [n], or null when Op does not need it
  T* gx;       // [n]
  NKD_HD void operator()(int64_t i) const {
    gx[i] = op.template bwd<T>(g[i], x ? x[i] : T(0), y ? y[i] : T(0));
  }
};

template <typename F, typename T>
struct BinaryKernel {
  F f;
  const T* a;  // [n]
  const T* b;  // [n]
  T* out;      // [n]
  NKD_HD void operator()(int64_t i) const { out[i] = f(a[i], b[i]); }
};

template <typename T>
struct AddInplaceKernel {
  T* a;        // [n]
  const T* b;  // [n]
  NKD_HD void operator()(int64_t i) const { a[i] += b[i]; }
};

// dst[di(i)] = src[si(i)], converted: the strided copy under every view write and dtype change.
template <typename TD, typename TS>
struct CopyKernel {
  TD* dst;        // strided by di
  StridedIndex di;
  const TS* src;  // strided by si
  StridedIndex si;
  NKD_HD void operator()(int64_t i) const {
    dst[di.offset(i)] = static_cast<TD>(src[si.offset(i)]);
  }
};

// The same for fewer than 2^31 elements: both offsets from one 32-bit divmod per dim.
template <typename TD, typename TS>
struct CopyKernel32 {
  TD* dst;
  const TS* src;
  CopyIndex32 index;
  NKD_HD void operator()(int64_t i) const {
    int64_t d = 0, s = 0;
    index.offsets(static_cast<uint32_t>(i), d, s);
    dst[d] = static_cast<TD>(src[s]);
  }
};

template <typename T>
struct FillKernel {
  T* out;  // [n]
  T value;
  NKD_HD void operator()(int64_t i) const { out[i] = value; }
};

// A draw of n numbers from a Generator: element i uses counter `first + i`.
struct RandomSpec {
  uint64_t seed = 0, stream = 0, first = 0;
  bool normal = true;            // N(0, 1); otherwise U[low, high)
  double low = 0, high = 1;
};

template <typename T>
struct RandomKernel {
  T* out;  // [n]
  RandomSpec spec;
  NKD_HD void operator()(int64_t i) const {
    const uint64_t k = spec.first + static_cast<uint64_t>(i);
    const double v = spec.normal ? random_normal(spec.seed, spec.stream, k)
                                 : spec.low + (spec.high - spec.low) *
                                                  (1.0 - random_uniform(spec.seed, spec.stream, k));
    out[i] = static_cast<T>(v);
  }
};

// out[o * inner + index[o]] = g[o]: routes each row's gradient to the row's selected element.
template <typename T>
struct RowScatterKernel {
  T* out;                // [outer, inner], zero-filled
  const T* g;            // [outer]
  const int64_t* index;  // [outer]
  int64_t inner;
  NKD_HD void operator()(int64_t o) const { out[o * inner + index[o]] = g[o]; }
};

}  // namespace nkd::ops::detail
