// The GPU instantiations of dkd_loss's row functor (losses/dkd_math.h), one per type in
// NKD_FLOAT_TYPES, for nkd::launch / nkd::launch_rows (engine/launch.h). Compiled only with CUDA.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "losses/dkd_math.h"

#define NKD_DKD_GPU(T, D) NKD_GPU_LAUNCHABLE(nkd::losses::math::DkdKernel<T>)
NKD_FLOAT_TYPES(NKD_DKD_GPU)
