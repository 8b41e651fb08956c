// Deterministic inputs for the loss tests: logits, index labels, Mixup-style soft labels (two classes
// with distinct weights, or one class with weight 1 so the second top-2 value is 0), and a leaf helper.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/factory.h"
#include "engine/random.h"

namespace nkd::testing {

// N(0, scale^2) logits [n, c] as a leaf; requires_grad when `grad`.
inline Tensor logits_for(int64_t n, int64_t c, uint64_t seed, double scale = 2.0, DType dt = DType::F64,
                         bool grad = true) {
  Generator gen(seed, 17);
  Tensor x = randn({n, c}, gen, {DType::F64, kCPU});
  std::vector<double> v = to_vector<double>(x);
  for (double& e : v) e *= scale;
  Tensor t = from_vector(v, {n, c}).to(dt);
  if (grad) t.set_requires_grad(true);
  return t;
}

inline Tensor leaf_from(const std::vector<double>& v, const Shape& shape, bool grad = true) {
  Tensor t = from_vector(v, shape);
  if (grad) t.set_requires_grad(true);
  return t;
}

// Class indices [n] in [0, c).
inline Tensor index_labels(int64_t n, int64_t c, uint64_t seed) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<int64_t>(random_uniform(seed, 23, static_cast<uint64_t>(i)) * static_cast<double>(c)) % c;
  return from_vector(v, {n});
}

// Mixup rows lambda onehot(a) + (1 - lambda) onehot(b), a != b, lambda in [0.55, 0.95] (no ties in the
// top 2). Rows listed in `one_hot_rows` are onehot(a) instead (top-2 value 0 for the second class).
inline Tensor soft_labels(int64_t n, int64_t c, uint64_t seed, const std::vector<int64_t>& one_hot_rows = {},
                          DType dt = DType::F64) {
  std::vector<double> v(n * c, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const auto u = [&](uint64_t k) { return random_uniform(seed, 29, static_cast<uint64_t>(i * 3) + k); };
    const int64_t a = static_cast<int64_t>(u(0) * static_cast<double>(c)) % c;
    const int64_t b = (a + 1 + static_cast<int64_t>(u(1) * static_cast<double>(c - 1)) % (c - 1)) % c;
    const double lam = 0.55 + 0.4 * u(2);
    bool one_hot = false;
    for (int64_t r : one_hot_rows) one_hot = one_hot || r == i;
    v[i * c + a] = one_hot ? 1.0 : lam;
    if (!one_hot) v[i * c + b] = 1.0 - lam;
  }
  return from_vector(v, {n, c}).to(dt);
}

}  // namespace nkd::testing
