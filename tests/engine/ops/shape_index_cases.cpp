// Op-table cases: gather, scatter, index_select, one_hot. Random Index inputs give duplicate
// indices; cases that need exact positions (duplicates on purpose, scatter without collisions)
// build their index from a literal that the PyTorch expression spells out too.
#include "engine/factory.h"
#include "engine/ops/shape_ops.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;
using Idx = std::vector<int64_t>;
using K = InputKind;

// An I64 index given by its values: the tensor for fn (on the device of the op's input, so the
// GPU parity run keeps every operand on the GPU) and the same tensor as a torch expression.
struct Literal {
  Idx v;
  Shape shape;
  Tensor tensor(Device device = kCPU) const { return from_vector(v, shape).to(device); }
  std::string torch() const {
    std::string s = "torch.tensor([";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    s += "]).reshape(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
  }
};

int64_t norm(int64_t dim, size_t ndim) { return dim < 0 ? dim + static_cast<int64_t>(ndim) : dim; }

Tensor ref_gather(const Tensor& x, int64_t d, const Tensor& index) {
  const HostArray h(x), hi(index);
  HostArray r(hi.shape);
  for_each_index(hi.shape, [&](const Idx& idx) {
    Idx j = idx;
    j[d] = static_cast<int64_t>(hi.at(idx));
    r.at(idx) = h.at(j);
  });
  return r.tensor();
}

Tensor ref_scatter(const Tensor& x, int64_t d, const Tensor& index, const Tensor& src) {
  HostArray r(x);
  const HostArray hi(index), hs(src);
  for_each_index(hi.shape, [&](const Idx& idx) {
    Idx j = idx;
    j[d] = static_cast<int64_t>(hi.at(idx));
    r.at(j) = hs.at(idx);
  });
  return r.tensor();
}

Tensor ref_index_select(const Tensor& x, int64_t d, const Tensor& index) {
  const HostArray h(x), hi(index);
  Shape out = h.shape;
  out[d] = static_cast<int64_t>(hi.v.size());
  HostArray r(out);
  for_each_index(out, [&](const Idx& idx) {
    Idx j = idx;
    j[d] = static_cast<int64_t>(hi.v[idx[d]]);
    r.at(idx) = h.at(j);
  });
  return r.tensor();
}

Tensor ref_one_hot(const Tensor& index, int64_t classes) {
  const HostArray hi(index);
  Shape out = hi.shape;
  out.push_back(classes);
  HostArray r(out);
  for (size_t i = 0; i < hi.v.size(); ++i) r.v[i * classes + static_cast<int64_t>(hi.v[i])] = 1.0;
  return r.tensor();
}

void gather_case(std::vector<OpCase>& cases, const std::string& tag, Shape x, Shape index, int64_t dim) {
  const int64_t d = norm(dim, x.size());
  cases.push_back({.op = "gather",
                   .name = "gather/" + tag,
                   .inputs = {{x}, {index, K::Index, false, x[d]}},
                   .fn = [=](const V& in) { return V{ops::gather(in[0], dim, in[1])}; },
                   .reference = [=](const V& in) { return V{ref_gather(in[0], d, in[1])}; },
                   .torch = "torch.gather(x0, " + std::to_string(dim) + ", x1)"});
}

void gather_literal_case(std::vector<OpCase>& cases, const std::string& tag, Shape x, Literal index, int64_t dim) {
  const int64_t d = norm(dim, x.size());
  cases.push_back({.op = "gather",
                   .name = "gather/" + tag,
                   .inputs = {{x}},
                   .fn = [=](const V& in) { return V{ops::gather(in[0], dim, index.tensor(in[0].device()))}; },
                   .reference = [=](const V& in) { return V{ref_gather(in[0], d, index.tensor())}; },
                   .torch = "torch.gather(x0, " + std::to_string(dim) + ", " + index.torch() + ")"});
}

// Scatter with an index that never writes one position twice (the forward is then unambiguous).
void scatter_case(std::vector<OpCase>& cases, const std::string& tag, Shape x, Literal index, int64_t dim) {
  const int64_t d = norm(dim, x.size());
  cases.push_back({.op = "scatter",
                   .name = "scatter/" + tag,
                   .inputs = {{x}, {index.shape}},
                   .fn = [=](const V& in) { return V{ops::scatter(in[0], dim, index.tensor(in[0].device()), in[1])}; },
                   .reference = [=](const V& in) { return V{ref_scatter(in[0], d, index.tensor(), in[1])}; },
                   .torch = "torch.scatter(x0, " + std::to_string(dim) + ", " + index.torch() + ", x1)"});
}

void index_select_case(std::vector<OpCase>& cases, const std::string& tag, Shape x, int64_t n, int64_t dim) {
  const int64_t d = norm(dim, x.size());
  cases.push_back({.op = "index_select",
                   .name = "index_select/" + tag,
                   .inputs = {{x}, {{n}, K::Index, false, x[d]}},
                   .fn = [=](const V& in) { return V{ops::index_select(in[0], dim, in[1])}; },
                   .reference = [=](const V& in) { return V{ref_index_select(in[0], d, in[1])}; },
                   .torch = "torch.index_select(x0, " + std::to_string(dim) + ", x1)"});
}

}  // namespace

NKD_OP_CASES(shape_index) {
  gather_case(cases, "dim1", {3, 5}, {3, 4}, 1);
  gather_case(cases, "dim0_index_longer", {4, 3}, {6, 2}, 0);
  gather_case(cases, "neg_dim_3d", {2, 3, 4}, {2, 3, 2}, -1);
  gather_literal_case(cases, "duplicates", {2, 3}, {{0, 0, 2, 0, 1, 1, 1, 1}, {2, 4}}, 1);

  scatter_case(cases, "dim0_one_per_column", {4, 5}, {{3, 0, 2, 2, 1}, {1, 5}}, 0);
  scatter_case(cases, "dim1_permutation", {3, 6}, {{5, 0, 2, 1, 4, 3, 0, 1, 2}, {3, 3}}, 1);
  scatter_case(cases, "neg_dim_3d", {2, 3, 4}, {{3, 0, 1, 2, 0, 3, 2, 1, 1, 3, 0, 2}, {2, 3, 2}}, -1);
  scatter_case(cases, "C2_nchw", {2, 2, 3, 3}, {{1, 0, 0, 1, 1, 0}, {2, 1, 1, 3}}, 1);

  index_select_case(cases, "dim0", {5, 3}, 7, 0);
  index_select_case(cases, "dim1_nchw", {2, 4, 3, 3}, 6, 1);
  index_select_case(cases, "neg_dim", {3, 2, 5}, 4, -1);
  const Literal dup = {{1, 1, 3, 1}, {4}};
  cases.push_back({.op = "index_select",
                   .name = "index_select/duplicates",
                   .inputs = {{{4, 3}}},
                   .fn = [=](const V& in) { return V{ops::index_select(in[0], 0, dup.tensor(in[0].device()))}; },
                   .reference = [=](const V& in) { return V{ref_index_select(in[0], 0, dup.tensor())}; },
                   .torch = "torch.index_select(x0, 0, " + dup.torch() + ")"});

  cases.push_back({.op = "one_hot",
                   .name = "one_hot/i64",
                   .inputs = {{{2, 3}, K::Index, false, 5}},
                   .fn = [](const V& in) { return V{ops::one_hot(in[0], 5, DType::I64)}; },
                   .reference = [](const V& in) { return V{ref_one_hot(in[0], 5)}; },
                   .torch = "F.one_hot(x0, 5)"});
  // A float output in the dtype of the (unused, non-differentiable) second input, so the F32 and
  // F64 reference runs both exercise it.
  cases.push_back({.op = "one_hot",
                   .name = "one_hot/float",
                   .inputs = {{{7}, K::Index, false, 4}, {{1}, K::Normal, false}},
                   .fn = [](const V& in) { return V{ops::one_hot(in[0], 4, in[1].dtype())}; },
                   .reference = [](const V& in) { return V{ref_one_hot(in[0], 4)}; },
                   .torch = "F.one_hot(x0, 4).to(x1.dtype)"});
}

}  // namespace nkd::testing
