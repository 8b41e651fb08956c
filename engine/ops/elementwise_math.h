// Scalar formulas of the pointwise ops and their derivatives, shared by the CPU loops and the
// CUDA kernels. Unary functors: fwd(x) -> y and bwd(g, x, y) -> dL/dx; `s` is an optional scalar
// argument (the factor of mul_scalar, the addend of add_scalar). kNeedsX / kNeedsY say which of
// x and y the backward reads, so only those are saved.
#pragma once
#include <cmath>

#include "engine/host_device.h"

namespace nkd::ops::math {

using std::erf;
using std::exp;
using std::log;
using std::pow;
using std::sqrt;
using std::tanh;

struct Neg {
  static constexpr bool kNeedsX = false, kNeedsY = false;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return -x; }
  template <typename T> NKD_HD T bwd(T g, T, T) const { return -g; }
};
struct AddScalar {
  static constexpr bool kNeedsX = false, kNeedsY = false;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return x + static_cast<T>(s); }
  template <typename T> NKD_HD T bwd(T g, T, T) const { return g; }
};
struct MulScalar {
  static constexpr bool kNeedsX = false, kNeedsY = false;
  double s = 1;
  template <typename T> NKD_HD T fwd(T x) const { return x * static_cast<T>(s); }
  template <typename T> NKD_HD T bwd(T g, T, T) const { return g * static_cast<T>(s); }
};
struct Exp {
  static constexpr bool kNeedsX = false, kNeedsY = true;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return exp(x); }
  template <typename T> NKD_HD T bwd(T g, T, T y) const { return g * y; }
};
struct Log {
  static constexpr bool kNeedsX = true, kNeedsY = false;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return log(x); }
  template <typename T> NKD_HD T bwd(T g, T x, T) const { return g / x; }
};
struct Sqrt {
  static constexpr bool kNeedsX = false, kNeedsY = true;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return sqrt(x); }
  template <typename T> NKD_HD T bwd(T g, T, T y) const { return g * T(0.5) / y; }
};
// x^s for a constant exponent s.
struct PowScalar {
  static constexpr bool kNeedsX = true, kNeedsY = false;
  double s = 2;
  template <typename T> NKD_HD T fwd(T x) const { return pow(x, static_cast<T>(s)); }
  template <typename T> NKD_HD T bwd(T g, T x, T) const {
    return g * static_cast<T>(s) * pow(x, static_cast<T>(s - 1));
  }
};
struct Relu {
  static constexpr bool kNeedsX = true, kNeedsY = false;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return x > T(0) ? x : T(0); }
  template <typename T> NKD_HD T bwd(T g, T x, T) const { return x > T(0) ? g : T(0); }
};
struct Relu6 {
  static constexpr bool kNeedsX = true, kNeedsY = false;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return x < T(0) ? T(0) : (x > T(6) ? T(6) : x); }
  template <typename T> NKD_HD T bwd(T g, T x, T) const { return x > T(0) && x < T(6) ? g : T(0); }
};
// GELU, exact (erf) form: x * Phi(x); d/dx = Phi(x) + x * phi(x).
struct Gelu {
  static constexpr bool kNeedsX = true, kNeedsY = false;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const {
    return T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752440)));
  }
  template <typename T> NKD_HD T bwd(T g, T x, T) const {
    const T cdf = T(0.5) * (T(1) + erf(x * T(0.70710678118654752440)));
    const T pdf = T(0.39894228040143267794) * exp(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};
// Sigmoid, computed without overflow for large |x|; d/dx = y (1 - y).
struct Sigmoid {
  static constexpr bool kNeedsX = false, kNeedsY = true;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const {
    if (x >= T(0)) return T(1) / (T(1) + exp(-x));
    const T e = exp(x);
    return e / (T(1) + e);
  }
  template <typename T> NKD_HD T bwd(T g, T, T y) const { return g * y * (T(1) - y); }
};
struct Tanh {
  static constexpr bool kNeedsX = false, kNeedsY = true;
  double s = 0;
  template <typename T> NKD_HD T fwd(T x) const { return tanh(x); }
  template <typename T> NKD_HD T bwd(T g, T, T y) const { return g * (T(1) - y * y); }
};

// Binary functors: fwd(a, b).
struct Add { template <typename T> NKD_HD T operator()(T a, T b) const { return a + b; } };
struct Sub { template <typename T> NKD_HD T operator()(T a, T b) const { return a - b; } };
struct Mul { template <typename T> NKD_HD T operator()(T a, T b) const { return a * b; } };
struct Div { template <typename T> NKD_HD T operator()(T a, T b) const { return a / b; } };

}  // namespace nkd::ops::math
