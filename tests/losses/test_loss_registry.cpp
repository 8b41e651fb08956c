// The loss registry (losses/registry.h): the registered losses in the reference's order, their
// config keys and defaults (those the config parser had before the registry), the registry path
// computing exactly what the loss functions compute, and every registered loss (a new one too)
// giving named, finite, 0-dim terms with finite gradients, F32 agreeing with F64.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/ops/elementwise.h"
#include "losses/losses.h"
#include "losses/registry.h"
#include "tests/losses/loss_inputs.h"

namespace nkd::testing {
namespace {

using losses::LossConfig;
using losses::LossInputs;
using losses::LossSpec;

std::vector<std::pair<std::string, double>> defaults_of(const std::string& name) {
  const LossSpec* spec = losses::find_loss(name);
  EXPECT_NE(spec, nullptr) << name;
  return spec ? losses::default_config(*spec).values : std::vector<std::pair<std::string, double>>{};
}

// The reference's losses in its order (a loss added later may go anywhere between them).
TEST(LossRegistry, LossesInTheReferenceOrder) {
  const std::set<std::string> reference = {"dkd", "kd", "nkd", "uskd", "tf_nkd"};
  std::vector<std::string> names;
  std::string all;
  for (const LossSpec* s : losses::registered_losses()) {
    if (reference.count(s->name)) names.push_back(s->name);
    all += (all.empty() ? "" : ", ") + s->name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"dkd", "kd", "nkd", "uskd", "tf_nkd"}));
  EXPECT_EQ(losses::registered_loss_names(), all);
  EXPECT_EQ(losses::find_loss("nkdd"), nullptr);
  for (const char* t : {"dkd", "kd", "nkd"}) EXPECT_TRUE(losses::find_loss(t)->needs_teacher) << t;
  for (const char* t : {"uskd", "tf_nkd"}) EXPECT_FALSE(losses::find_loss(t)->needs_teacher) << t;
  ASSERT_TRUE(losses::find_loss("uskd")->head.has_value());
  EXPECT_EQ(losses::find_loss("uskd")->head->module, "fc");
}

TEST(LossRegistry, KeysAndDefaultsAreTheConfigOnes) {
  using V = std::vector<std::pair<std::string, double>>;
  EXPECT_EQ(defaults_of("kd"), (V{{"temperature", 4.0}, {"alpha", 0.5}}));
  EXPECT_EQ(defaults_of("nkd"), (V{{"temperature", 1.0}, {"gamma", 1.5}}));
  EXPECT_EQ(defaults_of("dkd"), (V{{"temperature", 4.0}, {"alpha", 1.0}, {"beta", 6.0}}));
  EXPECT_EQ(defaults_of("uskd"), (V{{"alpha", 1.0}, {"beta", 0.1}, {"mu", 0.005}, {"rank_with_log_probs", 0.0}}));
  EXPECT_EQ(defaults_of("tf_nkd"), V{});
  for (const LossSpec* s : losses::registered_losses()) {
    std::set<std::string> seen;
    for (const losses::LossKey& k : s->keys) {
      EXPECT_TRUE(seen.insert(k.name).second) << s->name << "." << k.name << " is declared twice";
      EXPECT_EQ(losses::check_key_value(k, k.fallback), "") << s->name << "." << k.name;
    }
  }
  const losses::LossKey t{"temperature", 4.0, losses::LossKey::Kind::kPositive};
  EXPECT_EQ(losses::check_key_value(t, 0.0), "must be positive");
  EXPECT_EQ(losses::check_key_value({"alpha", 0.5, losses::LossKey::Kind::kUnit}, 1.5), "must be in [0, 1]");
  EXPECT_THROW(losses::default_config(*losses::find_loss("kd")).number("gamma"), Error);
}

// Student logits, teacher logits, index labels and (soft) targets, the mid feature and a head.
LossInputs inputs_for(DType dt, bool soft, bool grad) {
  const int64_t n = 6, c = 7, d = 5;
  LossInputs in;
  in.logits = logits_for(n, c, 51, 2.0, dt, grad);
  in.teacher = logits_for(n, c, 52, 2.0, dt, false);
  in.labels = index_labels(n, c, 53);
  in.targets = soft ? soft_labels(n, c, 54, {2}, dt) : in.labels;
  in.mid_feature = logits_for(n, d, 55, 1.0, dt, grad);
  in.head_weight = logits_for(c, d, 56, 0.5, dt, grad);
  in.head_bias = logits_for(1, c, 57, 0.1, dt, false).reshape({c});
  return in;
}

LossConfig defaults(const std::string& name) { return losses::default_config(*losses::find_loss(name)); }

TEST(LossRegistry, ComputesWhatTheLossFunctionsCompute) {
  for (bool soft : {false, true}) {
    SCOPED_TRACE(soft ? "soft targets" : "index targets");
    const LossInputs in = inputs_for(DType::F64, soft, false);
    const auto terms = [&](const std::string& name) { return losses::find_loss(name)->compute(in, defaults(name)); };
    const auto only = [](const losses::LossTerms& t, const std::string& name) {
      EXPECT_EQ(t.terms.size(), 1u);
      EXPECT_EQ(t.terms.at(0).first, name);
      return t.terms.at(0).second.item();
    };
    const losses::LossTerms kd = terms("kd");
    EXPECT_EQ(only(kd, "loss_kd"), losses::kd_loss(in.logits, in.teacher, {.temperature = 4, .alpha = 0.5}).item());
    EXPECT_EQ(kd.ce_scale, std::optional<double>(0.5));
    const losses::LossTerms dkd = terms("dkd");
    EXPECT_EQ(only(dkd, "loss_dkd"),
              losses::dkd_loss(in.logits, in.teacher, in.labels, {.temperature = 4, .alpha = 1, .beta = 6}).item());
    EXPECT_FALSE(dkd.ce_scale.has_value());
    EXPECT_EQ(only(terms("nkd"), "loss_nkd"),
              losses::nkd_loss(in.logits, in.teacher, in.targets, {.temperature = 1, .gamma = 1.5}).item());
    EXPECT_EQ(only(terms("uskd"), "loss_uskd"),
              losses::uskd_loss(in.mid_feature, in.logits, in.targets, in.head_weight, in.head_bias, {}).item());
    const losses::LossTerms tf = terms("tf_nkd");
    const std::vector<Tensor> direct = losses::tf_nkd_loss(in.logits, in.targets);
    ASSERT_EQ(tf.terms.size(), soft ? 2u : 1u);
    ASSERT_EQ(direct.size(), tf.terms.size());
    for (size_t k = 0; k < direct.size(); ++k) {
      EXPECT_EQ(tf.terms[k].first, "loss_tf_nkd" + std::to_string(k));
      EXPECT_EQ(tf.terms[k].second.item(), direct[k].item());
    }
  }
}

bool all_finite(const Tensor& t) {
  for (double v : to_vector<double>(t.to(DType::F64)))
    if (!std::isfinite(v)) return false;
  return true;
}

// One registered loss at its defaults: every term named loss_<name>..., 0-dim in the logits'
// dtype and finite; finite gradients on the logits (and the mid feature and head when it has one).
std::vector<double> check_loss(const LossSpec& spec, DType dt, bool soft) {
  LossInputs in = inputs_for(dt, soft, true);
  if (!spec.needs_teacher) in.teacher = Tensor();
  if (!spec.head) in.mid_feature = in.head_weight = in.head_bias = Tensor();
  const losses::LossTerms out = spec.compute(in, losses::default_config(spec));
  EXPECT_FALSE(out.terms.empty());
  std::vector<double> values;
  Tensor total;
  for (const auto& [name, t] : out.terms) {
    EXPECT_EQ(name.rfind("loss_" + spec.name, 0), 0u) << name;
    EXPECT_EQ(t.ndim(), 0) << name;
    EXPECT_EQ(t.dtype(), dt) << name;
    EXPECT_TRUE(std::isfinite(t.item())) << name;
    values.push_back(t.item());
    total = total.defined() ? ops::add(total, t) : t;
  }
  if (!total.defined()) return values;
  total.backward();
  std::vector<Tensor> leaves = {in.logits};
  if (spec.head) leaves.insert(leaves.end(), {in.mid_feature, in.head_weight});
  for (const Tensor& x : leaves) {
    EXPECT_TRUE(x.grad().defined());
    if (x.grad().defined()) {
      EXPECT_EQ(x.grad().shape(), x.shape());
      EXPECT_TRUE(all_finite(x.grad()));
    }
  }
  return values;
}

TEST(LossRegistry, EveryRegisteredLossGivesFiniteTermsAndGradients) {
  for (const LossSpec* spec : losses::registered_losses())
    for (bool soft : {false, true}) {
      SCOPED_TRACE(spec->name + (soft ? " soft targets" : " index targets"));
      const std::vector<double> f64 = check_loss(*spec, DType::F64, soft);
      const std::vector<double> f32 = check_loss(*spec, DType::F32, soft);
      ASSERT_EQ(f32.size(), f64.size());
      for (size_t k = 0; k < f64.size(); ++k) EXPECT_NEAR(f32[k], f64[k], 1e-4 * (std::abs(f64[k]) + 1)) << k;
    }
}

}  // namespace
}  // namespace nkd::testing
