// DKD row kernel (NKD_SPEC 3, Decoupled KD without warm-up), shared by the CPU loop and the CUDA
// kernel: the target/non-target binary KL and the non-target KL at temperature T, value and student
// gradient in one pass. The teacher is a constant.
#pragma once
#include <cmath>
#include <cstdint>

#include "losses/row_math.h"

namespace nkd::losses::math {

// One row with target t at temperature T; P = softmax(z/T), b = (b_t, b_n) = (P_t, sum_{j != t} P_j),
// c = (c_t, c_n) the same pair of the teacher; P', Q' = softmax(z/T - 1000 onehot_t), softmax(v/T -
// 1000 onehot_t) (the reference's masking: the target is suppressed, not removed); Phat_j = P_j / b_n:
//   loss_n = alpha KL(c || b) + beta KL(Q' || P')   (the launcher scales the sum by T^2 / N)
//   d KL(c || b) / dz_j  = ((c_t + c_n) P_j - c_t delta_jt - c_n [j != t] Phat_j) / T
//   d KL(Q' || P') / dz_j = (P'_j sum_k Q'_k - Q'_j) / T
// log b_n = lse_{j != t}(z/T) - lse(z/T) is computed without forming b_n (finite when b_n underflows).
// Writes loss[r] and scale * T * (the bracketed sums) with scale = T / N, i.e. T^2 / N * d loss_n / dz.
template <typename T>
struct DkdKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z;            // [N, C] student logits
  const T* v;            // [N, C] teacher logits
  const int64_t* label;  // [N]
  int64_t c;
  Acc inv_t, alpha, beta, scale;
  Acc* loss;  // [N]
  T* g;       // [N, C], or null when no gradient is needed

  // x_j / T, with the target logit lowered by 1000 (the NCKD masking), and its log-sum-exp.
  NKD_HD Acc shifted(const T* x, int64_t j, int64_t t) const {
    return static_cast<Acc>(x[j]) * inv_t - (j == t ? 1000 : 0);
  }
  template <typename Team>
  NKD_HD Acc shifted_lse(const Team& tm, const T* x, int64_t t) const {
    return lse_of<Acc>(tm, c, [=, this](int64_t j) { return shifted(x, j, t); });
  }

  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    using std::exp;
    const T *zr = z + r * c, *vr = v + r * c;
    const int64_t t = label[r];
    const Acc lz = masked_lse<Acc>(tm, zr, c, inv_t), lz_n = masked_lse<Acc>(tm, zr, c, inv_t, t);
    const Acc lv = masked_lse<Acc>(tm, vr, c, inv_t), lv_n = masked_lse<Acc>(tm, vr, c, inv_t, t);
    const Acc log_bt = static_cast<Acc>(zr[t]) * inv_t - lz, log_bn = lz_n - lz;
    const Acc log_ct = static_cast<Acc>(vr[t]) * inv_t - lv, log_cn = lv_n - lv;
    const Acc ct = exp(log_ct), cn = exp(log_cn);
    const Acc tckd = ct * (log_ct - log_bt) + cn * (log_cn - log_bn);
    const Acc lz2 = shifted_lse(tm, zr, t), lv2 = shifted_lse(tm, vr, t);
    const auto log_q = [&](int64_t j) { return shifted(vr, j, t) - lv2; };
    const Acc nckd = tm.sum(c, [&](int64_t j) {
      const Acc lq = log_q(j);
      return static_cast<Acc>(exp(lq)) * (lq - (shifted(zr, j, t) - lz2));
    });
    const Acc qsum = tm.sum(c, [&](int64_t j) { return static_cast<Acc>(exp(log_q(j))); });
    if (tm.leader()) loss[r] = alpha * tckd + beta * nckd;
    if (!g) return;
    tm.for_each(c, [&](int64_t j) {
      const Acc zj = static_cast<Acc>(zr[j]) * inv_t;
      const Acc dt = (ct + cn) * exp(zj - lz) - (j == t ? ct : cn * exp(zj - lz_n));
      const Acc dn = exp(shifted(zr, j, t) - lz2) * qsum - exp(shifted(vr, j, t) - lv2);
      g[r * c + j] = static_cast<T>(scale * (alpha * dt + beta * dn));
    });
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

}  // namespace nkd::losses::math
