// Internal: the Winograd F(4x4, 3x3) kernels behind ops::winograd_weights / ops::conv2d_winograd
// (conv_winograd.cpp). F32, CPU, stride 1, padding 1, one group. Pointers are contiguous NCHW / KCRS
// buffers; the caller validates shapes and owns the workspace.
//
// Each 4x4 block of output pixels (a tile) is computed from the 6x6 block of input around it:
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
// so the 9 multiply-adds per output pixel and input channel become 36 per 16 pixels. The weights are
// transformed once (U [36][K][C]); per call the input tiles are transformed (V [36][C][tiles]), the
// 36 element positions are 36 GEMMs M_i [K][tiles] = U_i @ V_i, and the output transform writes y
// with the bias, residual and activation applied (ConvEpilogue).
#pragma once
#include <cstdint>

#include "engine/ops/detail/conv_cpu.h"

namespace nkd::ops::detail {

inline constexpr int64_t kWinogradTile = 4;    // output pixels per tile side (m)
inline constexpr int64_t kWinogradInput = 6;   // input pixels per tile side (m + r - 1)
inline constexpr int64_t kWinogradPoints = 36;  // elements of a transformed tile

// u [36][K][C] = G g G^T of every 3x3 kernel g = w[k][c] (computed in double, stored in F32).
void winograd_transform_weights(int64_t k, int64_t c, const float* w, float* u);

// Floats of workspace winograd_forward needs for geometry g (P = H, Q = W).
int64_t winograd_workspace_elems(const ConvGeom& g);

// y [N, K, H, W] = epilogue(the stride-1 padding-1 3x3 convolution of x [N, C, H, W]), with the
// weights as winograd_transform_weights wrote them.
void winograd_forward(const ConvGeom& g, const float* x, const float* u, const ConvEpilogue<float>& ep, float* y,
                      float* ws);

}  // namespace nkd::ops::detail
