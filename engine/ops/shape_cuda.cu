// The shape family on the GPU: the functors of detail/shape_math.h (NKD_SHAPE_DATA_KERNELS for
// every dtype of dispatch_all, NKD_SHAPE_FLOAT_KERNELS for NKD_FLOAT_TYPES) instantiated for
// nkd::launch. No kernel code: the GPU runs the functors the CPU runs.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "engine/ops/detail/shape_math.h"

#define NKD_SHAPE_LAUNCHABLE(...) NKD_GPU_LAUNCHABLE(nkd::ops::math::__VA_ARGS__)
#define NKD_SHAPE_DATA_LAUNCHABLE(T, D) NKD_SHAPE_DATA_KERNELS(NKD_SHAPE_LAUNCHABLE, T)
#define NKD_SHAPE_FLOAT_LAUNCHABLE(T, D) NKD_SHAPE_FLOAT_KERNELS(NKD_SHAPE_LAUNCHABLE, T)

NKD_ALL_FLOAT_TYPES(NKD_SHAPE_DATA_LAUNCHABLE)
NKD_INT_TYPES(NKD_SHAPE_DATA_LAUNCHABLE)
NKD_FLOAT_TYPES(NKD_SHAPE_FLOAT_LAUNCHABLE)
