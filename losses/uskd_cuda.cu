// The GPU instantiations of uskd_loss's score, rank and loss functors (losses/uskd_math.h), one
// per type in NKD_FLOAT_TYPES, for nkd::launch / nkd::launch_rows (engine/launch.h). CUDA only.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "losses/uskd_math.h"

#define NKD_USKD_GPU(T, D)                                   \
  NKD_GPU_LAUNCHABLE(nkd::losses::math::UskdScoreKernel<T>)  \
  NKD_GPU_LAUNCHABLE(nkd::losses::math::UskdRankKernel<T>)   \
  NKD_GPU_LAUNCHABLE(nkd::losses::math::UskdKernel<T>)
NKD_FLOAT_TYPES(NKD_USKD_GPU)
