// gpu::run_functor (engine/ops/shape_dropout_cuda.h) in a build without CUDA: it throws. It is
// unreachable in practice (no CUDA tensor can be created), but the op code links against it.
#include "engine/check.h"
#include "engine/ops/shape_dropout_cuda.h"

namespace nkd::ops::gpu {

template <typename Kernel>
void run_functor(Device, int64_t, const Kernel&) {
  NKD_FAIL("shape/dropout kernel: nkd was built without CUDA");
}

NKD_SHAPE_CUDA_INSTANTIATE_ALL()

}  // namespace nkd::ops::gpu
