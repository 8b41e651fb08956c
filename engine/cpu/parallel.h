// CPU parallel loops. fn(begin, end) runs on disjoint chunks of [0, n); chunking never changes
// results (each index is written by exactly one chunk), so outputs do not depend on thread count.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nkd::cpu {

inline constexpr int64_t kGrain = 32768;  // elements below which a loop stays on one thread

// The threads a parallel region may use (1 without OpenMP).
inline int64_t max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  if (threads > 1 && n > grain && !omp_in_parallel()) {
    const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
      fn(begin, end);
    }
    return;
  }
#endif
  fn(int64_t{0}, n);
}

// Runs f(i) for every i in [0, n): the CPU launcher of an NKD_HD kernel functor.
template <typename F>
void launch(int64_t n, const F& f, int64_t grain = kGrain) {
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    const F local = f;  // a copy the stores cannot alias, so its pointers stay in registers (vectorizes)
    for (int64_t i = b; i < e; ++i) local(i);
  });
}

}  // namespace nkd::cpu
