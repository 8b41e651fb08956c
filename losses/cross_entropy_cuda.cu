// The GPU instantiations of cross_entropy's row functor (losses/ce_math.h), one per type in
// NKD_FLOAT_TYPES, for nkd::launch / nkd::launch_rows (engine/launch.h). Compiled only with CUDA.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "losses/ce_math.h"

#define NKD_CROSS_ENTROPY_GPU(T, D) NKD_GPU_LAUNCHABLE(nkd::losses::math::CrossEntropyKernel<T>)
NKD_FLOAT_TYPES(NKD_CROSS_ENTROPY_GPU)
