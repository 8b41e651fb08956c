// The CPU's vector kernel for the 3x3 stride-2 padding-1 max pool (the stems of ResNet and
// ShuffleNetV2): engine/ops/max_pool_cpu.cpp. The generic kernel (pool_math.h's MaxPoolFwd, shared
// with CUDA) compares one window at a time with a data-dependent branch per element (5% of a
// ResNet-18 training step at 224 px); this one takes 16 (AVX-512) or 8 (AVX2) output columns per vector and gives the
// same values and the same indices (the same comparisons in the same order per cell).
#pragma once
#include <cstdint>

#include "engine/ops/detail/pool_math.h"

namespace nkd::ops::detail {

// The vector instruction sets the kernel is written for; the best one this CPU has.
enum class PoolIsa { kNone, kAvx2, kAvx512 };
PoolIsa best_pool_isa();

// R = S = 3, stride 2, padding 1, dilation 1, planes under 2^31 elements, and AVX2 or AVX-512F.
bool max_pool3x3s2_applicable(const pool::Geom& g);

// y [planes, P, Q] = the window maxima of x [planes, H, W], idx (or null) their flat positions in
// the plane: as pool::MaxPoolFwd (NaN wins, the first of equal maxima in raster order).
void max_pool3x3s2_forward(const pool::Geom& g, const float* x, float* y, int64_t* idx,
                           PoolIsa isa = best_pool_isa());

}  // namespace nkd::ops::detail
