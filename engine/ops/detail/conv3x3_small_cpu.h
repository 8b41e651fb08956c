// The direct F32 3x3 convolution for small planes (engine/ops/conv3x3_small_cpu.cpp): 4x4, 7x7
// and 14x14, stride 1, padding 1, channel counts that are multiples of 16, AVX-512F. Called by the direct
// path (conv3x3_cpu.cpp), which transposes the weights and checks the CPU.
#pragma once
#include <cstdint>

#include "engine/ops/detail/conv_cpu.h"

namespace nkd::ops::detail {

// The plane and channel counts have a small-plane kernel (the CPU is checked by the caller).
bool conv3x3_small_applicable(const ConvGeom& g);

// The kernel's block of output channels (16 or 32).
int64_t conv3x3_small_block(int64_t cout);

// out [n, cout, h, w] = bias[k] (if any) + the stride-1 padding-1 3x3 convolution of in [n, cin, h, w]
// with wt [cout / B][cin][9][B], B = conv3x3_small_block(cout) (tap t = 3 r + s reads in at (row + r - 1,
// column + s - 1)): each block's weights in one run of memory, at offsets known at compile time.
void conv3x3_small(int64_t h, int64_t w, int64_t n, int64_t cin, int64_t cout, const float* in, const float* wt,
                   const float* bias, float* out);

// Floats of workspace conv3x3_small_weight needs.
int64_t conv3x3_small_weight_workspace_elems(const ConvGeom& g);

// dw [K, C, 3, 3] = the weight gradient from dy [N, K, P, Q] and x [N, C, H, W] (overwrites).
void conv3x3_small_weight(const ConvGeom& g, const float* dy, const float* x, float* dw, float* ws);

}  // namespace nkd::ops::detail
