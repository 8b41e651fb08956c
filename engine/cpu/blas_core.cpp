#include "engine/cpu/blas_core.h"

#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <strings.h>

namespace nkd::cpu {
namespace {

// Looked up at run time: only OpenBLAS has them (and the re-initialisation only DYNAMIC_ARCH
// builds), so nkd still links against any CBLAS.
template <typename Fn>
Fn blas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

// Kernel sets with AVX2 + FMA SGEMM kernels or better: kept as OpenBLAS chose them.
bool is_modern_core(const std::string& core) {
  static constexpr std::array<const char*, 10> kModern = {
      "Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids",
      "Excavator", "Steamroller", "Piledriver", "Neoversen1", "Neoversev1"};
  for (const char* m : kModern)
    if (strcasecmp(core.c_str(), m) == 0) return true;
  return false;
}

const char* best_core_for_this_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

std::string upgrade() {
  const std::string before = blas_core();
  if (before.empty() || is_modern_core(before) || std::getenv("OPENBLAS_CORETYPE") != nullptr)
    return before;
  const char* target = best_core_for_this_cpu();
  auto quit = blas_symbol<void (*)()>("gotoblas_dynamic_quit");
  auto init = blas_symbol<void (*)()>("gotoblas_dynamic_init");
  if (target == nullptr || quit == nullptr || init == nullptr) return before;
  setenv("OPENBLAS_CORETYPE", target, 1);
  quit();
  init();
  const std::string after = blas_core();
  return after == before ? before : before + " -> " + after;
}

}  // namespace

std::string blas_core() {
  auto name = blas_symbol<char* (*)()>("openblas_get_corename");
  const char* core = name != nullptr ? name() : nullptr;
  return core != nullptr ? std::string(core) : std::string();
}

const std::string& upgrade_blas_core() {
  static const std::string what = upgrade();
  return what;
}

}  // namespace nkd::cpu
