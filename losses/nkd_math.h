// NKD row kernel (NKD_SPEC 1.2 and 1.5), shared by the CPU loop and the CUDA kernel: the target term
// weighted by the detached teacher probability and the non-target term over the C - 1 renormalised
// classes at temperature T, value and student gradient in one pass.
#pragma once
#include <cmath>
#include <cstdint>

#include "losses/row_math.h"

namespace nkd::losses::math {

// One row with target t; p = softmax(z), q = softmax(v) at T = 1 (q_t is a constant); phat, qhat =
// softmax(z/T), softmax(v/T) over the C - 1 columns j != t (column t removed, order kept):
//   loss_n          = -q_t log p_t - gamma T^2 sum_{j != t} qhat_j log phat_j
//   d loss_n / dz_j = q_t (p_j - delta_jt) + [j != t] gamma T (phat_j sum_k qhat_k - qhat_j)
// (NKD_SPEC 1.5 has sum_k qhat_k = 1; the computed sum is kept so the gradient is that of the value.)
// Writes loss[r] and scale * gradient (scale = 1/N).
template <typename T>
struct NkdKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z;            // [N, C] student logits
  const T* v;            // [N, C] teacher logits
  const int64_t* label;  // [N], or null with soft labels (argmax)
  const T* soft;         // [N, C], or null with index labels
  int64_t c;
  Acc inv_t, gamma_t2, scale;  // 1/T, gamma T^2, 1/N
  Acc* loss;                   // [N]
  T* g;                        // [N, C], or null when no gradient is needed

  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    using std::exp;
    const T *zr = z + r * c, *vr = v + r * c;
    const int64_t t = row_targets<Acc>(tm, label, soft, r, c, 1).cls[0];
    const Acc lse_z = full_lse<Acc>(tm, zr, c);
    const Acc q_t = exp(static_cast<Acc>(vr[t]) - full_lse<Acc>(tm, vr, c));
    const Acc lz = masked_lse<Acc>(tm, zr, c, inv_t, t), lv = masked_lse<Acc>(tm, vr, c, inv_t, t);
    // qhat_j off the target; 0 at j == t (which the sums then add as +0, as if skipped)
    const auto qh = [&](int64_t j) {
      return j == t ? Acc(0) : static_cast<Acc>(exp(static_cast<Acc>(vr[j]) * inv_t - lv));
    };
    const Acc nt = tm.sum(c, [&](int64_t j) {
      return j == t ? Acc(0) : qh(j) * (lz - static_cast<Acc>(zr[j]) * inv_t);
    });
    const Acc qsum = tm.sum(c, qh);
    if (tm.leader()) loss[r] = q_t * (lse_z - static_cast<Acc>(zr[t])) + gamma_t2 * nt;
    if (!g) return;
    tm.for_each(c, [&](int64_t j) {
      const Acc zj = static_cast<Acc>(zr[j]);
      Acc d = q_t * (exp(zj - lse_z) - (j == t ? 1 : 0));
      if (j != t)
        d += gamma_t2 * inv_t * (exp(zj * inv_t - lz) * qsum - exp(static_cast<Acc>(vr[j]) * inv_t - lv));
      g[r * c + j] = static_cast<T>(scale * d);
    });
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

}  // namespace nkd::losses::math
