// The team form of the loss row functors (engine/row_team.h), checked on the CPU: LanesRow<32> and
// LanesRow<256> run the GPU warp's and block's partition of a row and their combine order on one
// thread, so these tests check the structure of the GPU's warp- and block-per-row kernels without a
// GPU (the GPU then differs only in exp/log: test_losses_cuda). The team reductions against the
// serial loop (argmax and top-2 exactly, ties, NaN and skipped columns included; sums and maxima),
// then every loss and its gradients through the public functions with RowTeams::cpu_lanes set,
// F64 within 1e-12 and F32 within 1e-6 of the serial row, at C = 2 to 1500.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/launch.h"
#include "engine/ops/elementwise.h"
#include "engine/row_team.h"
#include "losses/losses.h"
#include "losses/registry.h"
#include "tests/losses/loss_inputs.h"

namespace nkd::testing {
namespace {

// Rows of values from a small set (many ties), with NaN, -inf and +inf mixed in.
std::vector<double> tie_row(int64_t n, uint64_t seed, bool specials) {
  std::vector<double> y(n);
  for (int64_t j = 0; j < n; ++j) {
    const double u = random_uniform(seed, 7, static_cast<uint64_t>(j));
    y[j] = std::floor(u * 4);
    if (specials && u > 0.93) y[j] = std::nan("");
    if (specials && u < 0.03) y[j] = -HUGE_VAL;
  }
  return y;
}

template <typename Team>
void expect_reductions_match(const Team& tm, const std::vector<double>& y, const std::string& what) {
  const SerialRow serial;
  const int64_t n = static_cast<int64_t>(y.size());
  const auto f = [&](int64_t j) { return y[j]; };
  for (int64_t skip = -1; skip < std::min<int64_t>(n, 3); ++skip) {
    if (skip == 0 && n < 2) continue;
    EXPECT_EQ(tm.argmax(n, skip, f), serial.argmax(n, skip, f)) << what << " skip " << skip;
  }
  const double m = tm.max(n, f), ms = serial.max(n, f);
  EXPECT_TRUE(m == ms || (std::isnan(m) && std::isnan(ms))) << what << ": max " << m << " serial " << ms;
  const auto g = [&](int64_t j) { return std::isfinite(y[j]) ? y[j] * 1.25 + 0.1 * j : 0.0; };
  const double s = tm.sum(n, g), ss = serial.sum(n, g);
  EXPECT_NEAR(s, ss, 1e-12 * (std::abs(ss) + 1)) << what << ": sum";
  std::vector<int> seen(n, 0);
  tm.for_each(n, [&](int64_t j) { ++seen[j]; });
  for (int64_t j = 0; j < n; ++j) EXPECT_EQ(seen[j], 1) << what << ": for_each column " << j;
}

TEST(LossTeams, ReductionsMatchTheSerialScan) {
  for (int64_t n : {1, 2, 3, 31, 32, 33, 64, 255, 256, 257, 1000, 1500})
    for (uint64_t seed = 0; seed < 12; ++seed)
      for (bool specials : {false, true}) {
        std::vector<double> y = tie_row(n, seed + 100 * n, specials);
        if (seed == 1) y[0] = std::nan("");        // a NaN at the first column wins the scan
        if (seed == 2 && n > 1) y[1] = std::nan("");  // ... and at the first after a skipped 0
        if (seed == 3) std::fill(y.begin(), y.end(), 2.0);  // all tied
        const std::string what = "n " + std::to_string(n) + " seed " + std::to_string(seed) +
                                 (specials ? " with NaN/inf" : "");
        expect_reductions_match(LanesRow<32>{}, y, what + " warp");
        expect_reductions_match(LanesRow<256>{}, y, what + " block");
      }
}

// A loss over (student logits, teacher logits) and labels: its terms.
using LossFn = std::function<std::vector<Tensor>(const Tensor&, const Tensor&, const Tensor&)>;

struct Outputs {
  std::vector<double> values, grads;  // terms; the gradient of 2.5 * term0 + term1 + ... on the student
};

Outputs run(const LossFn& f, const Tensor& z0, const Tensor& v, const Tensor& labels, int lanes) {
  const RowTeamsGuard teams({.cpu_lanes = lanes});
  Tensor z = z0.detach().clone();
  z.set_requires_grad(true);
  const std::vector<Tensor> terms = f(z, v, labels);
  Outputs o;
  Tensor total;
  for (size_t k = 0; k < terms.size(); ++k) {
    o.values.push_back(terms[k].item());
    total = k == 0 ? ops::mul(terms[k], 2.5) : ops::add(total, terms[k]);
  }
  total.backward();
  o.grads = to_vector<double>(z.grad().to(DType::F64));
  return o;
}

// Every element within rtol (|serial| + atol_scale); returns how many differ in any bit.
int64_t expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol,
                     const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  int64_t differ = 0;
  int reported = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    differ += std::memcmp(&got[i], &want[i], sizeof(double)) != 0 ? 1 : 0;
    if (std::abs(got[i] - want[i]) <= rtol * std::abs(want[i]) + atol) continue;
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (reported++ < 5) ADD_FAILURE() << what << "[" << i << "]: team " << got[i] << " serial " << want[i];
  }
  return differ;
}

// The loss on the serial rows and on both emulated teams; returns the bitwise differences at F64.
int64_t compare_teams(const std::string& name, const LossFn& f, bool soft_allowed) {
  struct Case {
    int64_t n, c;
    double scale;
  };
  const std::vector<Case> cases = {{6, 2, 2.0}, {5, 33, 2.0}, {9, 64, 3.0}, {7, 257, 2.0},
                                   {8, 1000, 3.0}, {4, 1000, 1e4}, {3, 1500, 2.0}};
  int64_t differ = 0;
  for (DType dt : {DType::F64, DType::F32})
    for (const Case& cs : cases) {
      const Tensor z = logits_for(cs.n, cs.c, 31, cs.scale, dt, false);
      const Tensor v = logits_for(cs.n, cs.c, 32, cs.scale, dt, false);
      std::vector<std::pair<std::string, Tensor>> label_sets = {{"index", index_labels(cs.n, cs.c, 35)}};
      if (soft_allowed) label_sets.emplace_back("soft", soft_labels(cs.n, cs.c, 36, {1}, dt));
      const double rtol = dt == DType::F64 ? 1e-12 : 1e-6;
      for (const auto& [lname, labels] : label_sets) {
        const Outputs serial = run(f, z, v, labels, 0);
        for (int lanes : {32, 256}) {
          const std::string what = name + (dt == DType::F64 ? " F64 [" : " F32 [") + std::to_string(cs.n) + ", " +
                                   std::to_string(cs.c) + "] scale " + std::to_string(cs.scale) + " " + lname +
                                   " lanes " + std::to_string(lanes);
          const Outputs team = run(f, z, v, labels, lanes);
          const int64_t d =
              expect_close(team.values, serial.values, rtol, rtol * std::max(1.0, cs.scale), what + " value") +
              expect_close(team.grads, serial.grads, rtol, rtol * std::max(1.0, cs.scale / 100), what + " gradient");
          if (dt == DType::F64) differ += d;
        }
      }
    }
  return differ;
}

TEST(LossTeams, CrossEntropyMatchesTheSerialRow) {
  for (double eps : {0.0, 0.1}) {
    const int64_t differ = compare_teams(
        "cross_entropy eps " + std::to_string(eps),
        [eps](const Tensor& z, const Tensor&, const Tensor& l) {
          return std::vector<Tensor>{losses::cross_entropy(z, l, {.label_smoothing = eps})};
        },
        true);
    // The teams really ran (another summation order changes some last bits at C = 1000).
    EXPECT_GT(differ, 0) << "the team form was not used: RowTeams::cpu_lanes had no effect";
  }
}

// Every registered loss through its spec at its defaults (USKD with its weak head), student and
// teacher logits; the index labels for the hard-label losses.
TEST(LossTeams, EveryRegisteredLossMatchesTheSerialRow) {
  for (const losses::LossSpec* spec : losses::registered_losses()) {
    const auto f = [spec](const Tensor& z, const Tensor& v, const Tensor& l) {
      const int64_t n = z.size(0), c = z.size(1), d = 9;
      losses::LossInputs in{.logits = z, .targets = l};
      in.labels = l.dtype() == DType::I64 ? l : index_labels(n, c, 35);
      if (spec->needs_teacher) in.teacher = v;
      if (spec->head) {
        in.mid_feature = logits_for(n, d, 41, 1.0, z.dtype(), false);
        in.head_weight = logits_for(c, d, 42, 0.5, z.dtype(), false);
        in.head_bias = logits_for(1, c, 43, 0.1, z.dtype(), false).reshape({c});
      }
      std::vector<Tensor> terms;
      for (auto& [name, t] : spec->compute(in, losses::default_config(*spec)).terms) terms.push_back(t);
      return terms;
    };
    const int64_t differ = compare_teams("registered " + spec->name, f, true);
    EXPECT_GT(differ, 0) << spec->name << ": the team form was not used";
  }
}

TEST(LossTeams, RowTeamsAreValidatedAndRestored) {
  const RowTeams before = row_teams();
  EXPECT_THROW(set_row_teams({.cpu_lanes = 64}), Error);
  {
    const RowTeamsGuard guard({.min_cols = 7, .block_min_cols = 9, .cpu_lanes = 32});
    EXPECT_EQ(row_teams().min_cols, 7);
    EXPECT_EQ(row_teams().block_min_cols, 9);
    EXPECT_EQ(row_teams().cpu_lanes, 32);
  }
  EXPECT_EQ(row_teams().min_cols, before.min_cols);
  EXPECT_EQ(row_teams().block_min_cols, before.block_min_cols);
  EXPECT_EQ(row_teams().cpu_lanes, before.cpu_lanes);
}

}  // namespace
}  // namespace nkd::testing
