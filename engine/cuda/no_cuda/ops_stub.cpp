// The GPU kernel launchers (engine/ops/*_cuda.h) in a build without CUDA: each throws. They are
// unreachable in practice (no CUDA tensor can be created), but the op code links against them.
#include "engine/check.h"
#include "engine/ops/elementwise_math.h"
#include "engine/ops/pointwise_cuda.h"
#include "engine/ops/reduce_cuda.h"

namespace nkd::ops::gpu {
namespace {
[[noreturn]] void fail(const char* what) { NKD_FAIL(what, ": nkd was built without CUDA"); }
}  // namespace

template <typename Op, typename T>
void unary_forward(Device, const Op&, const T*, T*, int64_t) { fail("unary op"); }
template <typename Op, typename T>
void unary_backward(Device, const Op&, const T*, const T*, const T*, T*, int64_t) {
  fail("unary op backward");
}
template <typename F, typename T>
void binary(Device, const T*, const T*, T*, int64_t) { fail("binary op"); }
template <typename T>
void add_inplace(Device, T*, const T*, int64_t) { fail("add_"); }
template <typename T>
void sum_rows(Device, const T*, T*, int64_t, int64_t, double) { fail("sum"); }
template <typename T>
void max_rows(Device, const T*, T*, int64_t*, int64_t, int64_t) { fail("max"); }
template <typename T>
void scatter_rows(Device, T*, const T*, const int64_t*, int64_t, int64_t) { fail("max backward"); }

#define NKD_INSTANTIATE_UNARY(Op)                                                              \
  template void unary_forward<math::Op, float>(Device, const math::Op&, const float*, float*,  \
                                               int64_t);                                       \
  template void unary_forward<math::Op, double>(Device, const math::Op&, const double*,        \
                                                double*, int64_t);                             \
  template void unary_backward<math::Op, float>(Device, const math::Op&, const float*,         \
                                                const float*, const float*, float*, int64_t);  \
  template void unary_backward<math::Op, double>(Device, const math::Op&, const double*,       \
                                                 const double*, const double*, double*, int64_t);
#define NKD_INSTANTIATE_BINARY(F)                                                              \
  template void binary<math::F, float>(Device, const float*, const float*, float*, int64_t);   \
  template void binary<math::F, double>(Device, const double*, const double*, double*, int64_t);
#define NKD_INSTANTIATE_TYPED(T)                                                              \
  template void add_inplace<T>(Device, T*, const T*, int64_t);                                \
  template void sum_rows<T>(Device, const T*, T*, int64_t, int64_t, double);                  \
  template void max_rows<T>(Device, const T*, T*, int64_t*, int64_t, int64_t);                \
  template void scatter_rows<T>(Device, T*, const T*, const int64_t*, int64_t, int64_t);
NKD_CUDA_UNARY_OPS(NKD_INSTANTIATE_UNARY)
NKD_CUDA_BINARY_OPS(NKD_INSTANTIATE_BINARY)
NKD_INSTANTIATE_TYPED(float)
NKD_INSTANTIATE_TYPED(double)

void copy_strided(Device, DType, void*, DType, const void*, const CopyDims&, int64_t) {
  fail("copy_");
}
void fill(Device, DType, void*, double, int64_t) { fail("fill"); }
void random(Device, DType, void*, const detail::RandomSpec&, int64_t) { fail("random"); }

}  // namespace nkd::ops::gpu
