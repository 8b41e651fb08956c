// The OpenBLAS kernel-set check (engine/cpu/blas_core.h): a pre-AVX2 fallback is replaced on a CPU
// with AVX2 + FMA, the products stay right after the switch, and a user's OPENBLAS_CORETYPE is kept
// (the ctest entry blas_core.user_choice runs KeepsTheUsersChoice with OPENBLAS_CORETYPE=Prescott).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/blas_core.h"

namespace nkd::cpu {
namespace {

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool is_pre_avx2_core(const std::string& core) {
  for (const char* old : {"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2",
                          "Penryn", "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron_SSE3",
                          "Barcelona", "Nano", "Sandybridge", "Bobcat", "Bulldozer"})
    if (core == old) return true;
  return false;
}

// A product big enough for OpenBLAS's blocked kernels, against a double-precision loop.
void expect_sgemm_right() {
  const int64_t m = 67, n = 131, k = 259;
  std::vector<float> a(m * k), b(k * n), c(m * n, -1.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float((i * 37) % 17) / 8.f - 1.f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float((i * 11) % 13) / 6.f - 1.f;
  gemm<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0;
      for (int64_t p = 0; p < k; ++p) ref += double(a[i * k + p]) * double(b[p * n + j]);
      ASSERT_NEAR(c[i * n + j], ref, 1e-3) << i << "," << j;
    }
}

TEST(BlasCore, ModernKernelsOnAnAvx2Cpu) {
  const std::string user = std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "";
  const std::string& what = upgrade_blas_core();
  const std::string core = blas_core();
  ASSERT_FALSE(core.empty()) << "nkd links OpenBLAS (libopenblas-dev): it names its kernels";
  std::cout << "OpenBLAS kernels: " << what << "\n";
  if (!user.empty() && what.find(" -> ") == std::string::npos) GTEST_SKIP() << "OPENBLAS_CORETYPE=" << user;
  if (!cpu_has_avx2_fma()) GTEST_SKIP() << "no AVX2 + FMA: OpenBLAS's choice (" << core << ") is kept";
  EXPECT_FALSE(is_pre_avx2_core(core)) << what;
  expect_sgemm_right();
}

TEST(BlasCore, KeepsTheUsersChoice) {
  const char* user = std::getenv("OPENBLAS_CORETYPE");
  if (user == nullptr || std::string(user) != "Prescott")
    GTEST_SKIP() << "run by the ctest entry blas_core.user_choice (OPENBLAS_CORETYPE=Prescott)";
  EXPECT_EQ(upgrade_blas_core(), "Prescott");
  EXPECT_EQ(blas_core(), "Prescott");
  expect_sgemm_right();
}

}  // namespace
}  // namespace nkd::cpu
