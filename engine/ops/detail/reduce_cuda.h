// Launchers of the row reductions on CUDA devices (shared-memory kernels, defined in
// reduce_cuda.cu), called by reduce.cpp only under `if constexpr (kBuiltWithCuda)`: a CPU-only
// build needs no definition. Rows are contiguous: x is [outer, inner]; T is in NKD_FLOAT_TYPES.
#pragma once
#include <cstdint>

#include "engine/device.h"

namespace nkd::ops::gpu {

// y[o] = scale * sum_i x[o, i], accumulated in double for float (as on the CPU).
template <typename T>
void sum_rows(Device device, const T* x, T* y, int64_t outer, int64_t inner, double scale);
// values[o] = max_i x[o, i] and index[o] = its first position; a NaN wins (the first NaN), as on
// the CPU.
template <typename T>
void max_rows(Device device, const T* x, T* values, int64_t* index, int64_t outer, int64_t inner);
}  // namespace nkd::ops::gpu
