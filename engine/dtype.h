// Element types, their sizes and names, and the dispatch helpers that turn a runtime DType into a
// template parameter: dispatch_float(dt, "op", [&]<typename T>() { ... }).
#pragma once
#include <cstddef>
#include <cstdint>
#include "engine/check.h"

namespace nkd {

enum class DType : int8_t { F32, F64, F16, BF16, I64, I32, U8 };

size_t size_of(DType dt);
const char* name(DType dt);
bool is_floating(DType dt);

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }

// The floating element types the ops are built for, X(C++ type, DType): the one list that every
// floating dispatch (dispatch_float) and every GPU instantiation of a floating kernel expands.
// Adding a dtype is a line here plus the kernels that need a specialisation for it.
#define NKD_FLOAT_TYPES(X) \
  X(float, F32)            \
  X(double, F64)

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

// Every dtype with a C++ element type usable in copies (no F16/BF16 arithmetic on CPU yet).
template <typename Fn>
decltype(auto) dispatch_all(DType dt, const char* op, Fn&& fn) {
  switch (dt) {
    case DType::F32: return fn.template operator()<float>();
    case DType::F64: return fn.template operator()<double>();
    case DType::I64: return fn.template operator()<int64_t>();
    case DType::I32: return fn.template operator()<int32_t>();
    case DType::U8: return fn.template operator()<uint8_t>();
    default: NKD_FAIL(op, ": dtype ", name(dt), " is not supported");
  }
}

}  // namespace nkd
