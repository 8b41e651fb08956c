// The CPU helpers batch norm and layer norm share (norm.cpp): the [N, C, L] view, fixed-order
// double sums, and a channel's two-pass moments.
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/cpu/parallel.h"
#include "engine/tensor.h"

namespace nkd::ops::detail {

// x as [N, C, L]: channel c is N runs of L contiguous elements starting at (n C + c) L.
struct NCL {
  int64_t N = 0, C = 0, L = 1;
  int64_t count() const { return N * L; }
  int64_t grain() const { return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, N * L)); }
};

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <typename T>
T* mut_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Sums over i < n of f(i) = {a_i, b_i}, each in double with four interleaved partial sums: the
// adds no longer wait on one another (a 4-deep chain instead of n), and the order is fixed, so
// results do not depend on thread count.
struct Sums {
  double a = 0, b = 0;
};
template <typename F>
[[gnu::always_inline]] inline Sums sums_of(int64_t n, F f) {
  double a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int k = 0; k < 4; ++k) {
      const Sums e = f(i + k);
      a[k] += e.a;
      b[k] += e.b;
    }
  }
  for (; i < n; ++i) {
    const Sums e = f(i);
    a[0] += e.a;
    b[0] += e.b;
  }
  return {(a[0] + a[1]) + (a[2] + a[3]), (b[0] + b[1]) + (b[2] + b[3])};
}

// Mean and biased variance of channel c (two passes: mean, then squared deviations).
template <typename T>
[[gnu::always_inline]] inline void channel_moments(const T* x, const NCL& s, int64_t c, double& mean, double& var) {
  double sum = 0, sq = 0;
  for (int64_t n = 0; n < s.N; ++n) {
    const T* p = x + (n * s.C + c) * s.L;
    sum += sums_of(s.L, [p](int64_t l) { return Sums{double(p[l]), 0.0}; }).a;
  }
  mean = sum / static_cast<double>(s.count());
  for (int64_t n = 0; n < s.N; ++n) {
    const T* p = x + (n * s.C + c) * s.L;
    const double m = mean;
    sq += sums_of(s.L, [p, m](int64_t l) {
            const double d = double(p[l]) - m;
            return Sums{d * d, 0.0};
          }).a;
  }
  var = sq / static_cast<double>(s.count());
}

}  // namespace nkd::ops::detail
