// tf_nkd_loss: checks, dtype dispatch and the two passes (math::TargetProbKernel, losses/tf_nkd_math.h)
// with the batch mean of the target probabilities between them, on the logits' device; its
// registration as the distillation loss "tf_nkd". One node, one output (term) per target k.
#include <string>

#include "engine/ops/dispatch.h"
#include "losses/fused_loss.h"
#include "losses/losses.h"
#include "losses/registry.h"
#include "losses/tf_nkd_math.h"

namespace nkd::losses {
namespace {

// Pass 1 on the statistics logits z0, the batch means, pass 2 on z; returns the K batch-mean terms.
template <typename T>
std::vector<Tensor> run_tf_nkd(const Tensor& z, const Tensor& z0, const detail::LabelView& lab, int k,
                               const Tensor& g0, const Tensor& g1) {
  using Acc = math::SoftmaxAcc<T>;
  const int64_t n = z.size(0), c = z.size(1);
  const Tensor y = detail::scratch<Acc>(z, n * k), loss = detail::scratch<Acc>(z, n * k);
  launch_rows(z.device(), n, c,
              math::TargetProbKernel<T>{z0.data<T>(), lab.index_ptr(), lab.soft_ptr<T>(), c, k, false, y.data<Acc>()});
  const Tensor mean = detail::batch_means<T>(z, y.data<Acc>(), n, k, Acc(1));
  launch_rows(z.device(), n, c,
              math::TfNkdKernel<T>{z.data<T>(), lab.index_ptr(), lab.soft_ptr<T>(), c, k, y.data<Acc>(),
                                   mean.data<Acc>(), Acc(1) / Acc(n), loss.data<Acc>(), detail::ptr_or_null<T>(g0),
                                   detail::ptr_or_null<T>(g1)});
  std::vector<Tensor> values;
  for (int kk = 0; kk < k; ++kk)
    values.push_back(detail::loss_value<T>(z, loss.data<Acc>(), n, k, kk, Acc(1), lab.bad_ptr()));
  return values;
}

}  // namespace

// Backward: sum_k grad_output_k * g_k, g_k = w_k (p - onehot(l_k)) / N written by pass 2.
std::vector<Tensor> tf_nkd_loss(const Tensor& logits, const Tensor& labels, const TfNkdOptions& options) {
  constexpr const char* kName = "tf_nkd_loss";
  detail::check_logits(kName, "logits", logits, 1);
  const detail::LabelView lab = detail::check_labels(kName, logits, labels, true);
  NKD_CHECK(!lab.is_soft() || logits.size(1) >= 2, kName, ": soft labels need at least 2 classes, got logits ",
            describe(logits));
  const Tensor& frozen = options.frozen.logits;
  if (frozen.defined()) detail::check_like(kName, "logits", logits, "frozen.logits", frozen);
  const Tensor z = logits.detach().contiguous();
  const Tensor z0 = frozen.defined() ? frozen.detach().contiguous() : z;
  const int k = lab.is_soft() ? 2 : 1;
  const bool need_grad = any_requires_grad({logits});
  const Tensor g0 = detail::grad_buffer(z, need_grad), g1 = detail::grad_buffer(z, need_grad && k == 2);
  std::vector<Tensor> values = dispatch_float(
      z.dtype(), kName, [&]<typename T>() { return run_tf_nkd<T>(z, z0, lab, k, g0, g1); });
  std::vector<std::vector<Tensor>> grads{{g0}};
  if (k == 2) grads.push_back({g1});
  return detail::make_outputs("TfNkdLossBackward", std::move(values), {logits}, std::move(grads), need_grad);
}

namespace {

// distill.tf_nkd = true (no keys): teacher-free, one term per target (loss_tf_nkd0[, loss_tf_nkd1]).
const LossRegistrar kTfNkd({
    .name = "tf_nkd",
    .order = 50,
    .compute = [](const LossInputs& in, const LossConfig&) {
      LossTerms out;
      const std::vector<Tensor> terms = tf_nkd_loss(in.logits, in.targets);
      for (size_t k = 0; k < terms.size(); ++k) out.terms.emplace_back("loss_tf_nkd" + std::to_string(k), terms[k]);
      return out;
    }});

}  // namespace

}  // namespace nkd::losses
