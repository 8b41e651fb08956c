// Launchers of the row reductions on CUDA devices (defined in reduce_cuda.cu), called by
// reduce.cpp. Rows are contiguous: x is [outer, inner]; T is float or double. CUDA-free header;
// without CUDA, engine/cuda/no_cuda/ops_stub.cpp defines them to throw "built without CUDA".
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
// out[o, index[o]] = g[o]; out is [outer, inner] and already zero.
template <typename T>
void scatter_rows(Device device, T* out, const T* g, const int64_t* index, int64_t outer,
                  int64_t inner);

}  // namespace nkd::ops::gpu
