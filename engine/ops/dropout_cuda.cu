// Dropout on the GPU: math::DropoutKernel (detail/dropout_math.h) instantiated for nkd::launch for
// every type of NKD_FLOAT_TYPES; the GPU runs the CPU's functor, so the masks agree bit for bit.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/dropout_math.h"

#define NKD_DROPOUT_LAUNCHABLE(T, D) NKD_GPU_LAUNCHABLE(nkd::ops::math::DropoutKernel<T>)
NKD_FLOAT_TYPES(NKD_DROPOUT_LAUNCHABLE)
