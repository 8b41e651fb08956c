// Batch norm's per-channel scalar formulas, shared by the CPU kernels (norm.cpp) and the CUDA ones
// (batch_norm_cuda.cu) so both compute the same expressions in the same order, in double.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace nkd::ops::bn {

// y = x * scale + shift with scale = weight * invstd and shift = bias - mean * scale.
struct Affine {
  double scale, shift;
};

NKD_HD double invstd(double var, double eps) { return 1.0 / ::sqrt(var + eps); }

// w, b: the channel's weight and bias, or null (no affine: weight 1, bias 0).
template <typename T>
NKD_HD Affine affine(double mean, double is, const T* w, const T* b, int64_t c) {
  const double scale = w ? w[c] * is : is;
  return {scale, (b ? double(b[c]) : 0.0) - mean * scale};
}

// running = (1 - momentum) * running + momentum * batch; running_var takes the unbiased variance
// var * unbias with unbias = M / (M - 1).
NKD_HD double running_mean(double old, double mean, double momentum) {
  return (1 - momentum) * old + momentum * mean;
}
NKD_HD double running_var(double old, double var, double unbias, double momentum) {
  return (1 - momentum) * old + momentum * var * unbias;
}

NKD_HD double apply(double x, const Affine& a) { return x * a.scale + a.shift; }

// Backward of one element, with k = weight * invstd, a = sum(g) / M and bx = sum(g * xhat) / M in
// training (a = bx = 0 in inference): gx = k * (g - a - xhat * bx), xhat = (x - mean) * invstd.
NKD_HD double grad_x(double g, double x, double mean, double is, double k, double a, double bx) {
  return k * (g - a - (x - mean) * is * bx);
}

}  // namespace nkd::ops::bn
