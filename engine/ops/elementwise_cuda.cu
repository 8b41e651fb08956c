// The elementwise family on the GPU: every functor of NKD_ELEMENTWISE_UNARY_OPS (forward and
// backward) and NKD_ELEMENTWISE_BINARY_OPS, and add_'s kernel, instantiated for nkd::launch_vec
// (16-byte Packs) for every type of NKD_ALL_FLOAT_TYPES. No kernel code: the functors are those of
// detail/elementwise_math.h that the CPU runs.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/elementwise_math.h"

#define NKD_UNARY_LAUNCHABLE(Op, name, T)                                                     \
  NKD_GPU_VEC_LAUNCHABLE(T, nkd::ops::detail::UnaryFwdKernel<nkd::ops::math::Op, T>) \
  NKD_GPU_VEC_LAUNCHABLE(T, nkd::ops::detail::UnaryBwdKernel<nkd::ops::math::Op, T>)
#define NKD_BINARY_LAUNCHABLE(F, name, T) \
  NKD_GPU_VEC_LAUNCHABLE(T, nkd::ops::detail::BinaryKernel<nkd::ops::math::F, T>)
#define NKD_ELEMENTWISE_LAUNCHABLE(T, D)                        \
  NKD_ELEMENTWISE_UNARY_OPS(NKD_UNARY_LAUNCHABLE, T)            \
  NKD_ELEMENTWISE_BINARY_OPS(NKD_BINARY_LAUNCHABLE, T)          \
  NKD_GPU_VEC_LAUNCHABLE(T, nkd::ops::detail::AddInplaceKernel<T>)

NKD_ALL_FLOAT_TYPES(NKD_ELEMENTWISE_LAUNCHABLE)
