// The multi-tensor optimizer launchers (engine/optim/optim_cuda.h) in a build without CUDA: each
// throws. Unreachable in practice (no CUDA tensor can be created), but optimizer.cpp links them.
#include "engine/check.h"
#include "engine/optim/optim_cuda.h"

namespace nkd::optim::gpu {
namespace {
[[noreturn]] void fail(const char* what) { NKD_FAIL(what, ": nkd was built without CUDA"); }
}  // namespace

template <typename T>
void sgd_step(Device, const std::vector<SgdItem<T>>&, double, bool) { fail("SGD"); }
template <typename T>
void adamw_step(Device, const std::vector<AdamWItem<T>>&, double, double, double, double, double) {
  fail("AdamW");
}
template <typename T>
void grad_square_partials(Device, const std::vector<GradSlice<T>>&, double*) { fail("clip_grad_norm"); }
void finish_norm(Device, const double*, int64_t, double, double*) { fail("clip_grad_norm"); }
template <typename T>
void scale_grads(Device, const std::vector<GradSlice<T>>&, const double*) { fail("clip_grad_norm"); }

#define NKD_INSTANTIATE_OPTIM(T)                                                                          \
  template void sgd_step<T>(Device, const std::vector<SgdItem<T>>&, double, bool);                        \
  template void adamw_step<T>(Device, const std::vector<AdamWItem<T>>&, double, double, double, double,   \
                              double);                                                                    \
  template void grad_square_partials<T>(Device, const std::vector<GradSlice<T>>&, double*);               \
  template void scale_grads<T>(Device, const std::vector<GradSlice<T>>&, const double*);
NKD_INSTANTIATE_OPTIM(float)
NKD_INSTANTIATE_OPTIM(double)

}  // namespace nkd::optim::gpu
