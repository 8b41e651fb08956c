// What the CPU running the process supports, checked once (for kernels picked at run time).
#pragma once

namespace nkd::cpu {

inline bool has_avx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

}  // namespace nkd::cpu
