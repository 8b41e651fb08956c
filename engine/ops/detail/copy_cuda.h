// The GPU launcher of the strided copy with conversion (copy_cuda.cu), called by copy.cpp only
// under `if constexpr (kBuiltWithCuda)`: a CPU-only build needs no definition. It runs the
// CopyKernel32 / CopyKernel functors of copy_math.h for the (dst, src) dtype pair on the device's
// compute stream and returns at once.
#pragma once
#include <cstdint>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/ops/detail/indexing.h"

namespace nkd::ops::gpu {

// dst[dims.dst(i)] = src[dims.src(i)] converted, for i in [0, n); any dtypes of dispatch_all.
void copy_strided(Device device, DType dst_dtype, void* dst, DType src_dtype, const void* src,
                  const CopyDims& dims, int64_t n);

}  // namespace nkd::ops::gpu
