// cross_entropy: checks, dtype dispatch and the launch of CrossEntropyKernel (losses/ce_math.h) on
// the logits' device (engine/launch.h).
#include "engine/ops/dispatch.h"
#include "losses/ce_math.h"
#include "losses/fused_loss.h"
#include "losses/losses.h"

namespace nkd::losses {

// Backward: grad_output * g, with g = (p sum_k t_k - t) / N written by the forward kernel.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const CrossEntropyOptions& options) {
  constexpr const char* kName = "cross_entropy";
  detail::check_logits(kName, "logits", logits, 1);
  NKD_CHECK(options.label_smoothing >= 0 && options.label_smoothing <= 1, kName,
            ": label_smoothing must be in [0, 1], got ", options.label_smoothing);
  const detail::LabelView lab = detail::check_labels(kName, logits, labels, true);
  const Tensor z = logits.detach().contiguous();
  const int64_t n = z.size(0), c = z.size(1);
  const bool need_grad = any_requires_grad({logits});
  const Tensor g = detail::grad_buffer(z, need_grad);
  Tensor value = dispatch_float(z.dtype(), kName, [&]<typename T>() {
    using Acc = math::SoftmaxAcc<T>;
    const Tensor loss = detail::scratch<Acc>(z, n);
    launch_rows(z.device(), n, c,
                math::CrossEntropyKernel<T>{z.data<T>(), lab.index_ptr(), lab.soft_ptr<T>(), c,
                                            static_cast<Acc>(options.label_smoothing), Acc(1) / Acc(n),
                                            loss.data<Acc>(), detail::ptr_or_null<T>(g)});
    return detail::loss_value<T>(z, loss.data<Acc>(), n, 1, 0, Acc(1), lab.bad_ptr());
  });
  return detail::make_outputs("CrossEntropyBackward", {value}, {logits}, {{g}}, need_grad)[0];
}

}  // namespace nkd::losses
