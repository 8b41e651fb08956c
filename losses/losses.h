// The classification and distillation losses of NKD_SPEC.md (sections 1-3): each takes logits
// [N, C] (F32 or F64, on the CPU or a GPU: every input, the labels too, on the logits' device),
// returns a 0-dim tensor of the logits' dtype and device (a mean over the per-GPU batch N; no host
// synchronisation on a GPU) and records one autograd node whose backward scales the gradient the fused
// forward pass already computed. Log-softmax is max-subtracted everywhere (finite at logits +-1e4).
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace nkd::losses {

// Labels, wherever a loss takes them: I64 class indices [N] in [0, C), or soft scores [N, C]
// (F32 or F64, e.g. from Mixup/CutMix; converted to the logits' dtype). Losses that need hard
// targets from soft labels use the argmax (NKD) or the top-2 classes (tf-NKD, USKD); ties go to the
// smaller class index. (The reference uses torch.sort, which is not stable, so its choice between
// exactly tied scores is unspecified and cannot be matched anyway.)

struct CrossEntropyOptions {
  double label_smoothing = 0;  // mmcls "original" mode: target = (1 - eps) * y + eps / C
};
// mean_n -sum_j target_nj * log_softmax(z)_nj, target = (1 - eps) * onehot(label) + eps / C
// (or (1 - eps) * soft + eps / C).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const CrossEntropyOptions& options = {});

struct KdOptions {
  double temperature = 4;  // T
  double alpha = 0.5;
};
// Hinton KD: alpha * T^2 * mean_n -sum_j softmax(v/T)_j * log_softmax(z/T)_j. The teacher logits
// v are a constant (no gradient reaches them). The distiller scales the student CE by (1 - alpha).
Tensor kd_loss(const Tensor& student, const Tensor& teacher, const KdOptions& options = {});

struct NkdOptions {
  double temperature = 1;  // T, used by the non-target term only
  double gamma = 1.5;
};
// NKD (NKD_SPEC 1.2): mean_n [-q_t log p_t - gamma T^2 sum_{j != t} qhat_j log phat_j], with p, q the
// student/teacher softmax at T = 1, q_t detached, and phat, qhat the softmax at T over the C - 1
// non-target logits (target column removed, order kept). Soft labels use their argmax as t.
Tensor nkd_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                const NkdOptions& options = {});

// The detached (stop-gradient) statistics of tf-NKD and USKD are computed from these tensors when
// they are defined, instead of from the inputs themselves. For gradient checks only: a finite
// difference of the inputs would otherwise also move the detached weights.
struct FrozenStats {
  Tensor logits;       // [N, C], stands in for the logits in every detached quantity
  Tensor weak_logits;  // [N, C] (USKD only), stands in for fc(fea_mid) in the Zipf ranking
};

struct TfNkdOptions {
  FrozenStats frozen;  // tests only
};
// tf-NKD (NKD_SPEC 2.1, 2022): for each target k < K (K = 1 for index labels, K = 2 for soft labels:
// the top-2 classes l_k with values lambda_k), loss_k = -mean_n w_k log softmax(z)_{l_k}, with the
// detached weight w_k = y_k + lambda_k - mean_N(y_k) (0 where lambda_k = 0), y_k = softmax(z)_{l_k}.
// Returns the K terms {loss_tf_nkd0[, loss_tf_nkd1]}; the distiller adds them to the CE.
std::vector<Tensor> tf_nkd_loss(const Tensor& logits, const Tensor& labels, const TfNkdOptions& options = {});

struct UskdOptions {
  double alpha = 1;    // target term weight
  double beta = 0.1;   // non-target (Zipf) term weight
  double mu = 0.005;   // weak-supervision weight (inside the loss)
  // Zipf ranking from log_softmax(z) (cls_KD HEAD since 2023-07-17) instead of softmax(z) (March
  // 2023, the code behind the published numbers; NKD_SPEC 2.2 step 5).
  bool rank_with_log_probs = false;
  FrozenStats frozen;  // tests only
};
// USKD (NKD_SPEC 2.2): alpha * L_t + beta * L_nt + L_w, with the weak head u = fea_mid @ fc_weight^T
// + fc_bias (fea_mid [N, D], fc_weight [C, D], fc_bias [C]; recorded as an ops::linear node, so
// gradients reach fea_mid, fc_weight and fc_bias) and logits z [N, C]. Zipf ranking ties go to the
// smaller class index (torch.sort is not stable, so exact ties cannot be matched anyway).
Tensor uskd_loss(const Tensor& fea_mid, const Tensor& logits, const Tensor& labels, const Tensor& fc_weight,
                 const Tensor& fc_bias, const UskdOptions& options = {});

struct DkdOptions {
  double temperature = 4;  // T
  double alpha = 1;        // TCKD weight
  double beta = 6;         // NCKD weight
};
// DKD (NKD_SPEC 3, no warm-up): T^2 / N * sum_n [alpha KL(b_v || b_z) + beta KL(q' || p')], with b the
// (target, non-target) probability pair at T and p', q' = softmax(x/T - 1000 onehot_t) as the
// reference computes it. Index labels only; the teacher is a constant.
Tensor dkd_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                const DkdOptions& options = {});

}  // namespace nkd::losses
