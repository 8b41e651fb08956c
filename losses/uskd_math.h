// USKD row kernels (NKD_SPEC 2.2), shared by the CPU loops and the CUDA kernels: pass 1
// (math::TargetProbKernel, row_math.h, squared) gathers s_k^2, pass 2 writes the Zipf ranking
// scores, the launcher ranks each row (descending_position defines the order; UskdRankKernel on a
// GPU), pass 3 computes the three terms and the gradients on the logits z and the weak logits u.
#pragma once
#include <cmath>
#include <cstdint>

#include "losses/row_math.h"

namespace nkd::losses::math {

// Pass 2 (no gradient): score_j = w_j / (1 - sum_k w_{l_k} + 1e-6) + r_j / (1 - sum_k r_{l_k} + 1e-6)
// with w = softmax(u0) and r = softmax(z0), or log_softmax(z0) when log_r (cls_KD HEAD).
template <typename T>
struct UskdScoreKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z0;  // [N, C] statistics logits
  const T* u0;  // [N, C] statistics weak logits
  const int64_t* label;
  const T* soft;
  int64_t c;
  bool log_r;
  Acc* score;  // [N, C]

  NKD_HD Acc final_term(const T* zr, int64_t j, Acc lse) const {
    using std::exp;
    const Acc lp = static_cast<Acc>(zr[j]) - lse;
    return log_r ? lp : exp(lp);
  }
  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    using std::exp;
    const T *zr = z0 + r * c, *ur = u0 + r * c;
    const RowTargets<Acc> tg = row_targets<Acc>(tm, label, soft, r, c, 2);
    const Acc lz = full_lse<Acc>(tm, zr, c), lu = full_lse<Acc>(tm, ur, c);
    Acc wk = 0, rk = 0;
    for (int kk = 0; kk < tg.k; ++kk) {
      wk += exp(static_cast<Acc>(ur[tg.cls[kk]]) - lu);
      rk += final_term(zr, tg.cls[kk], lz);
    }
    const Acc dw = 1 - wk + Acc(1e-6), dr = 1 - rk + Acc(1e-6);
    tm.for_each(c, [&](int64_t j) {
      score[r * c + j] = exp(static_cast<Acc>(ur[j]) - lu) / dw + final_term(zr, j, lz) / dr;
    });
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

// The 0-based position of class j in a descending sort of s[0, n): ties go to the smaller index
// (a stable sort). The CPU launcher sorts; this is the definition it is tested against and the form
// a CUDA kernel can evaluate with one thread per class.
template <typename Acc>
NKD_HD int64_t descending_position(const Acc* s, int64_t n, int64_t j) {
  int64_t pos = 0;
  for (int64_t i = 0; i < n; ++i) pos += (s[i] > s[j] || (s[i] == s[j] && i < j)) ? 1 : 0;
  return pos;
}

// USKD Zipf positions on the GPU, one index per (row, class): pos[r, j] = the position of j in a
// stable descending sort of score[r, :] with NaN sorting last (the CPU's rank_rows, evaluated as a
// count: descending_position on the NaN-mapped keys). T is the logits' type, the scores are Acc.
template <typename T>
struct UskdRankKernel {
  using Acc = SoftmaxAcc<T>;
  const Acc* score;  // [N, C]
  int64_t c;
  int64_t* pos;  // [N, C]
  NKD_HD static Acc key(Acc s) { return s != s ? neg_inf<Acc>() : s; }
  NKD_HD void operator()(int64_t i) const {
    const int64_t r = i / c, j = i % c;
    const Acc* s = score + r * c;
    const Acc kj = key(s[j]);
    int64_t p = 0;
    for (int64_t q = 0; q < c; ++q) {
      const Acc kq = key(s[q]);
      p += (kq > kj || (kq == kj && q < j)) ? 1 : 0;
    }
    pos[i] = p;
  }
};

// Pass 3, one row with targets l_k (values lambda_k); p = softmax(z), w = softmax(u), shat = softmax
// over the C - K non-target logits; mean[k] = mean_N sq[., k]; pos = Zipf positions of the row:
//   p_k  = sq_k + lambda_k - mean_k (0 where lambda_k == 0), detached
//   L_t  = -sum_k p_k log p_{l_k}                 d/dz_j = alpha (p_j sum_k p_k - sum_k p_k delta_{j l_k})
//   nz_j = (1/(pos_j+1)) / sum_{i not in K} 1/(pos_i+1), detached
//   L_nt = -sum_{j not in K} nz_j log shat_j      d/dz_j = beta [j not in K] (shat_j sum_i nz_i - nz_j)
//   yt_j = 0.9 y_j + 0.1/C (y = onehot(l_0) or the soft row)
//   L_w  = -mu sum_j yt_j log w_j                  d/du_j = mu (w_j sum_i yt_i - yt_j)
//   loss = alpha L_t + beta L_nt + L_w. Writes loss[r], scale * the gradients (scale = 1/N).
template <typename T>
struct UskdKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z;  // [N, C] logits
  const T* u;  // [N, C] weak logits fc(fea_mid)
  const int64_t* label;
  const T* soft;
  int64_t c;
  int k;
  const Acc* sq;       // [N, K] from pass 1
  const Acc* mean;     // [K]
  const int64_t* pos;  // [N, C] Zipf positions from the ranking
  Acc alpha, beta, mu, scale;
  Acc* loss;  // [N]
  T* gz;      // [N, C], or null when no gradient is needed
  T* gu;      // [N, C], or null

  NKD_HD bool is_target(const RowTargets<Acc>& tg, int64_t j) const { return j == tg.cls[0] || j == tg.cls[1]; }

  template <typename Team>
  NKD_HD Acc target_term(const Team& tm, int64_t r, const RowTargets<Acc>& tg) const {
    using std::exp;
    const T* zr = z + r * c;
    const Acc lse = full_lse<Acc>(tm, zr, c);
    Acc pk[2] = {0, 0}, psum = 0, l = 0;
    for (int kk = 0; kk < k; ++kk) {
      pk[kk] = tg.value[kk] == 0 ? Acc(0) : sq[r * k + kk] + tg.value[kk] - mean[kk];
      l += pk[kk] * (lse - static_cast<Acc>(zr[tg.cls[kk]]));
      psum += pk[kk];
    }
    if (gz)
      tm.for_each(c, [&](int64_t j) {
        Acc d = exp(static_cast<Acc>(zr[j]) - lse) * psum;
        for (int kk = 0; kk < k; ++kk) d -= j == tg.cls[kk] ? pk[kk] : Acc(0);
        gz[r * c + j] = static_cast<T>(scale * alpha * d);
      });
    return l;
  }

  // Adds to the gradient target_term wrote: column j is the same thread's in both for_each.
  template <typename Team>
  NKD_HD Acc non_target_term(const Team& tm, int64_t r, const RowTargets<Acc>& tg) const {
    using std::exp;
    const T* zr = z + r * c;
    const int64_t* pr = pos + r * c;
    const Acc lse = masked_lse<Acc>(tm, zr, c, Acc(1), tg.cls[0], tg.cls[1]);
    const Acc zsum =
        tm.sum(c, [&](int64_t j) { return is_target(tg, j) ? Acc(0) : Acc(1) / static_cast<Acc>(pr[j] + 1); });
    const auto nz = [&](int64_t j) { return is_target(tg, j) ? Acc(0) : Acc(1) / static_cast<Acc>(pr[j] + 1) / zsum; };
    const Acc l =
        tm.sum(c, [&](int64_t j) { return is_target(tg, j) ? Acc(0) : nz(j) * (lse - static_cast<Acc>(zr[j])); });
    const Acc nzsum = tm.sum(c, nz);
    if (gz)
      tm.for_each(c, [&](int64_t j) {
        if (is_target(tg, j)) return;
        const Acc d = exp(static_cast<Acc>(zr[j]) - lse) * nzsum - nz(j);
        gz[r * c + j] = static_cast<T>(static_cast<Acc>(gz[r * c + j]) + scale * beta * d);
      });
    return l;
  }

  NKD_HD Acc weak_target(int64_t r, const RowTargets<Acc>& tg, int64_t j) const {
    const Acc y = soft ? static_cast<Acc>(soft[r * c + j]) : Acc(j == tg.cls[0] ? 1 : 0);
    return Acc(0.9) * y + Acc(0.1) / static_cast<Acc>(c);
  }

  template <typename Team>
  NKD_HD Acc weak_term(const Team& tm, int64_t r, const RowTargets<Acc>& tg) const {
    using std::exp;
    const T* ur = u + r * c;
    const Acc lse = full_lse<Acc>(tm, ur, c);
    const Acc l = tm.sum(c, [&](int64_t j) { return weak_target(r, tg, j) * (lse - static_cast<Acc>(ur[j])); });
    const Acc ysum = tm.sum(c, [&](int64_t j) { return weak_target(r, tg, j); });
    if (gu)
      tm.for_each(c, [&](int64_t j) {
        gu[r * c + j] =
            static_cast<T>(scale * mu * (exp(static_cast<Acc>(ur[j]) - lse) * ysum - weak_target(r, tg, j)));
      });
    return mu * l;
  }

  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    const RowTargets<Acc> tg = row_targets<Acc>(tm, label, soft, r, c, 2);
    const Acc lt = target_term(tm, r, tg);  // writes gz first; the non-target term adds to it
    const Acc lnt = non_target_term(tm, r, tg);
    const Acc lw = weak_term(tm, r, tg);
    if (tm.leader()) loss[r] = alpha * lt + beta * lnt + lw;
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

}  // namespace nkd::losses::math
