// Autograd gradients of the losses against the closed forms of NKD_SPEC.md (1.5 NKD, 2.1 tf-NKD, 2.2
// USKD, 3 KD), recomputed here from plain softmax loops on host vectors, in F64 to 1e-12.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "losses/losses.h"
#include "tests/losses/loss_inputs.h"

namespace nkd::testing {
namespace {

using Vec = std::vector<double>;
constexpr double kTol = 1e-12;

// softmax(x / t) over the columns not skipped; skipped columns get 0.
Vec softmax(const Vec& x, double t = 1, int64_t skip0 = -1, int64_t skip1 = -1) {
  double m = -HUGE_VAL, s = 0;
  const auto kept = [&](size_t j) { return static_cast<int64_t>(j) != skip0 && static_cast<int64_t>(j) != skip1; };
  for (size_t j = 0; j < x.size(); ++j)
    if (kept(j)) m = std::max(m, x[j] / t);
  Vec y(x.size(), 0.0);
  for (size_t j = 0; j < x.size(); ++j)
    if (kept(j)) s += (y[j] = std::exp(x[j] / t - m));
  for (double& e : y) e /= s;
  return y;
}

Vec row(const Tensor& t, int64_t r) {
  const Vec v = to_vector<double>(t.detach());
  const int64_t c = t.size(1);
  return Vec(v.begin() + r * c, v.begin() + (r + 1) * c);
}

void expect_grad(const Tensor& x, const Vec& expected) {
  const Vec g = to_vector<double>(x.grad());
  ASSERT_EQ(g.size(), expected.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], expected[i], kTol) << "element " << i;
}

TEST(LossClosedForm, KdIsAlphaTTimesSoftmaxDifference) {
  const int64_t n = 5, c = 6;
  const double t = 4, alpha = 0.5;
  const Tensor z = logits_for(n, c, 1), v = logits_for(n, c, 2, 3.0, DType::F64, false);
  losses::kd_loss(z, v, {.temperature = t, .alpha = alpha}).backward();
  Vec expected;
  for (int64_t r = 0; r < n; ++r) {
    const Vec p = softmax(row(z, r), t), q = softmax(row(v, r), t);
    for (int64_t j = 0; j < c; ++j) expected.push_back(alpha * t * (p[j] - q[j]) / n);
  }
  expect_grad(z, expected);
}

TEST(LossClosedForm, NkdMatchesSpec15) {
  const int64_t n = 5, c = 7;
  for (const double t : {1.0, 3.0}) {
    const double gamma = 1.5;
    const Tensor z = logits_for(n, c, 3), v = logits_for(n, c, 4, 3.0, DType::F64, false);
    const Tensor y = index_labels(n, c, 5);
    losses::nkd_loss(z, v, y, {.temperature = t, .gamma = gamma}).backward();
    const std::vector<int64_t> lab = to_vector<int64_t>(y);
    Vec expected;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t tg = lab[r];
      const Vec p = softmax(row(z, r)), q = softmax(row(v, r));
      const Vec ph = softmax(row(z, r), t, tg), qh = softmax(row(v, r), t, tg);
      for (int64_t j = 0; j < c; ++j)
        expected.push_back((q[tg] * (p[j] - (j == tg)) + (j != tg) * gamma * t * (ph[j] - qh[j])) / n);
    }
    expect_grad(z, expected);
  }
}

// tf-NKD, per term k: d loss_k / dz_j = w_k (p_j - delta_{j l_k}) / N, w_k = y_k + lambda_k - mean_N(y_k).
void check_tf_nkd(const Tensor& labels, const std::vector<std::vector<int64_t>>& cls, const std::vector<Vec>& lam) {
  const int64_t n = labels.size(0), c = 6;
  const int k = static_cast<int>(cls.size());
  for (int term = 0; term < k; ++term) {
    const Tensor z = logits_for(n, c, 6);
    const std::vector<Tensor> out = losses::tf_nkd_loss(z, labels);
    ASSERT_EQ(static_cast<int>(out.size()), k);
    out[term].backward();
    double mean = 0;
    for (int64_t r = 0; r < n; ++r) mean += softmax(row(z, r))[cls[term][r]] / n;
    Vec expected;
    for (int64_t r = 0; r < n; ++r) {
      const Vec p = softmax(row(z, r));
      const int64_t l = cls[term][r];
      const double w = lam[term][r] == 0 ? 0.0 : p[l] + lam[term][r] - mean;
      for (int64_t j = 0; j < c; ++j) expected.push_back(w * (p[j] - (j == l)) / n);
    }
    SCOPED_TRACE("term " + std::to_string(term));
    expect_grad(z, expected);
  }
}

TEST(LossClosedForm, TfNkdMatchesSpec21) {
  const int64_t n = 4, c = 6;
  const Tensor y = index_labels(n, c, 7);
  check_tf_nkd(y, {to_vector<int64_t>(y)}, {Vec(n, 1.0)});
  // Soft rows: row 0 = 0.7 e_2 + 0.3 e_5; row 1 = e_4 (second class: the smallest zero index, value 0);
  // row 2 = 0.6 e_0 + 0.4 e_1; row 3 = 0.9 e_5 + 0.1 e_3.
  Vec s(n * c, 0.0);
  s[0 * c + 2] = 0.7, s[0 * c + 5] = 0.3, s[1 * c + 4] = 1, s[2 * c + 0] = 0.6, s[2 * c + 1] = 0.4;
  s[3 * c + 5] = 0.9, s[3 * c + 3] = 0.1;
  check_tf_nkd(from_vector(s, {n, c}), {{2, 4, 0, 5}, {5, 0, 1, 3}}, {{0.7, 1, 0.6, 0.9}, {0.3, 0, 0.4, 0.1}});
}

// Zipf non-target labels of one row (NKD_SPEC 2.2 steps 5-6, probability ranking): 0 at the targets.
Vec zipf_labels(const Vec& s, const Vec& w, const std::vector<int64_t>& tg) {
  double sk = 0, wk = 0;
  for (int64_t l : tg) sk += s[l], wk += w[l];
  const int64_t c = static_cast<int64_t>(s.size());
  Vec score(c);
  for (int64_t j = 0; j < c; ++j) score[j] = w[j] / (1 - wk + 1e-6) + s[j] / (1 - sk + 1e-6);
  std::vector<int64_t> order(c);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return score[a] > score[b]; });
  Vec nz(c, 0.0);
  double total = 0;
  for (int64_t p = 0; p < c; ++p) {
    if (std::find(tg.begin(), tg.end(), order[p]) != tg.end()) continue;
    total += (nz[order[p]] = 1.0 / static_cast<double>(p + 1));
  }
  for (double& e : nz) e /= total;
  return nz;
}

TEST(LossClosedForm, UskdMatchesSpec22HardLabels) {
  const int64_t n = 5, c = 7, d = 4;
  const double alpha = 1, beta = 0.1, mu = 0.005;
  const Tensor z = logits_for(n, c, 8), h = logits_for(n, d, 9, 1.0), w = logits_for(c, d, 10, 0.5);
  Tensor b = logits_for(1, c, 11, 0.2, DType::F64, false).reshape({c});
  b.set_requires_grad(true);
  const Tensor y = index_labels(n, c, 12);
  losses::uskd_loss(h, z, y, w, b, {.alpha = alpha, .beta = beta, .mu = mu}).backward();
  const std::vector<int64_t> lab = to_vector<int64_t>(y);
  const Vec hv = to_vector<double>(h.detach()), wv = to_vector<double>(w.detach()), bv = to_vector<double>(b.detach());
  double mean_sq = 0;
  for (int64_t r = 0; r < n; ++r) mean_sq += std::pow(softmax(row(z, r))[lab[r]], 2) / n;
  Vec gz, gh(n * d, 0.0), gw(c * d, 0.0), gb(c, 0.0);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t t = lab[r];
    Vec u(c);
    for (int64_t j = 0; j < c; ++j) {
      u[j] = bv[j];
      for (int64_t e = 0; e < d; ++e) u[j] += wv[j * d + e] * hv[r * d + e];
    }
    const Vec p = softmax(row(z, r)), wsm = softmax(u), sh = softmax(row(z, r), 1, t);
    const Vec nz = zipf_labels(p, wsm, {t});
    const double pt = p[t] * p[t] + 1 - mean_sq;
    for (int64_t j = 0; j < c; ++j) {
      gz.push_back((alpha * pt * (p[j] - (j == t)) + (j != t) * beta * (sh[j] - nz[j])) / n);
      const double gu = mu * (wsm[j] - (0.9 * (j == t) + 0.1 / c)) / n;
      gb[j] += gu;
      for (int64_t e = 0; e < d; ++e) gw[j * d + e] += gu * hv[r * d + e], gh[r * d + e] += gu * wv[j * d + e];
    }
  }
  expect_grad(z, gz);
  expect_grad(h, gh);
  expect_grad(w, gw);
  expect_grad(b, gb);
}

TEST(LossClosedForm, UskdTargetTermMatchesSpec22SoftLabels) {
  // beta = mu = 0 isolates alpha [(p_a + p_b) p_j - p_a delta_ja - p_b delta_jb] / N.
  const int64_t n = 3, c = 5;
  const Tensor z = logits_for(n, c, 13), h = logits_for(n, 2, 14, 1.0, DType::F64, false);
  const Tensor w = logits_for(c, 2, 15, 1.0, DType::F64, false), b = zeros({c}, {DType::F64, kCPU});
  Vec s(n * c, 0.0);
  s[0 * c + 1] = 0.8, s[0 * c + 3] = 0.2, s[1 * c + 0] = 1, s[2 * c + 4] = 0.55, s[2 * c + 2] = 0.45;
  const std::vector<std::vector<int64_t>> cls{{1, 0, 4}, {3, 1, 2}};
  const std::vector<Vec> lam{{0.8, 1, 0.55}, {0.2, 0, 0.45}};
  const double alpha = 1.7;
  losses::uskd_loss(h, z, from_vector(s, {n, c}), w, b, {.alpha = alpha, .beta = 0, .mu = 0}).backward();
  Vec mean(2, 0.0);
  for (int k = 0; k < 2; ++k)
    for (int64_t r = 0; r < n; ++r) mean[k] += std::pow(softmax(row(z, r))[cls[k][r]], 2) / n;
  Vec expected;
  for (int64_t r = 0; r < n; ++r) {
    const Vec p = softmax(row(z, r));
    double pk[2];
    for (int k = 0; k < 2; ++k)
      pk[k] = lam[k][r] == 0 ? 0 : std::pow(p[cls[k][r]], 2) + lam[k][r] - mean[k];
    for (int64_t j = 0; j < c; ++j)
      expected.push_back(alpha * ((pk[0] + pk[1]) * p[j] - pk[0] * (j == cls[0][r]) - pk[1] * (j == cls[1][r])) / n);
  }
  expect_grad(z, expected);
}

}  // namespace
}  // namespace nkd::testing
