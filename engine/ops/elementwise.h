// Pointwise arithmetic. Binary ops broadcast NumPy-style; a and b must share dtype (F32 or F64)
// and device. All return new contiguous tensors and are differentiable; the in-place forms at the
// end are not recorded (used under NoGradGuard: gradient accumulation, optimizer updates).
#pragma once
#include "engine/tensor.h"

namespace nkd::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);

Tensor add(const Tensor& x, double s);
Tensor mul(const Tensor& x, double s);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);

// In place, not recorded: a += b (b broadcast to a), x *= s, x = value. Bump the version.
void add_(const Tensor& a, const Tensor& b);
void mul_(const Tensor& x, double s);
void fill_(const Tensor& x, double value);

}  // namespace nkd::ops

namespace nkd {
inline Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return ops::sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return ops::mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return ops::div(a, b); }
inline Tensor operator*(const Tensor& a, double s) { return ops::mul(a, s); }
inline Tensor operator+(const Tensor& a, double s) { return ops::add(a, s); }
inline Tensor operator-(const Tensor& a) { return ops::neg(a); }
}  // namespace nkd
