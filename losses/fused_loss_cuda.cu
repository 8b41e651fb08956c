// The GPU instantiations of the functors every loss shares (losses/row_math.h: target
// probabilities, batch means, loss values, the backward scaling; the label check once), one per type
// of NKD_FLOAT_TYPES. Compiled only with CUDA; a new loss does not edit this file.
#include "engine/cuda/launch_functor.cuh"
#include "engine/dtype.h"
#include "losses/row_math.h"

#define NKD_SHARED_LOSS_GPU(T, D)                               \
  NKD_GPU_LAUNCHABLE(nkd::losses::math::TargetProbKernel<T>)    \
  NKD_GPU_LAUNCHABLE(nkd::losses::math::BatchMeanKernel<T>)     \
  NKD_GPU_LAUNCHABLE(nkd::losses::math::LossValueKernel<T>)     \
  NKD_GPU_LAUNCHABLE(nkd::losses::math::ScaledSumKernel<T>)
NKD_FLOAT_TYPES(NKD_SHARED_LOSS_GPU)
NKD_GPU_LAUNCHABLE(nkd::losses::math::LabelClampKernel)
