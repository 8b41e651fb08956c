// Internal: the CPU convolution kernels behind ops::conv2d (conv.cpp). im2col + OpenBLAS GEMM for
// the general case (conv_cpu.cpp), direct loops for depthwise convolutions (conv_depthwise_cpu.cpp).
// Pointers are contiguous NCHW / KCRS buffers; the caller validates shapes and owns the workspace.
#pragma once
#include <cstdint>

#include "engine/ops/activation.h"
#include "engine/ops/detail/elementwise_math.h"

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

// What the forward's output pass applies to each output element: y = act(conv + bias[k] +
// residual), each part optional (null / kNone). ops::conv2d passes the bias only; ops::conv2d_fused
// (inference) all three.
template <typename T>
struct ConvEpilogue {
  const T* bias = nullptr;      // [K]
  const T* residual = nullptr;  // [N, K, P, Q], like y
  Act act = Act::kNone;
  bool identity() const { return !bias && !residual && act == Act::kNone; }
};

// dst[j] = act(src[j] + bias + residual[j]) for j < n (residual may be null; dst may be src).
template <typename T>
void apply_epilogue(T* dst, const T* src, int64_t n, T bias, const T* residual, Act act) {
  auto run = [&](auto f) {
    if (residual)
      for (int64_t j = 0; j < n; ++j) dst[j] = f(src[j] + bias + residual[j]);
    else
      for (int64_t j = 0; j < n; ++j) dst[j] = f(src[j] + bias);
  };
  switch (act) {
    case Act::kReLU: run([](T v) { return math::Relu{}.fwd(v); }); break;
    case Act::kReLU6: run([](T v) { return math::Relu6{}.fwd(v); }); break;
    case Act::kNone: run([](T v) { return v; }); break;
  }
}

// Elements of workspace the CPU kernels need for dtype `f32 ? F32 : F64` (0 for depthwise ones).
int64_t conv_workspace_elems(const ConvGeom& g, bool f32);

// y [N, K, P, Q] = epilogue(conv(x [N, C, H, W], w [K, C/G, R, S])).
template <typename T>
void conv2d_forward_cpu(const ConvGeom& g, const T* x, const T* w, const ConvEpilogue<T>& ep, T* y,
                        T* workspace);

// dx [N, C, H, W] and/or dw [K, C/G, R, S] (each may be null) from dy [N, K, P, Q]; overwrites.
template <typename T>
void conv2d_backward_cpu(const ConvGeom& g, const T* dy, const T* x, const T* w, T* dx, T* dw,
                         T* workspace);

// db [K] = sum over n, p, q of dy [N, K, P, Q] (accumulated in double).
template <typename T>
void conv2d_backward_bias_cpu(const ConvGeom& g, const T* dy, T* db);

// The direct depthwise kernels (groups == C; K = multiplier * C).
template <typename T>
void depthwise_forward_cpu(const ConvGeom& g, const T* x, const T* w, const ConvEpilogue<T>& ep, T* y);
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

// The direct F32 3x3 stride-2 kernels (padding 1, one group; AVX-512 CPUs; conv3x3s2_cpu.cpp), taken
// like the stride-1 ones where conv3x3s2_direct_applicable says so.
bool conv3x3s2_direct_applicable(const ConvGeom& g);
int64_t conv3x3s2_direct_workspace_elems(const ConvGeom& g);
void conv3x3s2_direct_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y,
                              float* ws);
void conv3x3s2_direct_backward(const ConvGeom& g, const float* dy, const float* x, const float* w, float* dx,
                               float* dw, float* ws);

// [lo, hi): the output positions o with 0 <= o * stride + offset < size, clipped to [0, out).
inline void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = size - offset <= 0 ? 0 : (size - offset - 1) / stride + 1;
  if (hi > out) hi = out;
  if (lo > hi) lo = hi;
}

}  // namespace nkd::ops::detail
