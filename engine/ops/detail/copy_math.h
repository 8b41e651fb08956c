// The copy family's functor header: the NKD_HD kernel functors of strided copies, fills and random
// draws (copy.cpp, factory.cpp): f(i) writes element i, run by nkd::launch (engine/launch.h) on
// either device, so the CPU tests exercise the indexing the GPU runs. Raw pointers; shapes in the
// comments.
#pragma once
#include <cstdint>

#include "engine/host_device.h"
#include "engine/ops/detail/indexing.h"
#include "engine/random.h"

namespace nkd::ops::detail {

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

}  // namespace nkd::ops::detail
