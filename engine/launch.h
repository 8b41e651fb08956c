// The one way to run an NKD_HD kernel functor f(i), i in [0, n), on either device: a plain loop
// (cpu::launch) on the host, the same functor as a CUDA kernel on the device's compute stream.
// Ops, losses and optimizers all launch through here. The GPU branch is compiled out by the
// language (if constexpr on kBuiltWithCuda), so a build without CUDA needs no definition of the
// gpu:: launchers; in a CUDA build each functor type a .cpp launches is instantiated once in a .cu
// file of its family with NKD_GPU_LAUNCHABLE or NKD_GPU_VEC_LAUNCHABLE
// (engine/cuda/launch_functor.cuh).
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/check.h"
#include "engine/config.h"
#include "engine/cpu/parallel.h"
#include "engine/device.h"

namespace nkd {

namespace gpu {
// Queue f over [0, n) on `device`'s compute stream and return at once; check the launch.
// launch_flat: 256-thread blocks, grid-stride loop. launch_rows: 64-thread blocks, one thread per
// row (few, heavy indices spread over the SMs). Declared here, defined in launch_functor.cuh.
template <typename F>
void launch_flat(Device device, int64_t n, const F& f);
template <typename F>
void launch_rows(Device device, int64_t n, const F& f);
// f.template run<V>(i) over groups of V = kVecOf<T> elements (16-byte Packs) when `aligned`, else
// V = 1 (engine/cuda/launch.cuh, cuda::launch_vec).
template <typename T, typename F>
void launch_vec(Device device, int64_t n, const F& f, bool aligned);
}  // namespace gpu

// Throws "<what>: <device> tensors need a CUDA build (nkd was built without CUDA)".
[[noreturn]] void fail_without_cuda(const char* what, Device device);

// f(i) for i in [0, n) on `device`; on the CPU, chunks of at least `grain` indices per thread.
template <typename F>
void launch(Device device, int64_t n, const F& f, int64_t grain = cpu::kGrain) {
  if (device.is_cpu()) return cpu::launch(n, f, grain);
  if constexpr (kBuiltWithCuda) {
    gpu::launch_flat(device, n, f);
  } else {
    fail_without_cuda("kernel launch", device);
  }
}

// f(r) for r in [0, rows) on `device`, where each index walks a row of `cols` elements: on the
// CPU the grain is scaled so a thread gets about cpu::kGrain elements; on the GPU one thread a row.
template <typename F>
void launch_rows(Device device, int64_t rows, int64_t cols, const F& f) {
  if (device.is_cpu())
    return cpu::launch(rows, f, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(cols, 1)));
  if constexpr (kBuiltWithCuda) {
    gpu::launch_rows(device, rows, f);
  } else {
    fail_without_cuda("kernel launch", device);
  }
}

// A contiguous pointwise functor over [0, n) on `device`: f(i) on the CPU (cpu::launch); on the GPU
// f.template run<V>(i) writes elements [i, i + V) with one 16-byte Pack (engine/pack.h) per
// operand when `aligned` (every operand's pointer passes aligned16), one element at a time else.
template <typename T, typename F>
void launch_vec(Device device, int64_t n, const F& f, bool aligned) {
  if (device.is_cpu()) return cpu::launch(n, f);
  if constexpr (kBuiltWithCuda) {
    gpu::launch_vec<T>(device, n, f, aligned);
  } else {
    fail_without_cuda("kernel launch", device);
  }
}

}  // namespace nkd
