// Op-table cases: dropout and drop_path. fn seeds its own Generator, so it is deterministic;
// PyTorch cannot reproduce our counter-based RNG, so each case's torch expression multiplies by
// the keep mask written out as a literal, computed here from the documented contract (unit u is
// kept iff random_uniform(seed, stream, first + u) > p) independently of the op's kernels.
#include <sstream>

#include "engine/ops/dropout.h"
#include "engine/random.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;

constexpr uint64_t kSeed = 20240613, kStream = 3, kFirst = 1000;

Generator case_generator() {
  Generator gen(kSeed, kStream);
  gen.set_offset(kFirst);
  return gen;
}

std::vector<int> keep_mask(int64_t units, double p) {
  std::vector<int> keep(units);
  for (int64_t u = 0; u < units; ++u) keep[u] = random_uniform(kSeed, kStream, kFirst + u) > p ? 1 : 0;
  return keep;
}

// "torch.tensor([1., 0., ...], dtype=torch.float64).reshape(a, b, ...)"
std::string torch_literal(const std::vector<int>& keep, const Shape& shape) {
  std::ostringstream os;
  os << "torch.tensor([";
  for (size_t i = 0; i < keep.size(); ++i) os << (i ? ", " : "") << keep[i] << ".";
  os << "], dtype=torch.float64).reshape(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ")";
  return os.str();
}

// y = x * keep(unit of element) / (1 - p), with `inner` elements per unit.
Tensor ref_masked(const Tensor& x, const std::vector<int>& keep, int64_t inner, double p) {
  HostArray h(x);
  for (size_t i = 0; i < h.v.size(); ++i) h.v[i] = keep[i / inner] ? h.v[i] / (1 - p) : 0.0;
  return h.tensor();
}

// Dropout of x (or of x transposed, a strided input: the mask follows the logical order).
void add_dropout(std::vector<OpCase>& cases, Shape s, double p, const std::string& p_str,
                 const std::string& tag, bool transposed = false) {
  const Shape logical = transposed ? Shape{s[1], s[0]} : s;
  const std::vector<int> keep = keep_mask(numel(s), p);
  const std::string xin = transposed ? "x0.t()" : "x0";
  cases.push_back({.op = "dropout",
                   .name = "dropout/" + tag,
                   .inputs = {{s}},
                   .fn = [=](const V& x) {
                     Generator gen = case_generator();
                     return V{ops::dropout(transposed ? x[0].transpose(0, 1) : x[0], p, true, gen)};
                   },
                   .reference = [=](const V& x) {
                     const Tensor in = transposed ? x[0].transpose(0, 1) : x[0];
                     return V{ref_masked(in, keep, 1, p)};
                   },
                   .torch = xin + " * " + torch_literal(keep, logical) + " / (1 - " + p_str + ")"});
}

void add_drop_path(std::vector<OpCase>& cases, Shape s, double p, const std::string& p_str,
                   const std::string& tag) {
  const std::vector<int> keep = keep_mask(s[0], p);
  Shape mask_shape(s.size(), 1);
  mask_shape[0] = s[0];
  const int64_t inner = numel(s) / s[0];
  cases.push_back({.op = "drop_path",
                   .name = "drop_path/" + tag,
                   .inputs = {{s}},
                   .fn = [=](const V& x) {
                     Generator gen = case_generator();
                     return V{ops::drop_path(x[0], p, true, gen)};
                   },
                   .reference = [=](const V& x) { return V{ref_masked(x[0], keep, inner, p)}; },
                   .torch = "x0 * " + torch_literal(keep, mask_shape) + " / (1 - " + p_str + ")"});
}

}  // namespace

NKD_OP_CASES(dropout) {
  add_dropout(cases, {4, 7}, 0.3, "0.3", "p0.3");
  add_dropout(cases, {3, 5, 3}, 0.5, "0.5", "p0.5_odd");
  add_dropout(cases, {5, 4}, 0.2, "0.2", "transposed_input", true);
  add_drop_path(cases, {6, 3, 2, 3}, 0.4, "0.4", "nchw");
  add_drop_path(cases, {5, 4}, 0.5, "0.5", "tokens");
  add_drop_path(cases, {1, 2, 3}, 0.25, "0.25", "batch1");
}

}  // namespace nkd::testing
