// bf16: the bfloat16 storage type (1 sign, 8 exponent, 7 mantissa bits; the upper half of an F32),
// for DType::BF16 tensors. Arithmetic never happens in bf16: a kernel loads an element, widens it to
// compute_t<T> (float for bf16, T itself for float / double), computes, and rounds once on store.
// The conversion from float rounds to nearest, ties to even; NaN stays NaN (quiet), infinities and
// signed zeros are kept. The bit layout is that of CUDA's __nv_bfloat16 and cuDNN / cuBLAS's
// BFLOAT16 / CUDA_R_16BF, so device buffers of bf16 go to those libraries as they are. NKD_HD:
// the same conversion on the host and in kernels (no CUDA header needed).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "engine/host_device.h"

namespace nkd {

// The nearest bf16 bit pattern to f (ties to even); a NaN becomes a quiet NaN of the same sign.
NKD_HD uint16_t float_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to the even upper half
  return static_cast<uint16_t>(u >> 16);
}

NKD_HD float bf16_bits_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct alignas(2) bf16 {
  uint16_t bits;

  bf16() = default;
  // Implicit, as __nv_bfloat16's: a store of a float rounds (once).
  NKD_HD bf16(float f) : bits(float_to_bf16_bits(f)) {}
  NKD_HD bf16(double d) : bits(float_to_bf16_bits(static_cast<float>(d))) {}
  NKD_HD bf16(int v) : bits(float_to_bf16_bits(static_cast<float>(v))) {}
  NKD_HD bf16(int64_t v) : bits(float_to_bf16_bits(static_cast<float>(v))) {}
  NKD_HD bf16(uint8_t v) : bits(float_to_bf16_bits(static_cast<float>(v))) {}
  NKD_HD operator float() const { return bf16_bits_to_float(bits); }

  NKD_HD static bf16 from_bits(uint16_t b) {
    bf16 h;
    h.bits = b;
    return h;
  }
};
static_assert(sizeof(bf16) == 2 && std::is_trivially_copyable_v<bf16>);

template <typename T>
struct ComputeType {
  using type = T;
};
template <>
struct ComputeType<bf16> {
  using type = float;
};
// The type a kernel computes in for elements of type T: float for bf16, T for float / double.
template <typename T>
using compute_t = typename ComputeType<T>::type;
// True for the 16-bit storage types (the C++ side of is_half(DType), engine/dtype.h).
template <typename T>
inline constexpr bool kIsHalf = std::is_same_v<T, bf16>;

}  // namespace nkd
