// Per-element update rules of the optimizers, shared by the CPU loop and the CUDA kernels
// (engine/optim/optim_cuda.cu): the GPU runs these very functors, so an update is bit for bit the
// CPU's. All state is F32/F64 like the parameter; hyper-parameters arrive as doubles.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "engine/host_device.h"

namespace nkd::optim {

// a * b rounded on its own, in device code too: nvcc would otherwise contract a * b + c into one
// FMA (one rounding), which differs from the CPU's two roundings in the last bit.
template <typename T>
NKD_HD T mul_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) return __fmul_rn(a, b);
  else return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// SGD as torch.optim.SGD (dampening 0): d = g + wd*p; buf = m*buf + d (buf = d on the first step);
// d = nesterov ? d + m*buf : buf; p -= lr*d.
template <typename T>
struct SgdKernel {
  T* p;          // [n]
  const T* g;    // [n]
  T* buf;        // [n], unused when momentum == 0
  double lr, momentum, weight_decay;
  bool nesterov, first_step;
  NKD_HD void operator()(int64_t i) const {
    T d = g[i] + mul_rn(static_cast<T>(weight_decay), p[i]);
    if (momentum != 0) {
      const T b = first_step ? d : mul_rn(static_cast<T>(momentum), buf[i]) + d;
      buf[i] = b;
      d = nesterov ? d + mul_rn(static_cast<T>(momentum), b) : b;
    }
    p[i] -= mul_rn(static_cast<T>(lr), d);
  }
};

// AdamW as torch.optim.AdamW: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
template <typename T>
struct AdamWKernel {
  T* p;        // [n]
  const T* g;  // [n]
  T* m;        // [n]
  T* v;        // [n]
  double lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2;
  NKD_HD void operator()(int64_t i) const {
    using std::sqrt;
    p[i] *= static_cast<T>(1 - mul_rn(lr, weight_decay));
    m[i] = mul_rn(static_cast<T>(beta1), m[i]) + mul_rn(static_cast<T>(1 - beta1), g[i]);
    v[i] = mul_rn(static_cast<T>(beta2), v[i]) + mul_rn(mul_rn(static_cast<T>(1 - beta2), g[i]), g[i]);
    const T denom = static_cast<T>(sqrt(static_cast<double>(v[i]) / bias_correction2) + eps);
    p[i] -= mul_rn(static_cast<T>(lr / bias_correction1), m[i]) / denom;
  }
};

// clip_grad_norm's factor max_norm / (norm + 1e-6); gradients are scaled only when it is < 1.
NKD_HD double clip_factor(double norm, double max_norm) { return max_norm / (norm + 1e-6); }

// g[i] *= factor when factor < 1 (as ops::mul_ does it: g * T(factor)); factor is read on the
// device (norm_factor = {norm, factor}), so clipping needs no host synchronisation.
template <typename T>
struct ClipScaleKernel {
  T* g;                       // [n]
  const double* norm_factor;  // [2]
  NKD_HD void operator()(int64_t i) const {
    if (norm_factor[1] < 1.0) g[i] = g[i] * static_cast<T>(norm_factor[1]);
  }
};

}  // namespace nkd::optim
