// The GPU launchers of the loss functors (losses/loss_launch.h): one CUDA thread per row runs the
// same NKD_HD row functor the CPU loop runs (losses/*_math.h), on the device's compute stream.
// Rows are independent and need no shared memory or barriers, so the kernel is a plain grid-stride
// loop over rows, in 64-thread blocks so that a batch of a few hundred rows spreads over the SMs.
#include "engine/cuda/context.h"
#include "engine/cuda/launch.cuh"
#include "losses/loss_launch.h"

namespace nkd::losses::gpu {
namespace {

constexpr int kRowBlock = 64;

template <typename F>
__global__ void __launch_bounds__(kRowBlock) row_kernel(int64_t n, F f) {
  for (int64_t r = cuda::global_index(); r < n; r += cuda::global_stride()) f(r);
}

}  // namespace

template <typename F>
void launch_rows(Device device, int64_t n, const F& f) {
  if (n <= 0) return;
  const cuda::DeviceGuard guard(device.index);
  const cudaStream_t stream = cuda::context(device.index).compute_stream();
  row_kernel<F><<<cuda::grid_size(n, kRowBlock), kRowBlock, 0, stream>>>(n, f);
  NKD_CUDA_CHECK_LAUNCH();
}

template <typename F>
void launch_flat(Device device, int64_t n, const F& f) {
  const cuda::DeviceGuard guard(device.index);
  cuda::launch(n, f, cuda::context(device.index).compute_stream());
}

#define NKD_INSTANTIATE_LOSS_LAUNCH(F)                        \
  template void launch_rows<F>(Device, int64_t, const F&); \
  template void launch_flat<F>(Device, int64_t, const F&);
NKD_LOSS_FUNCTORS(NKD_INSTANTIATE_LOSS_LAUNCH, float)
NKD_LOSS_FUNCTORS(NKD_INSTANTIATE_LOSS_LAUNCH, double)
NKD_LOSS_ACC_FUNCTORS(NKD_INSTANTIATE_LOSS_LAUNCH)

}  // namespace nkd::losses::gpu
