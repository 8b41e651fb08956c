// F64 central-difference gradient checks of every loss, label format, T != 1, C = 2 and batch 1.
// tf-NKD and USKD hold their detached statistics fixed through FrozenStats (a finite difference of
// the inputs would otherwise also move the stop-gradient weights and the Zipf ranking).
#include <gtest/gtest.h>

#include "engine/autograd/grad_mode.h"
#include "engine/ops/matmul.h"
#include "losses/losses.h"
#include "tests/losses/loss_inputs.h"
#include "tests/support/gradcheck.h"

namespace nkd::testing {
namespace {

using losses::FrozenStats;

void expect_gradcheck(const std::string& what, const OpFn& fn, const std::vector<Tensor>& inputs) {
  SCOPED_TRACE(what);
  const GradcheckResult r = gradcheck(fn, inputs);
  EXPECT_TRUE(r.ok) << r.report;
}

struct Shape2 {
  int64_t n, c;
};
const Shape2 kShapes[] = {{4, 7}, {1, 5}, {3, 2}};

std::string tag(const char* loss, Shape2 s, const char* labels) {
  return std::string(loss) + " N=" + std::to_string(s.n) + " C=" + std::to_string(s.c) + " " + labels;
}

TEST(LossGradcheck, CrossEntropy) {
  for (const Shape2 s : kShapes)
    for (double eps : {0.0, 0.1}) {
      const Tensor z = logits_for(s.n, s.c, 1);
      for (const Tensor& y : {index_labels(s.n, s.c, 2), soft_labels(s.n, s.c, 3)}) {
        const OpFn fn = [&](const std::vector<Tensor>& x) {
          return std::vector<Tensor>{losses::cross_entropy(x[0], y, {.label_smoothing = eps})};
        };
        expect_gradcheck(tag("ce", s, y.ndim() == 1 ? "index" : "soft") + " eps=" + std::to_string(eps), fn, {z});
      }
    }
}

TEST(LossGradcheck, Kd) {
  for (const Shape2 s : kShapes)
    for (double t : {1.0, 4.0}) {
      const Tensor z = logits_for(s.n, s.c, 4), v = logits_for(s.n, s.c, 5, 3.0, DType::F64, false);
      const OpFn fn = [&](const std::vector<Tensor>& x) {
        return std::vector<Tensor>{losses::kd_loss(x[0], v, {.temperature = t, .alpha = 0.7})};
      };
      expect_gradcheck(tag("kd", s, "") + " T=" + std::to_string(t), fn, {z});
    }
}

TEST(LossGradcheck, Nkd) {
  for (const Shape2 s : kShapes)
    for (const losses::NkdOptions o : {losses::NkdOptions{}, losses::NkdOptions{.temperature = 3, .gamma = 3.5}}) {
      const Tensor z = logits_for(s.n, s.c, 6), v = logits_for(s.n, s.c, 7, 3.0, DType::F64, false);
      for (const Tensor& y : {index_labels(s.n, s.c, 8), soft_labels(s.n, s.c, 9)}) {
        const OpFn fn = [&](const std::vector<Tensor>& x) {
          return std::vector<Tensor>{losses::nkd_loss(x[0], v, y, o)};
        };
        expect_gradcheck(tag("nkd", s, y.ndim() == 1 ? "index" : "soft") + " T=" + std::to_string(o.temperature),
                         fn, {z});
      }
    }
}

TEST(LossGradcheck, TfNkd) {
  for (const Shape2 s : kShapes) {
    const Tensor z = logits_for(s.n, s.c, 10);
    const FrozenStats frozen{.logits = z.detach().clone()};
    for (const Tensor& y : {index_labels(s.n, s.c, 11), soft_labels(s.n, s.c, 12), soft_labels(s.n, s.c, 13, {0})}) {
      const OpFn fn = [&](const std::vector<Tensor>& x) { return losses::tf_nkd_loss(x[0], y, {.frozen = frozen}); };
      expect_gradcheck(tag("tf_nkd", s, y.ndim() == 1 ? "index" : "soft"), fn, {z});
    }
  }
}

TEST(LossGradcheck, Uskd) {
  const int64_t d = 3;
  for (const Shape2 s : kShapes)
    for (bool log_rank : {false, true}) {
      const Tensor z = logits_for(s.n, s.c, 14), h = logits_for(s.n, d, 15, 1.0);
      const Tensor w = logits_for(s.c, d, 16, 0.7);
      Tensor b = logits_for(1, s.c, 17, 0.3, DType::F64, false).reshape({s.c});
      b.set_requires_grad(true);
      FrozenStats frozen{.logits = z.detach().clone()};
      {
        NoGradGuard no_grad;
        frozen.weak_logits = ops::linear(h, w, b).clone();
      }
      for (const Tensor& y :
           {index_labels(s.n, s.c, 18), soft_labels(s.n, s.c, 19), soft_labels(s.n, s.c, 20, {0, 2})}) {
        const losses::UskdOptions o{.alpha = 1.3, .beta = 0.4, .mu = 0.2, .rank_with_log_probs = log_rank,
                                    .frozen = frozen};
        const OpFn fn = [&](const std::vector<Tensor>& x) {
          return std::vector<Tensor>{losses::uskd_loss(x[0], x[1], y, x[2], x[3], o)};
        };
        expect_gradcheck(tag("uskd", s, y.ndim() == 1 ? "index" : "soft") + (log_rank ? " log-rank" : ""), fn,
                         {h, z, w, b});
      }
    }
}

TEST(LossGradcheck, Dkd) {
  for (const Shape2 s : kShapes)
    for (const losses::DkdOptions o : {losses::DkdOptions{}, losses::DkdOptions{.temperature = 1, .beta = 0.5}}) {
      const Tensor z = logits_for(s.n, s.c, 21), v = logits_for(s.n, s.c, 22, 3.0, DType::F64, false);
      const Tensor y = index_labels(s.n, s.c, 23);
      const OpFn fn = [&](const std::vector<Tensor>& x) {
        return std::vector<Tensor>{losses::dkd_loss(x[0], v, y, o)};
      };
      expect_gradcheck(tag("dkd", s, "index") + " T=" + std::to_string(o.temperature), fn, {z});
    }
}

}  // namespace
}  // namespace nkd::testing
