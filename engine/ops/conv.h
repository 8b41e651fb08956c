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

// Winograd F(4x4, 3x3) for frozen 3x3 convolutions (the inference form's, nets/inference.h), F32 on
// the CPU: the weights are transformed once (winograd_weights), each call transforms the input
// tiles, runs 36 GEMMs and applies the bias, residual and activation in the output transform. Not
// the same additions as conv2d: F32 results differ from it by rounding, measured at most 9e-6 of the
// output's scale at 3-130 input channels (tests/engine/test_conv_winograd.cpp; docs/DECISIONS.md).
struct WinogradWeights {
  Tensor u;  // [36, K, C] F32 CPU: G g G^T for every 3x3 kernel g = w[k, c]
  int64_t k = 0, c = 0;
  bool defined() const { return u.defined(); }
};

// Whether conv2d_winograd can run w [K, C, 3, 3] with these options: F32 on the CPU, stride 1,
// padding 1, dilation 1, one group.
bool winograd_applicable(const Tensor& w, const Conv2dOptions& options);

// Whether it is faster than conv2d_fused for an input plane of h x w (measured on the CPU at 3 to
// 1024 channels, where the plane decides; conv_winograd.cpp, docs/PERF.md "Winograd for the
// teacher's 3x3 convolutions").
bool winograd_pays(int64_t h, int64_t w);

// The transformed weights of w [K, C, 3, 3] (winograd_applicable(w, its options) must hold).
WinogradWeights winograd_weights(const Tensor& w);

// Inference only, like conv2d_fused (throws if grad mode is on and an argument requires grad):
// y = act(conv2d(x, w, b, padding 1) + residual) for x [N, C, H, W] F32 on the CPU, with the
// weights from winograd_weights(w). (no op case: F32 CPU only and its weights are not a tensor
// argument; tests/engine/test_conv_winograd.cpp checks it against an F64 reference and conv2d_fused.)
Tensor conv2d_winograd(const Tensor& x, const WinogradWeights& w, const Tensor& b, const Tensor& residual, Act act);

}  // namespace nkd::ops
