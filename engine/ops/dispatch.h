// Device checks and dtype dispatch shared by every op: common_device / require_cpu /
// require_dtype, and dispatch_float / dispatch_all, which turn a runtime DType into a template
// parameter (dispatch_float(dt, "op", [&]<typename T>() { ... })) over the lists of engine/dtype.h.
// An op without a BF16 kernel runs a BF16 call on F32 copies and rounds its result back:
//   if (is_half(x.dtype())) return op(x.to(DType::F32)).to(x.dtype());
// (F32 arithmetic, one rounding on store; autograd records the two conversions). An op with a
// native BF16 kernel (dispatch_any_float; batch norm, batch_norm_act, layer norm, the pools) must
// give exactly that result: BF16 in memory, parameters and statistics in compute_dtype (F32), the
// F32 path's arithmetic, one rounding per stored BF16 value (tests/engine/test_bf16_native.cpp).
#pragma once
#include <initializer_list>

#include "engine/tensor.h"

namespace nkd::ops {

// All defined tensors must live on the same device; returns that device.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws "op: not implemented for cuda:0 tensors yet" for a non-CPU tensor.
void require_cpu(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws unless every defined tensor has dtype `dt`.
void require_dtype(const char* op, DType dt, std::initializer_list<const Tensor*> tensors);

}  // namespace nkd::ops

namespace nkd {

#define NKD_DISPATCH_CASE(T, D) \
  case DType::D: return fn.template operator()<T>();

// Calls fn.template operator()<T>() for T in NKD_FLOAT_TYPES.
template <typename Fn>
decltype(auto) dispatch_float(DType dt, const char* op, Fn&& fn) {
  switch (dt) {
    NKD_FLOAT_TYPES(NKD_DISPATCH_CASE)
    default: NKD_FAIL(op, ": dtype ", name(dt), " is not supported (expected F32 or F64)");
  }
}

// Calls fn.template operator()<T>() for T in NKD_ALL_FLOAT_TYPES (F32, F64 and the 16-bit storage
// types: the kernel computes in compute_t<T>, engine/bf16.h).
template <typename Fn>
decltype(auto) dispatch_any_float(DType dt, const char* op, Fn&& fn) {
  switch (dt) {
    NKD_ALL_FLOAT_TYPES(NKD_DISPATCH_CASE)
    default: NKD_FAIL(op, ": dtype ", name(dt), " is not supported (expected F32, F64 or BF16)");
  }
}

// Every dtype with a C++ element type usable in copies and data moves: NKD_ALL_FLOAT_TYPES and
// NKD_INT_TYPES.
template <typename Fn>
decltype(auto) dispatch_all(DType dt, const char* op, Fn&& fn) {
  switch (dt) {
    NKD_ALL_FLOAT_TYPES(NKD_DISPATCH_CASE)
    NKD_INT_TYPES(NKD_DISPATCH_CASE)
    default: NKD_FAIL(op, ": dtype ", name(dt), " is not supported");
  }
}

#undef NKD_DISPATCH_CASE

// The dtype a kernel computes in for dt, and that of a 16-bit op's parameters and statistics (master
// weights): F32 for the 16-bit types, dt itself otherwise (the runtime side of compute_t<T>).
constexpr DType compute_dtype(DType dt) { return is_half(dt) ? DType::F32 : dt; }

}  // namespace nkd
