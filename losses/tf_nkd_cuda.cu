// The GPU instantiations of tf_nkd_loss's second pass (losses/tf_nkd_math.h), one per type in
// NKD_FLOAT_TYPES, for nkd::launch / nkd::launch_rows (engine/launch.h). Compiled only with CUDA.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "losses/tf_nkd_math.h"

#define NKD_TF_NKD_GPU(T, D) NKD_GPU_LAUNCHABLE(nkd::losses::math::TfNkdKernel<T>)
NKD_FLOAT_TYPES(NKD_TF_NKD_GPU)
