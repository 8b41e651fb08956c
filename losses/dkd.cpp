// dkd_loss: checks, dtype dispatch and the launch of DkdKernel (losses/dkd_math.h) on the logits'
// device; its registration as the distillation loss "dkd". The teacher is a constant: the node has
// the student as its only input.
#include "engine/ops/dispatch.h"
#include "losses/dkd_math.h"
#include "losses/fused_loss.h"
#include "losses/losses.h"
#include "losses/registry.h"

namespace nkd::losses {

// Backward: grad_output * g, with g = T / N * (alpha dTCKD + beta dNCKD) from the forward kernel.
Tensor dkd_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels, const DkdOptions& options) {
  constexpr const char* kName = "dkd_loss";
  detail::check_logits(kName, "student", student, 2);
  detail::check_like(kName, "student", student, "teacher", teacher);
  detail::check_positive(kName, "temperature", options.temperature);
  detail::check_positive(kName, "alpha", options.alpha, true);
  detail::check_positive(kName, "beta", options.beta, true);
  const detail::LabelView lab = detail::check_labels(kName, student, labels, false);
  const Tensor z = student.detach().contiguous(), v = teacher.detach().contiguous();
  const int64_t n = z.size(0), c = z.size(1);
  const bool need_grad = any_requires_grad({student});
  const Tensor g = detail::grad_buffer(z, need_grad);
  const double t = options.temperature;
  Tensor value = dispatch_float(z.dtype(), kName, [&]<typename T>() {
    using Acc = math::SoftmaxAcc<T>;
    const Tensor loss = detail::scratch<Acc>(z, n);
    launch_rows(z.device(), n, c,
                math::DkdKernel<T>{z.data<T>(), v.data<T>(), lab.index_ptr(), c, static_cast<Acc>(1 / t),
                                   static_cast<Acc>(options.alpha), static_cast<Acc>(options.beta),
                                   static_cast<Acc>(t / static_cast<double>(n)), loss.data<Acc>(),
                                   detail::ptr_or_null<T>(g)});
    return detail::loss_value<T>(z, loss.data<Acc>(), n, 1, 0, static_cast<Acc>(t * t), lab.bad_ptr());
  });
  return detail::make_outputs("DkdLossBackward", {value}, {student}, {{g}}, need_grad)[0];
}

namespace {

// [distill.dkd] temperature, alpha, beta; index labels (the hard labels also under Mixup/CutMix).
const LossRegistrar kDkd({
    .name = "dkd",
    .order = 10,
    .keys = {{"temperature", 4.0, LossKey::Kind::kPositive}, {"alpha", 1.0}, {"beta", 6.0}},
    .needs_teacher = true,
    .compute = [](const LossInputs& in, const LossConfig& c) {
      const DkdOptions o{.temperature = c.number("temperature"), .alpha = c.number("alpha"),
                         .beta = c.number("beta")};
      return LossTerms{{{"loss_dkd", dkd_loss(in.logits, in.teacher, in.labels, o)}}, {}};
    }});

}  // namespace

}  // namespace nkd::losses
