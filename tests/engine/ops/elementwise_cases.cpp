// Op-table cases: pointwise arithmetic, activations, reductions and views.
#include <cmath>

#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/view.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;
using K = InputKind;

void binary(std::vector<OpCase>& cases, const std::string& op, Tensor (*f)(const Tensor&, const Tensor&),
            double (*ref)(double, double), const std::string& torch_op, Shape a, Shape b, K kb,
            const std::string& tag) {
  cases.push_back({.op = op,
                   .name = op + "/" + tag,
                   .inputs = {{a}, {b, kb}},
                   .fn = [f](const V& x) { return V{f(x[0], x[1])}; },
                   .reference = [ref](const V& x) { return V{ref_binary(x[0], x[1], ref)}; },
                   .torch = "torch." + torch_op + "(x0, x1)"});
}

template <typename F>
void unary(std::vector<OpCase>& cases, const std::string& op, F f, double (*ref)(double),
           const std::string& torch, Shape s, K kind) {
  cases.push_back({.op = op,
                   .name = op + "/" + to_string(s),
                   .inputs = {{s, kind}},
                   .fn = [f](const V& x) { return V{f(x[0])}; },
                   .reference = [ref](const V& x) { return V{ref_unary(x[0], ref)}; },
                   .torch = torch});
}

}  // namespace

NKD_OP_CASES(elementwise) {
  auto add = [](double a, double b) { return a + b; };
  auto sub = [](double a, double b) { return a - b; };
  auto mul = [](double a, double b) { return a * b; };
  auto div = [](double a, double b) { return a / b; };
  using Bin = Tensor (*)(const Tensor&, const Tensor&);
  struct B { const char* op; Bin f; double (*ref)(double, double); const char* torch; K kb; };
  const B ops[] = {{"add", static_cast<Bin>(ops::add), add, "add", K::Normal},
                   {"sub", ops::sub, sub, "sub", K::Normal},
                   {"mul", static_cast<Bin>(ops::mul), mul, "mul", K::Normal},
                   {"div", ops::div, div, "div", K::Positive}};
  for (const B& b : ops) {
    binary(cases, b.op, b.f, b.ref, b.torch, {3, 5}, {3, 5}, b.kb, "same");
    binary(cases, b.op, b.f, b.ref, b.torch, {2, 3, 1, 5}, {4, 1}, b.kb, "broadcast_both");
    binary(cases, b.op, b.f, b.ref, b.torch, {1}, {2, 3}, b.kb, "scalar_like");
  }
  unary(cases, "add_scalar", [](const Tensor& x) { return ops::add(x, 2.5); },
        [](double x) { return x + 2.5; }, "x0 + 2.5", {3, 4}, K::Normal);
  unary(cases, "mul_scalar", [](const Tensor& x) { return ops::mul(x, -1.5); },
        [](double x) { return x * -1.5; }, "x0 * -1.5", {3, 4}, K::Normal);
  unary(cases, "neg", [](const Tensor& x) { return ops::neg(x); }, [](double x) { return -x; },
        "-x0", {5}, K::Normal);
  unary(cases, "exp", [](const Tensor& x) { return ops::exp(x); }, [](double x) { return std::exp(x); },
        "torch.exp(x0)", {2, 3}, K::Normal);
  unary(cases, "log", [](const Tensor& x) { return ops::log(x); }, [](double x) { return std::log(x); },
        "torch.log(x0)", {2, 3}, K::Positive);
  unary(cases, "sqrt", [](const Tensor& x) { return ops::sqrt(x); },
        [](double x) { return std::sqrt(x); }, "torch.sqrt(x0)", {2, 3}, K::Positive);
  unary(cases, "pow", [](const Tensor& x) { return ops::pow(x, 3.0); },
        [](double x) { return x * x * x; }, "x0 ** 3", {2, 3}, K::Positive);
}

NKD_OP_CASES(activation) {
  const Shape s = {2, 3, 5};
  unary(cases, "relu", [](const Tensor& x) { return ops::relu(x); },
        [](double x) { return x > 0 ? x : 0.0; }, "torch.relu(x0)", s, K::Kinkless);
  // relu6 needs values beyond 6 to exercise the upper clamp.
  unary(cases, "relu6", [](const Tensor& x) { return ops::relu6(ops::mul(x, 4.0)); },
        [](double x) { return std::min(std::max(4 * x, 0.0), 6.0); }, "F.relu6(x0 * 4)", s, K::Kinkless);
  unary(cases, "gelu", [](const Tensor& x) { return ops::gelu(x); },
        [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, "F.gelu(x0)", s, K::Normal);
  unary(cases, "sigmoid", [](const Tensor& x) { return ops::sigmoid(ops::mul(x, 10.0)); },
        [](double x) { return 1 / (1 + std::exp(-10 * x)); }, "torch.sigmoid(x0 * 10)", s, K::Normal);
  unary(cases, "tanh", [](const Tensor& x) { return ops::tanh(x); },
        [](double x) { return std::tanh(x); }, "torch.tanh(x0)", s, K::Normal);
}

namespace {
// Reference reduction over `dims` (sum, mean or max) by coordinates.
Tensor ref_reduce(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, char kind) {
  const HostArray h(x);
  Shape keep = h.shape, out;
  for (int64_t d : dims) keep[d] = 1;
  for (size_t d = 0; d < keep.size(); ++d)
    if (keepdim || std::find(dims.begin(), dims.end(), static_cast<int64_t>(d)) == dims.end())
      out.push_back(keep[d]);
  HostArray r(keep, kind == 'x' ? -INFINITY : 0.0);
  int64_t count = h.v.size() / numel(keep);
  for_each_index(h.shape, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> j = idx;
    for (int64_t d : dims) j[d] = 0;
    double& acc = r.at(j);
    acc = kind == 'x' ? std::max(acc, h.at(idx)) : acc + h.at(idx);
  });
  if (kind == 'm')
    for (double& e : r.v) e /= static_cast<double>(count);
  r.shape = out;
  return r.tensor();
}

void reduce(std::vector<OpCase>& cases, const std::string& op, char kind, Shape s,
            std::vector<int64_t> dims, bool keepdim, const std::string& torch) {
  Tensor (*f)(const Tensor&, const std::vector<int64_t>&, bool) =
      kind == 's' ? ops::sum : kind == 'm' ? ops::mean : ops::max;
  cases.push_back({.op = op,
                   .name = op + "/" + to_string(s) + "_dims" + std::to_string(dims.size()) +
                           (keepdim ? "_keep" : ""),
                   .inputs = {{s, kind == 'x' ? K::Distinct : K::Normal}},
                   .fn = [=](const V& x) { return V{f(x[0], dims, keepdim)}; },
                   .reference = [=](const V& x) { return V{ref_reduce(x[0], dims, keepdim, kind)}; },
                   .torch = torch});
}
}  // namespace

NKD_OP_CASES(reduce) {
  reduce(cases, "sum", 's', {2, 3, 4}, {0, 2}, false, "x0.sum(dim=(0, 2))");
  reduce(cases, "sum", 's', {3, 5}, {1}, true, "x0.sum(dim=1, keepdim=True)");
  reduce(cases, "sum", 's', {2, 3}, {0, 1}, false, "x0.sum()");
  reduce(cases, "mean", 'm', {2, 3, 5}, {1}, false, "x0.mean(dim=1)");
  reduce(cases, "mean", 'm', {4, 3, 3, 2}, {0, 2, 3}, true, "x0.mean(dim=(0, 2, 3), keepdim=True)");
  reduce(cases, "max", 'x', {3, 7}, {1}, false, "x0.amax(dim=1)");
  reduce(cases, "max", 'x', {2, 3, 4}, {0, 2}, true, "x0.amax(dim=(0, 2), keepdim=True)");
}

NKD_OP_CASES(view) {
  // Each view is followed by a pointwise op so the gradient through a strided view is exercised.
  auto add_case = [&](const std::string& op, const std::string& tag, Shape s,
                      std::function<Tensor(const Tensor&)> f, std::function<Tensor(const Tensor&)> ref,
                      const std::string& torch) {
    cases.push_back({.op = op,
                     .name = op + "/" + tag,
                     .inputs = {{s}},
                     .fn = [f](const V& x) { return V{ops::mul(f(x[0]), 3.0)}; },
                     .reference = [ref](const V& x) { return V{ops::mul(ref(x[0]), 3.0)}; },
                     .torch = "(" + torch + ") * 3"});
  };
  // References rebuild the expected values by coordinates from a host copy.
  add_case("reshape", "2x3x4_to_4x6", {2, 3, 4}, [](const Tensor& x) { return x.reshape({4, -1}); },
           [](const Tensor& x) { HostArray h(x); h.shape = {4, 6}; return h.tensor(); },
           "x0.reshape(4, -1)");
  add_case("reshape", "of_transposed", {3, 4},
           [](const Tensor& x) { return x.transpose(0, 1).reshape({12}); },
           [](const Tensor& x) {
             HostArray h(x), r(Shape{12});
             for_each_index({4, 3}, [&](const std::vector<int64_t>& i) { r.v[i[0] * 3 + i[1]] = h.at({i[1], i[0]}); });
             return r.tensor();
           },
           "x0.t().reshape(12)");
  add_case("permute", "nchw_to_nhwc", {2, 3, 2, 5}, [](const Tensor& x) { return x.permute({0, 2, 3, 1}); },
           [](const Tensor& x) {
             HostArray h(x), r(Shape{2, 2, 5, 3});
             for_each_index(r.shape, [&](const std::vector<int64_t>& i) { r.at(i) = h.at({i[0], i[3], i[1], i[2]}); });
             return r.tensor();
           },
           "x0.permute(0, 2, 3, 1)");
  add_case("transpose", "last_two", {2, 3, 4}, [](const Tensor& x) { return x.transpose(-1, -2); },
           [](const Tensor& x) {
             HostArray h(x), r(Shape{2, 4, 3});
             for_each_index(r.shape, [&](const std::vector<int64_t>& i) { r.at(i) = h.at({i[0], i[2], i[1]}); });
             return r.tensor();
           },
           "x0.transpose(-1, -2)");
  add_case("narrow", "dim1", {3, 7}, [](const Tensor& x) { return x.narrow(1, 2, 4); },
           [](const Tensor& x) {
             HostArray h(x), r(Shape{3, 4});
             for_each_index(r.shape, [&](const std::vector<int64_t>& i) { r.at(i) = h.at({i[0], i[1] + 2}); });
             return r.tensor();
           },
           "x0.narrow(1, 2, 4)");
  add_case("expand", "3x1_to_2x3x4", {3, 1}, [](const Tensor& x) { return x.expand({2, 3, 4}); },
           [](const Tensor& x) {
             HostArray h(x), r(Shape{2, 3, 4});
             for_each_index(r.shape, [&](const std::vector<int64_t>& i) { r.at(i) = h.at({i[1], 0}); });
             return r.tensor();
           },
           "x0.expand(2, 3, 4)");
  add_case("contiguous", "of_permuted", {2, 3, 4},
           [](const Tensor& x) { return x.permute({2, 0, 1}).contiguous(); },
           [](const Tensor& x) {
             HostArray h(x), r(Shape{4, 2, 3});
             for_each_index(r.shape, [&](const std::vector<int64_t>& i) { r.at(i) = h.at({i[1], i[2], i[0]}); });
             return r.tensor();
           },
           "x0.permute(2, 0, 1).contiguous()");
}

}  // namespace nkd::testing
