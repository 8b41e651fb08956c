// Op-table cases: softmax and log_softmax over the last dim, dim 0, a middle dim, C = 2, and
// logits of magnitude ~1e4 (saturated rows must stay finite and exact).
#include <cmath>

#include "engine/ops/elementwise.h"
#include "engine/ops/softmax.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;

// Naive softmax / log-softmax along dim d by coordinates, in double.
Tensor ref_softmax(const Tensor& x, int64_t d, bool log, double scale) {
  HostArray h(x), r(x.shape());
  if (d < 0) d += static_cast<int64_t>(h.shape.size());
  for (double& e : h.v) e *= scale;
  for_each_index(h.shape, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> j = idx;
    double m = -INFINITY, s = 0;
    for (j[d] = 0; j[d] < h.shape[d]; ++j[d]) m = std::max(m, h.at(j));
    for (j[d] = 0; j[d] < h.shape[d]; ++j[d]) s += std::exp(h.at(j) - m);
    r.at(idx) = log ? h.at(idx) - m - std::log(s) : std::exp(h.at(idx) - m) / s;
  });
  return r.tensor();
}

void add(std::vector<OpCase>& cases, bool log, Shape s, int64_t dim, const std::string& tag,
         double scale = 1.0) {
  const std::string op = log ? "log_softmax" : "softmax";
  const std::string arg = scale == 1.0 ? "x0" : "x0 * 1e4";
  OpCase c{.op = op,
           .name = op + "/" + tag,
           .inputs = {{s}},
           .fn = [=](const V& x) {
             const Tensor in = scale == 1.0 ? x[0] : ops::mul(x[0], scale);
             return V{log ? ops::log_softmax(in, dim) : ops::softmax(in, dim)};
           },
           .reference = [=](const V& x) { return V{ref_softmax(x[0], dim, log, scale)}; },
           .torch = "torch." + op + "(" + arg + ", dim=" + std::to_string(dim) + ")"};
  // Scaled logits: a step of 1e-4 moves a logit by 1, far below the gaps between them, so the
  // (piecewise linear) log-softmax is differenced exactly.
  if (scale != 1.0) c.eps = 1e-4;
  cases.push_back(c);
}

}  // namespace

NKD_OP_CASES(softmax) {
  for (bool log : {false, true}) {
    add(cases, log, {3, 5}, -1, "last_dim");
    add(cases, log, {4, 3}, 0, "dim0");
    add(cases, log, {2, 3, 2, 3}, 1, "dim1_of_4d");
    add(cases, log, {5, 2}, 1, "C2");
    add(cases, log, {1, 7}, -1, "batch1_odd");
    add(cases, log, {3, 6}, -1, "logits_1e4", 1e4);
  }
}

}  // namespace nkd::testing
