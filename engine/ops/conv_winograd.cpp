// winograd_weights and conv2d_winograd: argument checks and the calls into the CPU kernels
// (detail/conv_winograd_cpu.h).
#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/ops/conv.h"
#include "engine/ops/detail/conv_winograd_cpu.h"
#include "engine/ops/dispatch.h"

namespace nkd::ops {

bool winograd_applicable(const Tensor& w, const Conv2dOptions& o) {
  return w.defined() && w.dtype() == DType::F32 && !w.is_cuda() && w.ndim() == 4 && w.size(2) == 3 &&
         w.size(3) == 3 && o.stride.h == 1 && o.stride.w == 1 && o.padding.h == 1 && o.padding.w == 1 &&
         o.dilation.h == 1 && o.dilation.w == 1 && o.groups == 1;
}

// CPU ms (both threads) of conv2d_fused / conv2d_winograd, batch 8, 2-core AMD EPYC (Zen 3, AVX2)
// with another job running: a plane of 1x1, 2x2, 3x3 or 5x5 (256 channels) 0.95 / 2.8, 1.2 / 2.1,
// 2.1 / 2.7, 4.5 / 5.1; 4x4, 6x6, 9x9 1.3-1.6x faster with Winograd, 7x7 .. 56x56 1.3-2.5x, at 3 to
// 1024 channels. The loss follows the share of the 4x4 tiles' outputs that lie in the plane (1/16,
// 1/4, 9/16 and 25/64 there; 9/16 still pays from 6x6 up, where the GEMMs are wide enough).
bool winograd_pays(int64_t h, int64_t w) {
  const int64_t covered_h = (h + 3) / 4 * 4, covered_w = (w + 3) / 4 * 4;
  return h >= 4 && w >= 4 && 2 * h * w >= covered_h * covered_w;
}

WinogradWeights winograd_weights(const Tensor& w) {
  NKD_CHECK(winograd_applicable(w, {.padding = 1}), "winograd_weights: expected an F32 CPU weight [K, C, 3, 3], got ",
            describe(w));
  const Tensor wc = w.detach().contiguous();
  WinogradWeights out{.u = empty({detail::kWinogradPoints, w.size(0), w.size(1)}, wc.options()),
                      .k = w.size(0),
                      .c = w.size(1)};
  detail::winograd_transform_weights(out.k, out.c, wc.data<float>(), out.u.data<float>());
  return out;
}

Tensor conv2d_winograd(const Tensor& x, const WinogradWeights& w, const Tensor& b, const Tensor& residual, Act act) {
  NKD_CHECK(!grad_enabled() || !any_requires_grad({x, b, residual}),
            "conv2d_winograd: inference only (no gradient); run it under NoGradGuard");
  NKD_CHECK(w.defined(), "conv2d_winograd: undefined weights");
  NKD_CHECK(x.defined() && x.dtype() == DType::F32 && !x.is_cuda() && x.ndim() == 4 && x.size(1) == w.c,
            "conv2d_winograd: expected an F32 CPU input [N, ", w.c, ", H, W], got ", describe(x));
  NKD_CHECK(!b.defined() || (b.dtype() == DType::F32 && !b.is_cuda() && b.ndim() == 1 && b.size(0) == w.k),
            "conv2d_winograd: bias ", describe(b), " does not match ", w.k, " output channels");
  const Shape out{x.size(0), w.k, x.size(2), x.size(3)};
  NKD_CHECK(!residual.defined() || (residual.dtype() == DType::F32 && !residual.is_cuda() && residual.shape() == out),
            "conv2d_winograd: residual ", describe(residual), " does not match the output ", to_string(out));
  detail::ConvGeom g{};
  g.n = x.size(0), g.c = w.c, g.h = x.size(2), g.w = x.size(3);
  g.k = w.k, g.r = 3, g.s = 3, g.p = g.h, g.q = g.w;
  g.stride_h = g.stride_w = 1, g.pad_h = g.pad_w = 1, g.dil_h = g.dil_w = 1, g.groups = 1;
  const Tensor xc = x.contiguous(), uc = w.u.contiguous();
  const Tensor bc = b.defined() ? b.contiguous() : Tensor();
  const Tensor rc = residual.defined() ? residual.contiguous() : Tensor();
  Tensor y = empty(out, x.options());
  if (y.numel() == 0) return y;
  const Tensor ws = empty({detail::winograd_workspace_elems(g)}, x.options());
  const detail::ConvEpilogue<float> ep{.bias = bc.defined() ? bc.data<float>() : nullptr,
                                       .residual = rc.defined() ? rc.data<float>() : nullptr,
                                       .act = act};
  detail::winograd_forward(g, xc.data<float>(), uc.data<float>(), ep, y.data<float>(), ws.data<float>());
  return y;
}

}  // namespace nkd::ops
