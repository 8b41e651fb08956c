// Per-element layer-norm formulas shared by the CPU loops (norm.cpp) and the CUDA kernels
// (layer_norm_cuda.cu). A row of D elements has mean m and invstd = 1 / sqrt(var + eps) (biased
// variance), all in double; w and b are the [D] weight and bias, or null when absent. T is the
// storage type of x, y, g, gx; P that of w, b (compute_t<T>: F32 for a BF16 T), and a BF16 result
// is the double rounded to F32, then to BF16: the F32 path's value rounded back.
#pragma once
#include <cstdint>

#include "engine/host_device.h"

namespace nkd::ops::math {

// xhat = (x - m) * invstd.
template <typename T>
NKD_HD double ln_xhat(T x, double m, double invstd) {
  return (static_cast<double>(x) - m) * invstd;
}

// y = xhat * w[j] + b[j].
template <typename T, typename P>
NKD_HD T ln_output(T x, double m, double invstd, const P* w, const P* b, int64_t j) {
  double e = ln_xhat(x, m, invstd);
  if (w) e *= w[j];
  if (b) e += b[j];
  return static_cast<T>(e);
}

// gh = g * w[j], the gradient reaching xhat.
template <typename T, typename P>
NKD_HD double ln_gh(T g, const P* w, int64_t j) {
  return w ? static_cast<double>(g) * static_cast<double>(w[j]) : static_cast<double>(g);
}

// gx = invstd * (gh - a - xhat * invstd * bx) with a = sum_j(gh) / D, bx = invstd * sum_j(gh (x - m)) / D.
template <typename T>
NKD_HD T ln_grad_x(double gh, T x, double m, double invstd, double a, double bx) {
  return static_cast<T>(invstd * (gh - a - (static_cast<double>(x) - m) * invstd * bx));
}

}  // namespace nkd::ops::math
