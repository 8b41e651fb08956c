// kd_loss and dkd_loss: checks, dtype dispatch and the CPU launch of KdKernel (losses/kd_math.h) and
// DkdKernel (losses/dkd_math.h). The teacher is a constant: the node has the student as its only input.
#include "engine/ops/dispatch.h"
#include "losses/dkd_math.h"
#include "losses/fused_loss.h"
#include "losses/kd_math.h"
#include "losses/losses.h"

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
    detail::launch_rows(z, n, c,
                        math::KdKernel<T>{z.data<T>(), v.data<T>(), c, static_cast<Acc>(1 / t),
                                          static_cast<Acc>(a * t / static_cast<double>(n)), loss.data<Acc>(),
                                          detail::ptr_or_null<T>(g)});
    return detail::loss_value<T>(z, loss.data<Acc>(), n, 1, 0, static_cast<Acc>(a * t * t));
  });
  return detail::make_outputs("KdLossBackward", {value}, {student}, {{g}}, need_grad)[0];
}

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
    detail::launch_rows(z, n, c,
                        math::DkdKernel<T>{z.data<T>(), v.data<T>(), lab.index_ptr(), c, static_cast<Acc>(1 / t),
                                           static_cast<Acc>(options.alpha), static_cast<Acc>(options.beta),
                                           static_cast<Acc>(t / static_cast<double>(n)), loss.data<Acc>(),
                                           detail::ptr_or_null<T>(g)});
    return detail::loss_value<T>(z, loss.data<Acc>(), n, 1, 0, static_cast<Acc>(t * t), lab.bad_ptr());
  });
  return detail::make_outputs("DkdLossBackward", {value}, {student}, {{g}}, need_grad)[0];
}

}  // namespace nkd::losses
