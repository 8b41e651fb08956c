// KD row kernel (Hinton et al.; cls_KD KDLoss), shared by the CPU loop and the CUDA kernel: the soft
// cross-entropy at temperature T against the teacher, value and student gradient in one pass.
#pragma once
#include <cmath>
#include <cstdint>

#include "losses/row_math.h"

namespace nkd::losses::math {

// q = softmax(v/T) (teacher, constant), p = softmax(z/T):
//   loss_n          = sum_j q_j (lse(z/T) - z_j/T)      (= -sum_j q_j log p_j)
//   d loss_n / dz_j = (p_j sum_k q_k - q_j) / T
// Writes loss[r] and scale * (p_j sum_k q_k - q_j); the launcher passes scale = alpha T / N and
// scales the summed loss by alpha T^2 / N, so the gradient is alpha T (p - q) / N.
template <typename T>
struct KdKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z;  // [N, C] student logits
  const T* v;  // [N, C] teacher logits
  int64_t c;
  Acc inv_t, scale;
  Acc* loss;  // [N]
  T* g;       // [N, C], or null when no gradient is needed

  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    using std::exp;
    const T *zr = z + r * c, *vr = v + r * c;
    const Acc lz = masked_lse<Acc>(tm, zr, c, inv_t), lv = masked_lse<Acc>(tm, vr, c, inv_t);
    const auto q = [&](int64_t j) { return static_cast<Acc>(exp(static_cast<Acc>(vr[j]) * inv_t - lv)); };
    const Acc l = tm.sum(c, [&](int64_t j) { return q(j) * (lz - static_cast<Acc>(zr[j]) * inv_t); });
    const Acc qsum = tm.sum(c, q);
    if (tm.leader()) loss[r] = l;
    if (!g) return;
    tm.for_each(c, [&](int64_t j) {
      const Acc p = exp(static_cast<Acc>(zr[j]) * inv_t - lz);
      g[r * c + j] = static_cast<T>(scale * (p * qsum - q(j)));
    });
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

}  // namespace nkd::losses::math
