// The losses on a GPU against the CPU (label gpu; each test skips with the reason when no GPU can be
// used): every loss and label format, values and every input gradient, in F64 (|gpu - cpu| <=
// 1e-12 (|cpu| + s)) and F32 (<= 1e-5 (|cpu| + s)), s = max(1, logit scale) for values and 1 for
// gradients, at ordinary logits, logits of +-1e4, C = 2 and C = 1000, with each GPU row form (one
// thread, one warp or one block per row: engine/row_team.h, RowTeams) on some case. Both devices
// run the same row functors (losses/*_math.h), so only the exp/log implementations and (for a team)
// the summation order differ. Also: GPU outputs and gradients stay on the GPU, grad_output
// scaling reaches the stored gradients, and an out-of-range label gives a NaN value (no throw, no
// out-of-bounds read) instead of the CPU's error.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/launch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "losses/losses.h"
#include "losses/registry.h"
#include "tests/engine/cuda/cuda_test.h"
#include "tests/losses/loss_inputs.h"

namespace nkd::testing {
namespace {

// A loss over its inputs (leaves; some require grad) and the labels: its output terms.
using LossFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&, const Tensor&)>;

struct Run {
  std::vector<double> values;               // one per output term
  std::vector<std::vector<double>> grads;  // one per input (empty where it needs no gradient)
};

// Copies the inputs to `device` as fresh leaves, evaluates, runs backward from 2.5 * term0 + term1 + ...
// (so the stored gradients are scaled by the grad_output), and reads everything back as F64.
Run run_on(Device device, const LossFn& f, const std::vector<Tensor>& inputs, const std::vector<bool>& need_grad,
           const Tensor& labels) {
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor t = inputs[i].detach().to(device).contiguous().clone();
    if (need_grad[i]) t.set_requires_grad(true);
    leaves.push_back(t);
  }
  const std::vector<Tensor> out = f(leaves, labels.to(device));
  Run r;
  Tensor total;
  for (size_t k = 0; k < out.size(); ++k) {
    EXPECT_EQ(out[k].device(), device) << "term " << k;
    EXPECT_EQ(out[k].ndim(), 0);
    r.values.push_back(out[k].item());
    total = k == 0 ? ops::mul(out[k], 2.5) : ops::add(total, out[k]);
  }
  total.backward();
  for (size_t i = 0; i < leaves.size(); ++i) {
    r.grads.emplace_back();
    if (!need_grad[i]) continue;
    const Tensor& g = leaves[i].grad();
    EXPECT_TRUE(g.defined()) << "input " << i;
    if (!g.defined()) continue;
    EXPECT_EQ(g.device(), device) << "input " << i;
    r.grads.back() = to_vector<double>(g.to(kCPU).to(DType::F64));
  }
  return r;
}

// |gpu - cpu| <= rtol |cpu| + atol elementwise (NaN matches NaN).
void expect_close(const std::vector<double>& gpu, const std::vector<double>& cpu, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double tol = rtol * std::abs(cpu[i]) + atol;
    if (std::abs(gpu[i] - cpu[i]) <= tol || (std::isnan(gpu[i]) && std::isnan(cpu[i]))) continue;
    ADD_FAILURE() << what << "[" << i << "]: gpu " << gpu[i] << " cpu " << cpu[i] << " (tolerance " << tol << ")";
    if (++reported == 5) return;
  }
}

struct Case {
  int64_t n, c;
  double scale;     // logit standard deviation
  RowTeams teams;   // how the GPU runs the rows (the CPU always walks them serially)
  const char* form;
};

constexpr int64_t kNever = INT64_MAX;
const RowTeams kThreadRows{.min_cols = kNever, .block_min_cols = kNever};
const RowTeams kWarpRows{.min_cols = 0, .block_min_cols = kNever};
const RowTeams kBlockRows{.min_cols = 0, .block_min_cols = 0};

// Runs f on the CPU and the GPU for each dtype and case; inputs(n, c, scale, dt) builds the inputs.
void compare_loss(const std::string& name, const LossFn& f,
                  const std::function<std::vector<Tensor>(const Case&, DType)>& inputs,
                  const std::vector<bool>& need_grad, bool soft_allowed, int64_t min_c = 2) {
  // The defaults (thread rows below 64 classes, warps to 511, blocks from 512), then each form forced
  // on a case the defaults give another (tiny rows in a warp or a block: most threads idle).
  const std::vector<Case> cases = {
      {7, 2, 2.0, {}, "default"},          {33, 257, 2.0, {}, "default"},       {5, 10, 1e4, {}, "default"},
      {3, 2, 1e4, {}, "default"},          {64, 1000, 3.0, {}, "default"},      {64, 1000, 3.0, kWarpRows, "warp"},
      {64, 1000, 3.0, kThreadRows, "thread"}, {33, 257, 2.0, kBlockRows, "block"}, {7, 2, 2.0, kWarpRows, "warp"},
      {5, 10, 1e4, kBlockRows, "block"},   {130, 64, 2.0, {}, "default"},      {9, 1500, 2.0, {}, "default"}};
  for (DType dt : {DType::F64, DType::F32}) {
    const double rtol = dt == DType::F64 ? 1e-12 : 1e-5;
    for (const Case& cs : cases) {
      if (cs.c < min_c) continue;
      const std::vector<Tensor> in = inputs(cs, dt);
      std::vector<std::pair<std::string, Tensor>> label_sets = {{"index", index_labels(cs.n, cs.c, 35)}};
      if (soft_allowed) label_sets.emplace_back("soft", soft_labels(cs.n, cs.c, 36, {1}, dt));
      for (const auto& [lname, labels] : label_sets) {
        const std::string what = name + " " + (dt == DType::F64 ? "F64" : "F32") + " [" + std::to_string(cs.n) +
                                 ", " + std::to_string(cs.c) + "] scale " + std::to_string(cs.scale) + " " + lname +
                                 " " + cs.form + " rows";
        SCOPED_TRACE(what);
        const RowTeamsGuard teams(cs.teams);
        const Run cpu = run_on(kCPU, f, in, need_grad, labels);
        const Run gpu = run_on(testing::gpu(), f, in, need_grad, labels);
        // Values: rtol (|v| + max(1, scale)); gradients (each at most a few / N): rtol (|g| + 1), and
        // rtol scale / 100 at huge logits: a logit of 1e4 is itself rounded by 1e4 eps (1.8e-12 in
        // F64), so exp() on the GPU and in glibc may differ by that much (measured on an H100:
        // 1.2e-12 where the CPU gives 0, NKD T=3, C=2, F64).
        expect_close(gpu.values, cpu.values, rtol, rtol * std::max(1.0, cs.scale), what + " value");
        for (size_t i = 0; i < in.size(); ++i)
          expect_close(gpu.grads[i], cpu.grads[i], rtol, rtol * std::max(1.0, cs.scale / 100),
                       what + " grad of input " + std::to_string(i));
      }
    }
  }
}

// Student logits (with gradient) and, for the teacher losses, teacher logits (constant).
std::vector<Tensor> student_teacher(const Case& cs, DType dt) {
  return {logits_for(cs.n, cs.c, 31, cs.scale, dt, false), logits_for(cs.n, cs.c, 32, cs.scale, dt, false)};
}

TEST(LossesCuda, CrossEntropyMatchesCpu) {
  NKD_REQUIRE_CUDA();
  for (double eps : {0.0, 0.1})
    compare_loss(
        "cross_entropy eps " + std::to_string(eps),
        [eps](const std::vector<Tensor>& x, const Tensor& l) {
          return std::vector<Tensor>{losses::cross_entropy(x[0], l, {.label_smoothing = eps})};
        },
        student_teacher, {true, false}, true, 1);
}

TEST(LossesCuda, KdMatchesCpu) {
  NKD_REQUIRE_CUDA();
  compare_loss(
      "kd",
      [](const std::vector<Tensor>& x, const Tensor&) {
        return std::vector<Tensor>{losses::kd_loss(x[0], x[1], {.temperature = 4, .alpha = 0.5})};
      },
      student_teacher, {true, false}, false, 1);
}

TEST(LossesCuda, NkdMatchesCpu) {
  NKD_REQUIRE_CUDA();
  for (double t : {1.0, 3.0})
    compare_loss(
        "nkd T " + std::to_string(t),
        [t](const std::vector<Tensor>& x, const Tensor& l) {
          return std::vector<Tensor>{losses::nkd_loss(x[0], x[1], l, {.temperature = t, .gamma = 1.5})};
        },
        student_teacher, {true, false}, true);
}

TEST(LossesCuda, TfNkdMatchesCpu) {
  NKD_REQUIRE_CUDA();
  compare_loss(
      "tf_nkd", [](const std::vector<Tensor>& x, const Tensor& l) { return losses::tf_nkd_loss(x[0], l); },
      student_teacher, {true, false}, true);
}

TEST(LossesCuda, DkdMatchesCpu) {
  NKD_REQUIRE_CUDA();
  compare_loss(
      "dkd",
      [](const std::vector<Tensor>& x, const Tensor& l) {
        return std::vector<Tensor>{losses::dkd_loss(x[0], x[1], l, {.temperature = 4, .alpha = 1, .beta = 8})};
      },
      student_teacher, {true, false}, false);
}

TEST(LossesCuda, UskdMatchesCpu) {
  NKD_REQUIRE_CUDA();
  // The weak head is ops::linear: skip (with the reason) while the engine has no CUDA matmul.
  try {
    (void)ops::linear(ones({2, 3}, {DType::F32, gpu()}), ones({4, 3}, {DType::F32, gpu()}));
  } catch (const Error& e) {
    GTEST_SKIP() << "ops::linear does not run on the GPU yet: " << e.what();
  }
  const auto inputs = [](const Case& cs, DType dt) {
    const int64_t d = 9;
    return std::vector<Tensor>{logits_for(cs.n, d, 41, 1.0, dt, false), logits_for(cs.n, cs.c, 31, cs.scale, dt, false),
                               logits_for(cs.c, d, 42, 0.5, dt, false), logits_for(1, cs.c, 43, 0.1, dt, false)
                                                                            .reshape({cs.c})};
  };
  for (bool log_rank : {false, true})
    compare_loss(
        std::string("uskd") + (log_rank ? " log ranking" : ""),
        [log_rank](const std::vector<Tensor>& x, const Tensor& l) {
          return std::vector<Tensor>{
              losses::uskd_loss(x[0], x[1], l, x[2], x[3], {.rank_with_log_probs = log_rank})};
        },
        inputs, {true, true, true, true}, true);
}

// Every registered loss (losses/registry.h), a new one too, at its defaults through its spec:
// inputs {student logits, teacher logits, mid feature, head weight, head bias}, the index labels
// for the hard ones and the test's labels (index or soft) as the targets.
TEST(LossesCuda, EveryRegisteredLossMatchesCpu) {
  NKD_REQUIRE_CUDA();
  for (const losses::LossSpec* spec : losses::registered_losses()) {
    if (spec->head) {
      try {
        (void)ops::linear(ones({2, 3}, {DType::F32, gpu()}), ones({4, 3}, {DType::F32, gpu()}));
      } catch (const Error& e) {
        std::printf("[ skipped  ] %s: ops::linear does not run on the GPU yet\n", spec->name.c_str());
        continue;
      }
    }
    const auto inputs = [](const Case& cs, DType dt) {
      const int64_t d = 9;
      return std::vector<Tensor>{logits_for(cs.n, cs.c, 31, cs.scale, dt, false),
                                 logits_for(cs.n, cs.c, 32, cs.scale, dt, false), logits_for(cs.n, d, 41, 1.0, dt, false),
                                 logits_for(cs.c, d, 42, 0.5, dt, false),
                                 logits_for(1, cs.c, 43, 0.1, dt, false).reshape({cs.c})};
    };
    const auto run = [spec](const std::vector<Tensor>& x, const Tensor& l) {
      losses::LossInputs in{.logits = x[0], .targets = l};
      in.labels = l.dtype() == DType::I64 ? l : index_labels(l.size(0), l.size(1), 35).to(l.device());
      if (spec->needs_teacher) in.teacher = x[1];
      if (spec->head) {
        in.mid_feature = x[2];
        in.head_weight = x[3];
        in.head_bias = x[4];
      }
      std::vector<Tensor> terms;
      for (auto& [name, t] : spec->compute(in, losses::default_config(*spec)).terms) terms.push_back(t);
      return terms;
    };
    const bool h = spec->head.has_value();
    compare_loss("registered " + spec->name, run, inputs, {true, false, h, h, h}, true);
  }
}

// Not a correctness test: prints the time of each loss (forward with fused gradients, then backward)
// at ImageNet's C = 1000, F32, N = 32 and 256, with one thread per row (the kernels before issue 16),
// one warp per row and one block per row, and the default choice (RowTeams{}), alternating the forms
// for 5 rounds and keeping each one's median; fails only when the default is absurdly slow (> 50 ms
// per step). tools/gpu_check.sh copies the "[ timing   ]" lines into its summary.
TEST(LossesCuda, TimingAtImageNetScale) {
  NKD_REQUIRE_CUDA();
  const int64_t c = 1000;
  using Step = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>;
  const std::vector<std::pair<const char*, RowTeams>> forms = {
      {"thread", kThreadRows}, {"warp", kWarpRows}, {"block", kBlockRows}, {"default", RowTeams{}}};
  for (int64_t n : {32, 256}) {
    Tensor z = logits_for(n, c, 31, 2.0, DType::F32, false).to(gpu());
    z.set_requires_grad(true);
    const Tensor v = logits_for(n, c, 32, 2.0, DType::F32, false).to(gpu());
    const Tensor labels = index_labels(n, c, 35).to(gpu());
    // USKD's weak head fc(fea_mid), fea_mid [N, 512] (ResNet-18's), a cuBLAS product in the step
    const Tensor mid = logits_for(n, 512, 41, 1.0, DType::F32, false).to(gpu());
    const Tensor fc_w = logits_for(c, 512, 42, 0.05, DType::F32, false).to(gpu());
    const Tensor fc_b = logits_for(1, c, 43, 0.1, DType::F32, false).reshape({c}).to(gpu());
    const std::vector<std::pair<std::string, Step>> losses_to_time = {
        {"CE", [](const Tensor& x, const Tensor&, const Tensor& l) { return losses::cross_entropy(x, l); }},
        {"KD", [](const Tensor& x, const Tensor& t, const Tensor&) { return losses::kd_loss(x, t); }},
        {"NKD", [](const Tensor& x, const Tensor& t, const Tensor& l) { return losses::nkd_loss(x, t, l); }},
        {"tf-NKD", [](const Tensor& x, const Tensor&, const Tensor& l) { return losses::tf_nkd_loss(x, l)[0]; }},
        {"DKD", [](const Tensor& x, const Tensor& t, const Tensor& l) { return losses::dkd_loss(x, t, l); }},
        {"USKD",
         [&](const Tensor& x, const Tensor&, const Tensor& l) { return losses::uskd_loss(mid, x, l, fc_w, fc_b); }},
        {"CE + NKD",
         [](const Tensor& x, const Tensor& t, const Tensor& l) {
           return ops::add(losses::cross_entropy(x, l), losses::nkd_loss(x, t, l));
         }}};
    for (const auto& [lname, loss] : losses_to_time) {
      const auto step = [&]() {
        z.zero_grad();
        loss(z, v, labels).backward();
      };
      const int steps = 20, rounds = 5;
      std::vector<std::vector<double>> ms(forms.size());
      for (int round = 0; round < rounds; ++round)
        for (size_t f = 0; f < forms.size(); ++f) {
          const RowTeamsGuard teams(forms[f].second);
          step();
          (void)z.grad().to(kCPU);  // SYNC: warm-up done
          const auto t0 = std::chrono::steady_clock::now();
          for (int i = 0; i < steps; ++i) step();
          (void)z.grad().to(kCPU);  // SYNC: every step done
          ms[f].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                          steps);
        }
      std::vector<double> median(forms.size());
      for (size_t f = 0; f < forms.size(); ++f) {
        std::sort(ms[f].begin(), ms[f].end());
        median[f] = ms[f][rounds / 2];
      }
      std::printf("[ timing   ] %-8s F32 [%3lld, %lld] forward + backward, ms (median of %d x %d steps): thread/row "
                  "%.3f, warp/row %.3f, block/row %.3f, default %.3f (%.1fx the thread rows)\n",
                  lname.c_str(), static_cast<long long>(n), static_cast<long long>(c), rounds, steps, median[0],
                  median[1], median[2], median[3], median[0] / median[3]);
      EXPECT_LT(median[3], 50.0) << lname;
    }
  }
}

TEST(LossesCuda, OutOfRangeLabelGivesNan) {
  NKD_REQUIRE_CUDA();
  const Tensor z = logits_for(4, 5, 31, 1.0, DType::F32, false).to(gpu());
  const Tensor bad = from_vector<int64_t>({0, 7, 1, 2}, {4}).to(gpu());
  EXPECT_TRUE(std::isnan(losses::cross_entropy(z, bad).item()));
  EXPECT_TRUE(std::isnan(losses::nkd_loss(z, z, bad).item()));
  EXPECT_FALSE(std::isnan(losses::cross_entropy(z, from_vector<int64_t>({0, 4, 1, 2}, {4}).to(gpu())).item()));
}

TEST(LossesCuda, MixedDevicesAreRejected) {
  NKD_REQUIRE_CUDA();
  const Tensor z = logits_for(4, 5, 31, 1.0, DType::F32, false);
  const Tensor labels = index_labels(4, 5, 35);
  EXPECT_THROW(losses::cross_entropy(z.to(gpu()), labels), Error);
  EXPECT_THROW(losses::kd_loss(z.to(gpu()), z), Error);
}

}  // namespace
}  // namespace nkd::testing
