// The GPU launchers of matmul/bmm/linear (matmul_cuda.h), softmax/log_softmax (softmax_cuda.h)
// and layer_norm (layer_norm_cuda.h) in a build without CUDA: each throws. They are unreachable
// in practice (no CUDA tensor can be created), but the op code links against them.
#include "engine/check.h"
#include "engine/ops/layer_norm_cuda.h"
#include "engine/ops/matmul_cuda.h"
#include "engine/ops/softmax_cuda.h"

namespace nkd::ops::gpu {
namespace {
[[noreturn]] void fail(const char* what) { NKD_FAIL(what, ": nkd was built without CUDA"); }
}  // namespace

template <typename T>
void gemm(Device, const GemmOperand&, const GemmOperand&, T*, int64_t, int64_t, int64_t, int64_t,
          double, double) {
  fail("matmul");
}
template <typename T>
bool linear_bias(Device, const T*, const GemmOperand&, const T*, T*, int64_t, int64_t, int64_t) {
  fail("linear");
}
NKD_MATMUL_CUDA_INSTANTIATE(float)
NKD_MATMUL_CUDA_INSTANTIATE(double)

template <typename T, bool kLog>
void softmax_forward(Device, const math::SoftmaxGeometry&, const T*, T*) {
  fail(kLog ? "log_softmax" : "softmax");
}
template <typename T, bool kLog>
void softmax_backward(Device, const math::SoftmaxGeometry&, const T*, const T*, T*) {
  fail(kLog ? "log_softmax backward" : "softmax backward");
}
NKD_SOFTMAX_CUDA_INSTANTIATE_ALL()

template <typename T>
void layer_norm_forward(Device, const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, double) {
  fail("layer_norm");
}
template <typename T>
void layer_norm_backward_x(Device, const T*, const T*, const T*, const T*, const T*, T*, int64_t,
                           int64_t) {
  fail("layer_norm backward");
}
template <typename T>
void layer_norm_backward_params(Device, const T*, const T*, const T*, const T*, T*, T*, int64_t,
                                int64_t) {
  fail("layer_norm backward");
}
NKD_LAYER_NORM_CUDA_INSTANTIATE(float)
NKD_LAYER_NORM_CUDA_INSTANTIATE(double)

}  // namespace nkd::ops::gpu
