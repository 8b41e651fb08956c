// Internal: the CPU convolution kernels behind ops::conv2d (conv.cpp). im2col + OpenBLAS GEMM for
// the general case (conv_cpu.cpp), direct loops for depthwise convolutions (conv_depthwise_cpu.cpp).
// Pointers are contiguous NCHW / KCRS buffers; the caller validates shapes and owns the workspace.
#pragma once
#include <cstdint>

namespace nkd::ops::detail {

struct ConvGeom {
  int64_t n, c, h, w;  // input [N, C, H, W]
  int64_t k, r, s;     // weight [K, C/groups, R, S]
  int64_t p, q;        // output [N, K, P, Q]
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;

  // One input channel per group: each output channel k reads input channel k / (K / C) only.
  bool depthwise() const { return groups == c && c > 1; }
  // R = S = 1, stride 1, no padding: the im2col matrix of one image is the image itself.
  bool pointwise() const {
    return r == 1 && s == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

// Elements of workspace the CPU kernels need for dtype `f32 ? F32 : F64` (0 for depthwise ones).
int64_t conv_workspace_elems(const ConvGeom& g, bool f32);

// y [N, K, P, Q] = conv(x [N, C, H, W], w [K, C/G, R, S]) + b [K] (b may be null).
template <typename T>
void conv2d_forward_cpu(const ConvGeom& g, const T* x, const T* w, const T* b, T* y, T* workspace);

// dx [N, C, H, W] and/or dw [K, C/G, R, S] (each may be null) from dy [N, K, P, Q]; overwrites.
template <typename T>
void conv2d_backward_cpu(const ConvGeom& g, const T* dy, const T* x, const T* w, T* dx, T* dw,
                         T* workspace);

// db [K] = sum over n, p, q of dy [N, K, P, Q] (accumulated in double).
template <typename T>
void conv2d_backward_bias_cpu(const ConvGeom& g, const T* dy, T* db);

// The direct depthwise kernels (groups == C; K = multiplier * C).
template <typename T>
void depthwise_forward_cpu(const ConvGeom& g, const T* x, const T* w, const T* b, T* y);
template <typename T>
void depthwise_backward_data_cpu(const ConvGeom& g, const T* dy, const T* w, T* dx);
template <typename T>
void depthwise_backward_weight_cpu(const ConvGeom& g, const T* dy, const T* x, T* dw);

// The direct F32 3x3 kernels (stride 1, padding 1, one group; AVX-512 CPUs; conv3x3_cpu.cpp), which
// conv2d_forward_cpu / conv2d_backward_cpu take for F32 where conv3x3_direct_applicable says so.
bool conv3x3_direct_applicable(const ConvGeom& g);
int64_t conv3x3_direct_workspace_elems(const ConvGeom& g);
void conv3x3_direct_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, float* ws);
void conv3x3_direct_backward(const ConvGeom& g, const float* dy, const float* x, const float* w, float* dx, float* dw,
                             float* ws);

// [lo, hi): the output positions o with 0 <= o * stride + offset < size, clipped to [0, out).
inline void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = size - offset <= 0 ? 0 : (size - offset - 1) / stride + 1;
  if (hi > out) hi = out;
  if (lo > hi) lo = hi;
}

}  // namespace nkd::ops::detail
