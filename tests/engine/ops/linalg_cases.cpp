// Op-table cases: matmul (2-D, batched, broadcast batch dims, 1-D operands, transposed views),
// bmm and linear, against naive triple-loop references and torch.matmul / torch.bmm / F.linear.
#include <algorithm>
#include <tuple>

#include "engine/ops/matmul.h"
#include "engine/ops/view.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;

// torch.matmul by coordinates: 1-D operands promoted, batch dims broadcast, sums in double.
Tensor ref_matmul(const Tensor& at, const Tensor& bt) {
  HostArray a(at), b(bt);
  const bool a1 = a.shape.size() == 1, b1 = b.shape.size() == 1;
  if (a1) a.shape.insert(a.shape.begin(), 1);
  if (b1) b.shape.push_back(1);
  const size_t nd = std::max(a.shape.size(), b.shape.size());
  while (a.shape.size() < nd) a.shape.insert(a.shape.begin(), 1);
  while (b.shape.size() < nd) b.shape.insert(b.shape.begin(), 1);
  const int64_t m = a.shape[nd - 2], k = a.shape[nd - 1], n = b.shape[nd - 1];
  Shape out(nd);
  for (size_t d = 0; d + 2 < nd; ++d) out[d] = std::max(a.shape[d], b.shape[d]);
  out[nd - 2] = m;
  out[nd - 1] = n;
  HostArray c(out);
  for_each_index(out, [&](const std::vector<int64_t>& idx) {
    std::vector<int64_t> ia = idx, ib = idx;
    for (size_t d = 0; d + 2 < nd; ++d) {
      if (a.shape[d] == 1) ia[d] = 0;
      if (b.shape[d] == 1) ib[d] = 0;
    }
    double s = 0;
    for (int64_t t = 0; t < k; ++t) {
      ia[nd - 1] = t;
      ib[nd - 2] = t;
      s += a.at(ia) * b.at(ib);
    }
    c.at(idx) = s;
  });
  if (b1) c.shape.pop_back();
  if (a1) c.shape.erase(c.shape.end() - (b1 ? 1 : 2));
  return c.tensor();
}

// x @ w^T + b over the last dim of x.
Tensor ref_linear(const Tensor& xt, const Tensor& wt, const Tensor* bt) {
  const HostArray x(xt), w(wt);
  const int64_t in = w.shape[1], out = w.shape[0], rows = static_cast<int64_t>(x.v.size()) / in;
  const std::vector<double> b = bt ? HostArray(*bt).v : std::vector<double>(out, 0.0);
  Shape ys = x.shape;
  ys.back() = out;
  HostArray y(ys);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b[o];
      for (int64_t i = 0; i < in; ++i) s += x.v[r * in + i] * w.v[o * in + i];
      y.v[r * out + o] = s;
    }
  return y.tensor();
}

void add_matmul(std::vector<OpCase>& cases, const std::string& tag, Shape a, Shape b) {
  cases.push_back({.op = "matmul",
                   .name = "matmul/" + tag,
                   .inputs = {{a}, {b}},
                   .fn = [](const V& x) { return V{ops::matmul(x[0], x[1])}; },
                   .reference = [](const V& x) { return V{ref_matmul(x[0], x[1])}; },
                   .torch = "torch.matmul(x0, x1)"});
}

// matmul of two views of the inputs (views(x) gives them); the reference sees contiguous copies.
void add_matmul_views(std::vector<OpCase>& cases, const std::string& tag, Shape a, Shape b,
                      const std::string& torch, V (*views)(const V&)) {
  cases.push_back({.op = "matmul",
                   .name = "matmul/" + tag,
                   .inputs = {{a}, {b}},
                   .fn = [views](const V& x) {
                     const V v = views(x);
                     return V{ops::matmul(v[0], v[1])};
                   },
                   .reference = [views](const V& x) {
                     const V v = views(x);
                     return V{ref_matmul(v[0].contiguous(), v[1].contiguous())};
                   },
                   .torch = torch});
}

}  // namespace

NKD_OP_CASES(linalg) {
  add_matmul(cases, "2d", {3, 4}, {4, 5});
  add_matmul(cases, "batched", {2, 3, 4}, {2, 4, 5});
  add_matmul(cases, "batch1", {1, 3, 4}, {1, 4, 2});
  add_matmul(cases, "broadcast_batch", {2, 1, 3, 4}, {3, 4, 2});
  add_matmul(cases, "3d_by_2d", {2, 3, 4}, {4, 5});
  add_matmul(cases, "2d_by_3d", {3, 4}, {2, 4, 5});
  add_matmul(cases, "1d_by_2d", {4}, {4, 3});
  add_matmul(cases, "2d_by_1d", {3, 4}, {4});
  add_matmul(cases, "1d_by_1d", {5}, {5});
  add_matmul(cases, "1d_by_3d", {3}, {2, 3, 4});
  add_matmul(cases, "inner1", {3, 1}, {1, 4});
  // Transposed and strided views go to BLAS in place (column-major / leading-dim paths).
  add_matmul_views(cases, "transposed_views", {2, 4, 3}, {5, 4}, "torch.matmul(x0.transpose(-1, -2), x1.t())",
                   [](const V& x) { return V{ops::transpose(x[0], -1, -2), ops::transpose(x[1], 0, 1)}; });
  add_matmul_views(cases, "narrowed_rows", {3, 6}, {6, 4}, "torch.matmul(x0[:, 1:5], x1[2:6])",
                   [](const V& x) { return V{ops::narrow(x[0], 1, 1, 4), ops::narrow(x[1], 0, 2, 4)}; });

  for (auto [tag, a, b] : {std::tuple<const char*, Shape, Shape>{"b2", {2, 3, 4}, {2, 4, 5}},
                           {"b1_n1", {1, 2, 3}, {1, 3, 1}}}) {
    cases.push_back({.op = "bmm",
                     .name = std::string("bmm/") + tag,
                     .inputs = {{a}, {b}},
                     .fn = [](const V& x) { return V{ops::bmm(x[0], x[1])}; },
                     .reference = [](const V& x) { return V{ref_matmul(x[0], x[1])}; },
                     .torch = "torch.bmm(x0, x1)"});
  }

  struct L { const char* tag; Shape x, w; bool bias; };
  for (const L& l : {L{"3d_bias", {2, 3, 4}, {5, 4}, true}, L{"2d_nobias", {3, 4}, {2, 4}, false},
                     L{"1d_bias", {4}, {3, 4}, true}, L{"batch1_out1", {1, 6}, {1, 6}, true}}) {
    std::vector<InputSpec> in = {{l.x}, {l.w}};
    if (l.bias) in.push_back({{l.w[0]}});
    const bool bias = l.bias;
    cases.push_back({.op = "linear",
                     .name = std::string("linear/") + l.tag,
                     .inputs = in,
                     .fn = [bias](const V& x) { return V{ops::linear(x[0], x[1], bias ? x[2] : Tensor())}; },
                     .reference = [bias](const V& x) {
                       return V{ref_linear(x[0], x[1], bias ? &x[2] : nullptr)};
                     },
                     .torch = bias ? "F.linear(x0, x1, x2)" : "F.linear(x0, x1)"});
  }
}

}  // namespace nkd::testing
