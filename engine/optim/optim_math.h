// Per-element update rules of the optimizers, shared by the CPU loop and the CUDA kernel.
// All state is F32/F64 like the parameter; hyper-parameters arrive as doubles.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace nkd::optim {

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
    T d = g[i] + static_cast<T>(weight_decay) * p[i];
    if (momentum != 0) {
      const T b = first_step ? d : static_cast<T>(momentum) * buf[i] + d;
      buf[i] = b;
      d = nesterov ? d + static_cast<T>(momentum) * b : b;
    }
    p[i] -= static_cast<T>(lr) * d;
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
    p[i] *= static_cast<T>(1 - lr * weight_decay);
    m[i] = static_cast<T>(beta1) * m[i] + static_cast<T>(1 - beta1) * g[i];
    v[i] = static_cast<T>(beta2) * v[i] + static_cast<T>(1 - beta2) * g[i] * g[i];
    const T denom = static_cast<T>(sqrt(static_cast<double>(v[i]) / bias_correction2) + eps);
    p[i] -= static_cast<T>(lr / bias_correction1) * m[i] / denom;
  }
};

}  // namespace nkd::optim
