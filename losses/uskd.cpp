// uskd_loss: checks, the weak head (ops::linear), and the passes of losses/uskd_math.h on the logits'
// device: statistics (math::TargetProbKernel), batch means, ranking scores, Zipf positions (a stable
// per-row sort on the CPU), then the fused loss pass; its registration as the distillation loss
// "uskd". One FusedLossBackward over (logits, weak logits); the linear node carries the gradient on
// to fea_mid, fc_weight and fc_bias.
#include <algorithm>
#include <numeric>

#include "engine/ops/dispatch.h"
#include "engine/ops/matmul.h"
#include "losses/fused_loss.h"
#include "losses/losses.h"
#include "losses/registry.h"
#include "losses/uskd_math.h"

namespace nkd::losses {
namespace {

// pos[r, j] = position of class j in the descending sort of score[r, :], ties to the smaller index
// (math::descending_position, evaluated in O(C log C) by a stable sort). NaN scores sort last.
// On a GPU: one thread per (row, class) counts the classes ranked before it (math::UskdRankKernel).
template <typename T, typename Acc = math::SoftmaxAcc<T>>
void rank_rows(const Tensor& like, const Acc* score, int64_t* pos, int64_t n, int64_t c) {
  if (like.is_cuda()) return launch(like.device(), n * c, math::UskdRankKernel<T>{score, c, pos});
  cpu::parallel_for(n, std::max<int64_t>(1, cpu::kGrain / (c * 8)), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> order(c);
    for (int64_t r = r0; r < r1; ++r) {
      const Acc* s = score + r * c;
      const auto key = [s](int64_t j) { return s[j] != s[j] ? math::neg_inf<Acc>() : s[j]; };
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key(a) > key(b); });
      for (int64_t p = 0; p < c; ++p) pos[r * c + order[p]] = p;
    }
  });
}

struct UskdTensors {
  Tensor z, u;    // [N, C] logits and weak logits, contiguous
  Tensor z0, u0;  // [N, C] their stand-ins for the detached statistics
  Tensor gz, gu;  // [N, C] stored gradients, or undefined
};

template <typename T>
Tensor run_uskd(const UskdTensors& t, const detail::LabelView& lab, const UskdOptions& o) {
  using Acc = math::SoftmaxAcc<T>;
  const Tensor& z = t.z;
  const int64_t n = z.size(0), c = z.size(1);
  const int k = lab.is_soft() ? 2 : 1;
  const int64_t* index = lab.index_ptr();
  const T* soft = lab.soft_ptr<T>();
  const Tensor sq = detail::scratch<Acc>(z, n * k), score = detail::scratch<Acc>(z, n * c);
  const Tensor loss = detail::scratch<Acc>(z, n), pos = detail::scratch<int64_t>(z, n * c);
  launch_rows(z.device(), n, c, math::TargetProbKernel<T>{t.z0.data<T>(), index, soft, c, k, true, sq.data<Acc>()});
  const Tensor mean = detail::batch_means<T>(z, sq.data<Acc>(), n, k, Acc(1));
  launch_rows(z.device(), n, c,
              math::UskdScoreKernel<T>{t.z0.data<T>(), t.u0.data<T>(), index, soft, c, o.rank_with_log_probs,
                                       score.data<Acc>()});
  rank_rows<T>(z, score.data<Acc>(), pos.data<int64_t>(), n, c);
  launch_rows(z.device(), n, c,
              math::UskdKernel<T>{t.z.data<T>(), t.u.data<T>(), index, soft, c, k, sq.data<Acc>(), mean.data<Acc>(),
                                  pos.data<int64_t>(), static_cast<Acc>(o.alpha), static_cast<Acc>(o.beta),
                                  static_cast<Acc>(o.mu), Acc(1) / Acc(n), loss.data<Acc>(),
                                  detail::ptr_or_null<T>(t.gz), detail::ptr_or_null<T>(t.gu)});
  return detail::loss_value<T>(z, loss.data<Acc>(), n, 1, 0, Acc(1), lab.bad_ptr());
}

void check_uskd(const Tensor& fea_mid, const Tensor& logits, const Tensor& fc_weight, const Tensor& fc_bias,
                const UskdOptions& o) {
  constexpr const char* kName = "uskd_loss";
  detail::check_logits(kName, "logits", logits, 2);
  detail::check_logits(kName, "fea_mid", fea_mid, 1);
  const int64_t n = logits.size(0), c = logits.size(1), d = fea_mid.size(1);
  NKD_CHECK(fea_mid.device() == logits.device(), kName, ": fea_mid ", describe(fea_mid), " and logits ",
            describe(logits), " are on different devices");
  NKD_CHECK(fea_mid.size(0) == n && fea_mid.dtype() == logits.dtype(), kName, ": fea_mid ", describe(fea_mid),
            " does not match logits ", describe(logits));
  NKD_CHECK(fc_weight.defined() && fc_weight.ndim() == 2 && fc_weight.size(0) == c && fc_weight.size(1) == d,
            kName, ": fc_weight must be [", c, ", ", d, "] for fea_mid ", describe(fea_mid), " and logits ",
            describe(logits), ", got ", fc_weight.defined() ? describe(fc_weight) : "undefined");
  NKD_CHECK(fc_bias.defined() && fc_bias.ndim() == 1 && fc_bias.size(0) == c, kName, ": fc_bias must be [", c,
            "] for logits ", describe(logits), ", got ", fc_bias.defined() ? describe(fc_bias) : "undefined");
  detail::check_positive(kName, "alpha", o.alpha, true);
  detail::check_positive(kName, "beta", o.beta, true);
  detail::check_positive(kName, "mu", o.mu, true);
  if (o.frozen.logits.defined()) detail::check_like(kName, "logits", logits, "frozen.logits", o.frozen.logits);
  if (o.frozen.weak_logits.defined())
    detail::check_like(kName, "logits", logits, "frozen.weak_logits", o.frozen.weak_logits);
}

}  // namespace

// Backward: grad_output * (g_z, g_u), with g_z = [alpha (p sum p_k - p_k onehot) + beta (shat sum nz - nz)
// off the targets] / N and g_u = mu (w sum yt - yt) / N written by the fused pass (NKD_SPEC 2.2).
Tensor uskd_loss(const Tensor& fea_mid, const Tensor& logits, const Tensor& labels, const Tensor& fc_weight,
                 const Tensor& fc_bias, const UskdOptions& options) {
  constexpr const char* kName = "uskd_loss";
  check_uskd(fea_mid, logits, fc_weight, fc_bias, options);
  const detail::LabelView lab = detail::check_labels(kName, logits, labels, true);
  const Tensor weak = ops::linear(fea_mid, fc_weight, fc_bias);  // [N, C]
  UskdTensors t;
  t.z = logits.detach().contiguous();
  t.u = weak.detach().contiguous();
  t.z0 = options.frozen.logits.defined() ? options.frozen.logits.detach().contiguous() : t.z;
  t.u0 = options.frozen.weak_logits.defined() ? options.frozen.weak_logits.detach().contiguous() : t.u;
  const bool need_grad = any_requires_grad({logits, weak});
  t.gz = detail::grad_buffer(t.z, need_grad);
  t.gu = detail::grad_buffer(t.u, need_grad);
  Tensor value = dispatch_float(t.z.dtype(), kName, [&]<typename T>() { return run_uskd<T>(t, lab, options); });
  return detail::make_outputs("UskdLossBackward", {value}, {logits, weak}, {{t.gz, t.gu}}, need_grad)[0];
}

namespace {

// [distill.uskd] alpha, beta, mu, rank_with_log_probs; its weak head distill_losses.loss_uskd.fc
// (initialised from the stream "uskd").
const LossRegistrar kUskd({
    .name = "uskd",
    .order = 40,
    .keys = {{"alpha", 1.0},
             {"beta", 0.1},
             {"mu", 0.005},
             {"rank_with_log_probs", 0, LossKey::Kind::kFlag}},
    .head = LossHead{.module = "fc", .stream = 0x75736b64},
    .compute = [](const LossInputs& in, const LossConfig& c) {
      UskdOptions o;
      o.alpha = c.number("alpha");
      o.beta = c.number("beta");
      o.mu = c.number("mu");
      o.rank_with_log_probs = c.flag("rank_with_log_probs");
      return LossTerms{
          {{"loss_uskd", uskd_loss(in.mid_feature, in.logits, in.targets, in.head_weight, in.head_bias, o)}}, {}};
    }});

}  // namespace

}  // namespace nkd::losses
