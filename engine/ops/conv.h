// 2-D convolution on NCHW tensors (cross-correlation, as torch.nn.functional.conv2d), with
// stride, zero padding, dilation and groups. F32 and F64 on the CPU and CUDA (cuDNN); differentiable
// in x, w and b.
#pragma once
#include <cstdint>

#include "engine/ops/activation.h"
#include "engine/tensor.h"

namespace nkd::ops {

// A (height, width) pair; one number means the same for both.
struct Size2 {
  int64_t h = 0, w = 0;
  constexpr Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose
  constexpr Size2(int64_t height, int64_t width) : h(height), w(width) {}
};

struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;  // zeros on each side
  Size2 dilation = 1;
  int64_t groups = 1;
};

// x [N, C, H, W], w [K, C/groups, R, S], b [K] or undefined -> y [N, K, P, Q] with
//   P = (H + 2 padding.h - dilation.h (R - 1) - 1) / stride.h + 1, Q likewise along W.
// C and K must be multiples of groups. Returns a new contiguous tensor.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), const Conv2dOptions& options = {});

// Inference only (no gradient: throws if grad mode is on and an argument requires grad):
//   y = act(conv2d(x, w, b) + residual), residual [N, K, P, Q] or undefined, b may be undefined.
// On the CPU the bias, the residual and the activation are applied in the convolution's output
// pass (one write of y); on the GPU it is conv2d (cuDNN + bias; BF16 operands run in cuDNN's BF16),
// then add and the activation.
// (Op-table rows with no differentiable input; tests/engine/test_conv_fused.cpp also checks it
// against conv2d, add and the activation, bit for bit.)
Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual, Act act,
                    const Conv2dOptions& options = {});

}  // namespace nkd::ops
