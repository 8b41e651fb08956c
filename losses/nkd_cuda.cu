// The GPU instantiations of nkd_loss's row functor (losses/nkd_math.h), one per type in
// NKD_FLOAT_TYPES, for nkd::launch / nkd::launch_rows (engine/launch.h). Compiled only with CUDA.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "losses/nkd_math.h"

#define NKD_NKD_GPU(T, D) NKD_GPU_LAUNCHABLE(nkd::losses::math::NkdKernel<T>)
NKD_FLOAT_TYPES(NKD_NKD_GPU)
