// The copy family on the GPU: the strided copy with conversion for every dtype pair (32-bit index
// arithmetic below 2^31 elements), and the fill and random-draw functors of copy_math.h, launched
// by nkd::launch from factory.cpp, instantiated for the types of NKD_ALL_FLOAT_TYPES / NKD_INT_TYPES.
#include "engine/cuda/launch_functor.cuh"
#include "engine/ops/detail/copy_cuda.h"
#include "engine/ops/detail/copy_math.h"
#include "engine/ops/dispatch.h"

namespace nkd::ops::gpu {

void copy_strided(Device device, DType dst_dtype, void* dst, DType src_dtype, const void* src,
                  const CopyDims& dims, int64_t n) {
  const bool small = n < (int64_t{1} << 31);  // 32-bit index arithmetic
  const CopyIndex32 index32 = small ? CopyIndex32(dims) : CopyIndex32();
  dispatch_all(dst_dtype, "copy_", [&]<typename TD>() {
    dispatch_all(src_dtype, "copy_", [&]<typename TS>() {
      auto* d = static_cast<TD*>(dst);
      const auto* s = static_cast<const TS*>(src);
      if (small)
        nkd::gpu::launch_flat(device, n, detail::CopyKernel32<TD, TS>{d, s, index32});
      else
        nkd::gpu::launch_flat(device, n, detail::CopyKernel<TD, TS>{d, dims.dst, s, dims.src});
    });
  });
}

}  // namespace nkd::ops::gpu

#define NKD_FILL_LAUNCHABLE(T, D) NKD_GPU_LAUNCHABLE(nkd::ops::detail::FillKernel<T>)
#define NKD_RANDOM_LAUNCHABLE(T, D) NKD_GPU_LAUNCHABLE(nkd::ops::detail::RandomKernel<T>)
NKD_ALL_FLOAT_TYPES(NKD_FILL_LAUNCHABLE)
NKD_INT_TYPES(NKD_FILL_LAUNCHABLE)
NKD_ALL_FLOAT_TYPES(NKD_RANDOM_LAUNCHABLE)
