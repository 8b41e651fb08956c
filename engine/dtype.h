// Element types, their sizes and names, and the lists of C++ element types (NKD_FLOAT_TYPES,
// NKD_HALF_TYPES, NKD_ALL_FLOAT_TYPES, NKD_INT_TYPES) that the dispatch helpers
// (engine/ops/dispatch.h) and every GPU instantiation expand.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/bf16.h"
#include "engine/check.h"

namespace nkd {

enum class DType : int8_t { F32, F64, F16, BF16, I64, I32, U8 };

size_t size_of(DType dt);
const char* name(DType dt);
bool is_floating(DType dt);
// F16 or BF16: a 16-bit storage type (no arithmetic in it; see NKD_HALF_TYPES).
constexpr bool is_half(DType dt) { return dt == DType::F16 || dt == DType::BF16; }

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }
template <> constexpr DType dtype_of<bf16>() { return DType::BF16; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }

// The floating element types the ops are built for, X(C++ type, DType): the one list that every
// floating dispatch (dispatch_float) and every GPU instantiation of a floating kernel expands.
// Adding a dtype is a line here plus the kernels that need a specialisation for it.
// F32 and F64 are the arithmetic types: losses, optimizers (master weights) and the ops without a
// 16-bit kernel run only in them (dispatch_float).
#define NKD_FLOAT_TYPES(X) \
  X(float, F32)            \
  X(double, F64)
// The 16-bit floating storage types: elements are widened to compute_t<T> (float) in registers and
// rounded once on store (engine/bf16.h). An op handles them natively when it dispatches with
// dispatch_any_float (NKD_ALL_FLOAT_TYPES); the others run on F32 copies (ops::run_in_f32).
#define NKD_HALF_TYPES(X) X(::nkd::bf16, BF16)
#define NKD_ALL_FLOAT_TYPES(X) NKD_FLOAT_TYPES(X) NKD_HALF_TYPES(X)
// The integer element types, which copies, fills and the data-moving shape kernels also handle.
// The floating types as a type list: TypeList<float, double> (template code that holds one
// container per type, e.g. the optimizer's per-dtype launch lists).
template <typename... Ts>
struct TypeList {};
namespace detail {
template <typename L>
struct DropFirst;
template <typename T0, typename... Ts>
struct DropFirst<TypeList<T0, Ts...>> {
  using type = TypeList<Ts...>;
};
}  // namespace detail
#define NKD_TYPE_LIST_ENTRY(T, D) , T
using FloatTypes = detail::DropFirst<TypeList<void NKD_FLOAT_TYPES(NKD_TYPE_LIST_ENTRY)>>::type;
#undef NKD_TYPE_LIST_ENTRY

#define NKD_INT_TYPES(X) \
  X(int64_t, I64)        \
  X(int32_t, I32)        \
  X(uint8_t, U8)


}  // namespace nkd
