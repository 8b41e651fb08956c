// kd_loss: checks, dtype dispatch and the launch of KdKernel (losses/kd_math.h) on the logits'
// device; its registration as the distillation loss "kd". The teacher is a constant: the node has
// the student as its only input.
#include "engine/ops/dispatch.h"
#include "losses/fused_loss.h"
#include "losses/kd_math.h"
#include "losses/losses.h"
#include "losses/registry.h"

namespace nkd::losses {

// Backward: grad_output * g, with g = alpha T (softmax(z/T) sum_k q_k - q) / N from the forward kernel.
Tensor kd_loss(const Tensor& student, const Tensor& teacher, const KdOptions& options) {
  constexpr const char* kName = "kd_loss";
  detail::check_logits(kName, "student", student, 1);
  detail::check_like(kName, "student", student, "teacher", teacher);
  detail::check_positive(kName, "temperature", options.temperature);
  detail::check_positive(kName, "alpha", options.alpha, true);
  const Tensor z = student.detach().contiguous(), v = teacher.detach().contiguous();
  const int64_t n = z.size(0), c = z.size(1);
  const bool need_grad = any_requires_grad({student});
  const Tensor g = detail::grad_buffer(z, need_grad);
  const double t = options.temperature, a = options.alpha;
  Tensor value = dispatch_float(z.dtype(), kName, [&]<typename T>() {
    using Acc = math::SoftmaxAcc<T>;
    const Tensor loss = detail::scratch<Acc>(z, n);
    launch_rows(z.device(), n, c,
                math::KdKernel<T>{z.data<T>(), v.data<T>(), c, static_cast<Acc>(1 / t),
                                  static_cast<Acc>(a * t / static_cast<double>(n)), loss.data<Acc>(),
                                  detail::ptr_or_null<T>(g)});
    return detail::loss_value<T>(z, loss.data<Acc>(), n, 1, 0, static_cast<Acc>(a * t * t));
  });
  return detail::make_outputs("KdLossBackward", {value}, {student}, {{g}}, need_grad)[0];
}

namespace {

// [distill.kd] temperature, alpha; the student's CE is scaled by 1 - alpha.
const LossRegistrar kKd({
    .name = "kd",
    .order = 20,
    .keys = {{"temperature", 4.0, LossKey::Kind::kPositive}, {"alpha", 0.5, LossKey::Kind::kUnit}},
    .needs_teacher = true,
    .compute = [](const LossInputs& in, const LossConfig& c) {
      const KdOptions o{.temperature = c.number("temperature"), .alpha = c.number("alpha")};
      return LossTerms{{{"loss_kd", kd_loss(in.logits, in.teacher, o)}}, 1.0 - o.alpha};
    }});

}  // namespace

}  // namespace nkd::losses
