// Row geometry and per-row NKD_HD functors of softmax / log-softmax, run by cpu::launch on the host
// and by the GPU (engine/ops/softmax_cuda.cu) for rows whose elements are strided (dim not last).
// x is viewed as [outer, D, inner]: row r = (o, i) starts at o * D * inner + i and steps by inner.
#pragma once
#include <cstdint>

#include "engine/host_device.h"
#include "engine/ops/softmax_math.h"

namespace nkd::ops::math {

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
