// nkd_loss: checks, dtype dispatch and the launch of NkdKernel (losses/nkd_math.h) on the logits'
// device; its registration as the distillation loss "nkd". The teacher is a constant: the node has
// the student as its only input.
#include "engine/ops/dispatch.h"
#include "losses/fused_loss.h"
#include "losses/losses.h"
#include "losses/nkd_math.h"
#include "losses/registry.h"

namespace nkd::losses {

// Backward: grad_output * g, g = [q_t (p - onehot_t) + gamma T (phat sum qhat - qhat) off t] / N
// (NKD_SPEC 1.5), written by the forward kernel.
Tensor nkd_loss(const Tensor& student, const Tensor& teacher, const Tensor& labels, const NkdOptions& options) {
  constexpr const char* kName = "nkd_loss";
  detail::check_logits(kName, "student", student, 2);
  detail::check_like(kName, "student", student, "teacher", teacher);
  detail::check_positive(kName, "temperature", options.temperature);
  detail::check_positive(kName, "gamma", options.gamma, true);
  const detail::LabelView lab = detail::check_labels(kName, student, labels, true);
  const Tensor z = student.detach().contiguous(), v = teacher.detach().contiguous();
  const int64_t n = z.size(0), c = z.size(1);
  const bool need_grad = any_requires_grad({student});
  const Tensor g = detail::grad_buffer(z, need_grad);
  const double t = options.temperature;
  Tensor value = dispatch_float(z.dtype(), kName, [&]<typename T>() {
    using Acc = math::SoftmaxAcc<T>;
    const Tensor loss = detail::scratch<Acc>(z, n);
    launch_rows(z.device(), n, c,
                math::NkdKernel<T>{z.data<T>(), v.data<T>(), lab.index_ptr(), lab.soft_ptr<T>(), c,
                                   static_cast<Acc>(1 / t), static_cast<Acc>(options.gamma * t * t), Acc(1) / Acc(n),
                                   loss.data<Acc>(), detail::ptr_or_null<T>(g)});
    return detail::loss_value<T>(z, loss.data<Acc>(), n, 1, 0, Acc(1), lab.bad_ptr());
  });
  return detail::make_outputs("NkdLossBackward", {value}, {student}, {{g}}, need_grad)[0];
}

namespace {

// [distill.nkd] temperature, gamma; soft labels use their argmax as the target.
const LossRegistrar kNkd({
    .name = "nkd",
    .order = 30,
    .keys = {{"temperature", 1.0, LossKey::Kind::kPositive}, {"gamma", 1.5}},
    .needs_teacher = true,
    .compute = [](const LossInputs& in, const LossConfig& c) {
      const NkdOptions o{.temperature = c.number("temperature"), .gamma = c.number("gamma")};
      return LossTerms{{{"loss_nkd", nkd_loss(in.logits, in.teacher, in.targets, o)}}, {}};
    }});

}  // namespace

}  // namespace nkd::losses
