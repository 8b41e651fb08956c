// The GPU instantiations of kd_loss's row functor (losses/kd_math.h), one per type in
// NKD_FLOAT_TYPES, for nkd::launch / nkd::launch_rows (engine/launch.h). Compiled only with CUDA.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "losses/kd_math.h"

#define NKD_KD_GPU(T, D) NKD_GPU_LAUNCHABLE(nkd::losses::math::KdKernel<T>)
NKD_FLOAT_TYPES(NKD_KD_GPU)
