// Cross-entropy row kernel (hard or soft targets, mmcls "original" label smoothing), shared by the
// CPU loop and the CUDA kernel: value and gradient in one pass over the row.
#pragma once
#include <cmath>
#include <cstdint>

#include "losses/row_math.h"

namespace nkd::losses::math {

// One row against t_j = (1 - eps) y_j + eps / C, y = onehot(label) or the soft row; p = softmax(z):
//   loss_n          = sum_j t_j (lse(z) - z_j)      (= -sum_j t_j log p_j)
//   d loss_n / dz_j = p_j sum_k t_k - t_j           (the log-softmax backward of -t)
// Writes loss[r] and scale * gradient (scale = 1/N: the batch mean).
template <typename T>
struct CrossEntropyKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z;            // [N, C] logits
  const int64_t* label;  // [N], or null with soft labels
  const T* soft;         // [N, C], or null with index labels
  int64_t c;
  Acc eps, scale;
  Acc* loss;  // [N]
  T* g;       // [N, C], or null when no gradient is needed

  NKD_HD Acc target(int64_t r, int64_t j) const {
    const Acc y = soft ? static_cast<Acc>(soft[r * c + j]) : Acc(j == label[r] ? 1 : 0);
    return (1 - eps) * y + eps / static_cast<Acc>(c);
  }
  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    using std::exp;
    const T* zr = z + r * c;
    const Acc lse = full_lse<Acc>(tm, zr, c);
    const Acc l = tm.sum(c, [&](int64_t j) {
      const Acc t = target(r, j);
      return t != 0 ? t * (lse - static_cast<Acc>(zr[j])) : Acc(0);
    });
    const Acc tsum = tm.sum(c, [&](int64_t j) { return target(r, j); });
    if (tm.leader()) loss[r] = l;
    if (!g) return;
    tm.for_each(c, [&](int64_t j) {
      g[r * c + j] = static_cast<T>(scale * (exp(static_cast<Acc>(zr[j]) - lse) * tsum - target(r, j)));
    });
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

}  // namespace nkd::losses::math
