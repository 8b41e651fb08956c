// What the CPU running the process supports, checked once (for kernels picked at run time).
#pragma once

namespace nkd::cpu {

inline bool has_avx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

// AVX2 with FMA (Haswell, Zen and later).
inline bool has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace nkd::cpu
