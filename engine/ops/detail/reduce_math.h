// The reduce family's functor header: the NKD_HD functor of max's backward, run on either device
// by nkd::launch (reduce.cpp; instantiated for the GPU in reduce_cuda.cu).
#pragma once
#include <cstdint>

#include "engine/host_device.h"

namespace nkd::ops::detail {

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
