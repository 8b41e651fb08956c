// Op-table cases: conv2d at odd shapes (batch 1, odd and non-square H/W, stride 2, groups,
// depthwise with and without a channel multiplier, dilation 2, C = 2, no bias, 1x1 kernels,
// non-square kernel/stride/padding) against a naive seven-loop reference and F.conv2d.
#include <string>

#include "engine/ops/activation.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;

// y[n,k,p,q] = b[k] + sum_{c', r, s} w[k,c',r,s] * x[n, g*C/G + c', p*sh - ph + r*dh, q*sw - pw + s*dw].
Tensor ref_conv2d(const Tensor& xt, const Tensor& wt, const Tensor* bt, const ops::Conv2dOptions& o) {
  const HostArray x(xt), w(wt);
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t K = w.shape[0], Cg = w.shape[1], R = w.shape[2], S = w.shape[3];
  const int64_t P = (H + 2 * o.padding.h - o.dilation.h * (R - 1) - 1) / o.stride.h + 1;
  const int64_t Q = (W + 2 * o.padding.w - o.dilation.w * (S - 1) - 1) / o.stride.w + 1;
  const int64_t Kg = K / o.groups;
  (void)C;
  HostArray y({N, K, P, Q});
  for_each_index(y.shape, [&](const std::vector<int64_t>& i) {
    const int64_t n = i[0], k = i[1], p = i[2], q = i[3];
    double s = bt ? HostArray(*bt).v[k] : 0.0;
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t t = 0; t < S; ++t) {
          const int64_t h = p * o.stride.h - o.padding.h + r * o.dilation.h;
          const int64_t v = q * o.stride.w - o.padding.w + t * o.dilation.w;
          if (h < 0 || h >= H || v < 0 || v >= W) continue;
          s += w.at({k, c, r, t}) * x.at({n, (k / Kg) * Cg + c, h, v});
        }
    y.at(i) = s;
  });
  return y.tensor();
}

std::string pair(const ops::Size2& v) {
  return "(" + std::to_string(v.h) + ", " + std::to_string(v.w) + ")";
}

void add_conv(std::vector<OpCase>& cases, const std::string& tag, Shape x, Shape w, bool bias,
              ops::Conv2dOptions o) {
  std::vector<InputSpec> in = {{x}, {w}};
  if (bias) in.push_back({{w[0]}});
  cases.push_back({.op = "conv2d",
                   .name = "conv2d/" + tag,
                   .inputs = in,
                   .fn = [bias, o](const V& t) { return V{ops::conv2d(t[0], t[1], bias ? t[2] : Tensor(), o)}; },
                   .reference = [bias, o](const V& t) {
                     return V{ref_conv2d(t[0], t[1], bias ? &t[2] : nullptr, o)};
                   },
                   .torch = "F.conv2d(x0, x1, " + std::string(bias ? "x2" : "None") + ", stride=" +
                            pair(o.stride) + ", padding=" + pair(o.padding) + ", dilation=" + pair(o.dilation) +
                            ", groups=" + std::to_string(o.groups) + ")"});
}

// conv2d_fused (inference only: no differentiable input, so the gradient rows skip): conv, bias,
// optional residual, activation, against the reference convolution and the reference pointwise ops.
void add_conv_fused(std::vector<OpCase>& cases, const std::string& tag, Shape x, Shape w, bool residual,
                    ops::Act act, ops::Conv2dOptions o) {
  const int64_t p = (x[2] + 2 * o.padding.h - w[2]) / o.stride.h + 1, q = (x[3] + 2 * o.padding.w - w[3]) / o.stride.w + 1;
  std::vector<InputSpec> in = {{x, InputKind::Normal, false}, {w, InputKind::Normal, false}, {{w[0]}, InputKind::Normal, false}};
  if (residual) in.push_back({{x[0], w[0], p, q}, InputKind::Normal, false});
  const std::string torch_act = act == ops::Act::kReLU ? "torch.relu" : "F.relu6";
  cases.push_back({.op = "conv2d_fused",
                   .name = "conv2d_fused/" + tag,
                   .inputs = in,
                   .fn = [residual, act, o](const V& t) {
                     return V{ops::conv2d_fused(t[0], t[1], t[2], residual ? t[3] : Tensor(), act, o)};
                   },
                   .reference = [residual, act, o](const V& t) {
                     Tensor y = ref_conv2d(t[0], t[1], &t[2], o);
                     if (residual) y = ops::add(y, t[3]);
                     return V{act == ops::Act::kReLU ? ops::relu(y) : ops::relu6(y)};
                   },
                   .torch = torch_act + "(F.conv2d(x0, x1, x2, stride=" + pair(o.stride) + ", padding=" +
                            pair(o.padding) + ", groups=" + std::to_string(o.groups) + ")" +
                            (residual ? " + x3" : "") + ")"});
}

}  // namespace

NKD_OP_CASES(conv) {
  add_conv(cases, "3x3_pad1", {2, 3, 5, 5}, {4, 3, 3, 3}, true, {.padding = 1});
  add_conv(cases, "stride2_odd_c2", {2, 2, 7, 7}, {3, 2, 3, 3}, true, {.stride = 2, .padding = 1});
  add_conv(cases, "batch1_groups2", {1, 4, 5, 5}, {6, 2, 3, 3}, true, {.padding = 1, .groups = 2});
  add_conv(cases, "stride2_groups2", {2, 4, 6, 6}, {4, 2, 3, 3}, true, {.stride = 2, .padding = 1, .groups = 2});
  add_conv(cases, "depthwise", {2, 3, 6, 5}, {3, 1, 3, 3}, true, {.padding = 1, .groups = 3});
  // 19 and 33 columns: the AVX-512 weight gradient's second and third 16-column blocks, edge masks.
  add_conv(cases, "depthwise_wide", {2, 2, 4, 19}, {2, 1, 3, 3}, true, {.padding = 1, .groups = 2});
  add_conv(cases, "depthwise_mult2_wide", {1, 2, 3, 33}, {4, 1, 3, 3}, false, {.padding = 1, .groups = 2});
  add_conv(cases, "depthwise_mult2_stride2_nobias", {1, 3, 7, 7}, {6, 1, 3, 3}, false,
           {.stride = 2, .padding = 1, .groups = 3});
  add_conv(cases, "depthwise_dilation2_rect_pad", {1, 4, 6, 7}, {4, 1, 3, 3}, true,
           {.padding = {2, 1}, .dilation = 2, .groups = 4});
  add_conv(cases, "depthwise_c2_stride2_1", {2, 2, 5, 6}, {2, 1, 3, 2}, true, {.stride = {1, 2}, .groups = 2});
  add_conv(cases, "dilation2", {1, 2, 7, 7}, {3, 2, 3, 3}, true, {.padding = 2, .dilation = 2});
  add_conv(cases, "dilation_2_1_stride2", {2, 2, 7, 6}, {2, 2, 2, 3}, false,
           {.stride = 2, .padding = 1, .dilation = {2, 1}});
  add_conv(cases, "1x1_nobias", {2, 4, 3, 5}, {6, 4, 1, 1}, false, {});
  add_conv(cases, "1x1_stride2", {2, 3, 5, 5}, {4, 3, 1, 1}, true, {.stride = 2});
  add_conv(cases, "1x1_groups2", {3, 4, 3, 3}, {2, 2, 1, 1}, true, {.groups = 2});
  add_conv(cases, "rect_kernel_stride_pad", {1, 3, 7, 6}, {4, 3, 3, 2}, true,
           {.stride = {2, 1}, .padding = {1, 0}});
  add_conv(cases, "pad_beyond_reach", {1, 2, 4, 4}, {2, 2, 3, 3}, true, {.padding = 2});
  add_conv(cases, "kernel_fills_input", {3, 3, 3, 3}, {2, 3, 3, 3}, true, {});
  add_conv(cases, "single_channel_5x5", {2, 1, 6, 6}, {3, 1, 5, 5}, true, {.padding = 2});
  add_conv_fused(cases, "3x3_residual_relu", {2, 3, 5, 5}, {4, 3, 3, 3}, true, ops::Act::kReLU, {.padding = 1});
  add_conv_fused(cases, "depthwise_relu6", {2, 4, 6, 5}, {4, 1, 3, 3}, false, ops::Act::kReLU6,
                 {.stride = 2, .padding = 1, .groups = 4});
}

}  // namespace nkd::testing
