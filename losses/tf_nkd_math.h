// tf-NKD row kernel (NKD_SPEC 2.1, the 2022 teacher-free NKD), shared by the CPU loops and the CUDA
// kernels: pass 1 (math::TargetProbKernel, row_math.h) gathers the target probabilities y_k, the
// launcher averages them over the batch, pass 2 (here) computes each term's value and gradient with
// the detached weights.
#pragma once
#include <cmath>
#include <cstdint>

#include "losses/row_math.h"

namespace nkd::losses::math {

// Pass 2, per target k (mean[k] = mean_N y[., k]); p = softmax(z):
//   w_k = y_k + lambda_k - mean_k, and 0 where lambda_k == 0 (detached: a constant below)
//   loss_kn = -w_k log p_{l_k};   d loss_kn / dz_j = w_k (p_j - delta_{j l_k})
// Writes loss[r, k] and scale * gradient into g_k (scale = 1/N).
template <typename T>
struct TfNkdKernel {
  using Acc = SoftmaxAcc<T>;
  const T* z;  // [N, C] logits
  const int64_t* label;
  const T* soft;
  int64_t c;
  int k;
  const Acc* y;     // [N, K] from pass 1
  const Acc* mean;  // [K]
  Acc scale;
  Acc* loss;  // [N, K]
  T* g0;      // [N, C] gradient of term 0, or null when no gradient is needed
  T* g1;      // [N, C] gradient of term 1 (K = 2), or null

  template <typename Team>
  NKD_HD void row(const Team& tm, int64_t r) const {
    using std::exp;
    const T* zr = z + r * c;
    const RowTargets<Acc> tg = row_targets<Acc>(tm, label, soft, r, c, 2);
    const Acc lse = full_lse<Acc>(tm, zr, c);
    for (int kk = 0; kk < k; ++kk) {
      const int64_t l = tg.cls[kk];
      const Acc w = tg.value[kk] == 0 ? Acc(0) : y[r * k + kk] + tg.value[kk] - mean[kk];
      if (tm.leader()) loss[r * k + kk] = w * (lse - static_cast<Acc>(zr[l]));
      T* g = kk == 0 ? g0 : g1;
      if (!g) continue;
      tm.for_each(c, [&](int64_t j) {
        g[r * c + j] = static_cast<T>(scale * w * (exp(static_cast<Acc>(zr[j]) - lse) - (j == l ? 1 : 0)));
      });
    }
  }
  NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
};

}  // namespace nkd::losses::math
