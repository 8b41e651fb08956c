// The elementwise family's functor header: the scalar formulas of the pointwise ops and their
// derivatives (unary functors: fwd(x) -> y and bwd(g, x, y) -> dL/dx; `s` is an optional scalar
// argument, the factor of mul_scalar or the addend of add_scalar; kNeedsX / kNeedsY say which of x
// and y the backward reads, so only those are saved), the lists of them that the GPU build
// instantiates, and the kernel functors that run them on either device (nkd::launch_vec).
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/bf16.h"
#include "engine/host_device.h"
#include "engine/pack.h"

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

// Every functor above with the name of its op, X(Functor, op_name, ...): elementwise_cuda.cu builds
// each for the GPU for every type of NKD_ALL_FLOAT_TYPES, and the op-table coverage test
// (tests/engine/test_op_table.cpp) requires a case for every op_name. A new op adds its functor
// above and its entry here (a functor missing here is a link error of the CUDA build).
#define NKD_ELEMENTWISE_UNARY_OPS(X, ...)                                                   \
  X(Neg, neg, __VA_ARGS__) X(AddScalar, add_scalar, __VA_ARGS__)                            \
  X(MulScalar, mul_scalar, __VA_ARGS__) X(Exp, exp, __VA_ARGS__) X(Log, log, __VA_ARGS__)   \
  X(Sqrt, sqrt, __VA_ARGS__) X(PowScalar, pow, __VA_ARGS__) X(Relu, relu, __VA_ARGS__)      \
  X(Relu6, relu6, __VA_ARGS__) X(Gelu, gelu, __VA_ARGS__) X(Sigmoid, sigmoid, __VA_ARGS__)  \
  X(Tanh, tanh, __VA_ARGS__)
#define NKD_ELEMENTWISE_BINARY_OPS(X, ...)                                                  \
  X(Add, add, __VA_ARGS__) X(Sub, sub, __VA_ARGS__) X(Mul, mul, __VA_ARGS__)                \
  X(Div, div, __VA_ARGS__)

namespace nkd::ops::detail {

// The contiguous kernel functors: f(i) writes element i (the CPU loop); f.template run<V>(i) writes
// elements [i, i + V) with one Pack per operand (the GPU's 16-byte accesses: scalar loads kept too
// few bytes in flight to reach the memory bandwidth, relu ran at 0.69x PyTorch, docs/PERF.md).
// Both apply the same per-element expression, in C = compute_t<T> (float for bf16: each element is
// widened on load and rounded once on store; T itself for float and double).
template <typename Op, typename T>
struct UnaryFwdKernel {
  using C = compute_t<T>;
  Op op;
  const T* x;  // [n]
  T* y;        // [n]
  NKD_HD void operator()(int64_t i) const { y[i] = T(op.template fwd<C>(C(x[i]))); }
  template <int V>
  NKD_HD void run(int64_t i) const {
    const Pack<T, V> a = load_pack<V>(x, i);
    Pack<T, V> o;
    for_each_lane<V>([&](int k) { o.v[k] = T(op.template fwd<C>(C(a.v[k]))); });
    store_pack<V>(y, i, o);
  }
};

template <typename Op, typename T>
struct UnaryBwdKernel {
  using C = compute_t<T>;
  Op op;
  const T* g;  // [n]
  const T* x;  // [n], or null when Op does not need it (read as zeros)
  const T* y;  // [n], or null when Op does not need it (read as zeros)
  T* gx;       // [n]
  NKD_HD void operator()(int64_t i) const {
    gx[i] = T(op.template bwd<C>(C(g[i]), x ? C(x[i]) : C(0), y ? C(y[i]) : C(0)));
  }
  template <int V>
  NKD_HD void run(int64_t i) const {
    const Pack<T, V> gv = load_pack<V>(g, i), xv = load_pack<V>(x, i), yv = load_pack<V>(y, i);
    Pack<T, V> o;
    for_each_lane<V>([&](int k) { o.v[k] = T(op.template bwd<C>(C(gv.v[k]), C(xv.v[k]), C(yv.v[k]))); });
    store_pack<V>(gx, i, o);
  }
};

template <typename F, typename T>
struct BinaryKernel {
  using C = compute_t<T>;
  F f;
  const T* a;  // [n]
  const T* b;  // [n]
  T* out;      // [n]
  NKD_HD void operator()(int64_t i) const { out[i] = T(f(C(a[i]), C(b[i]))); }
  template <int V>
  NKD_HD void run(int64_t i) const {
    const Pack<T, V> av = load_pack<V>(a, i), bv = load_pack<V>(b, i);
    Pack<T, V> o;
    for_each_lane<V>([&](int k) { o.v[k] = T(f(C(av.v[k]), C(bv.v[k]))); });
    store_pack<V>(out, i, o);
  }
};

template <typename T>
struct AddInplaceKernel {
  using C = compute_t<T>;
  T* a;        // [n]
  const T* b;  // [n]
  NKD_HD void operator()(int64_t i) const { a[i] = T(C(a[i]) + C(b[i])); }
  template <int V>
  NKD_HD void run(int64_t i) const {
    Pack<T, V> av = load_pack<V>(static_cast<const T*>(a), i);
    const Pack<T, V> bv = load_pack<V>(b, i);
    for_each_lane<V>([&](int k) { av.v[k] = T(C(av.v[k]) + C(bv.v[k])); });
    store_pack<V>(a, i, av);
  }
};

}  // namespace nkd::ops::detail
