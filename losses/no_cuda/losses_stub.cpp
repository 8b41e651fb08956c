// The loss GPU launchers in a build without CUDA: each throws. Unreachable in practice (no CUDA
// tensor can be created), but the loss launchers link against them.
#include "engine/check.h"
#include "losses/loss_launch.h"

namespace nkd::losses::gpu {

template <typename F>
void launch_rows(Device, int64_t, const F&) {
  NKD_FAIL("loss kernel: nkd was built without CUDA");
}
template <typename F>
void launch_flat(Device, int64_t, const F&) {
  NKD_FAIL("loss kernel: nkd was built without CUDA");
}

#define NKD_INSTANTIATE_LOSS_LAUNCH(F)                        \
  template void launch_rows<F>(Device, int64_t, const F&); \
  template void launch_flat<F>(Device, int64_t, const F&);
NKD_LOSS_FUNCTORS(NKD_INSTANTIATE_LOSS_LAUNCH, float)
NKD_LOSS_FUNCTORS(NKD_INSTANTIATE_LOSS_LAUNCH, double)
NKD_LOSS_ACC_FUNCTORS(NKD_INSTANTIATE_LOSS_LAUNCH)

}  // namespace nkd::losses::gpu
