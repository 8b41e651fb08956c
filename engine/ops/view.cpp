// View ops and their backward nodes.
#include "engine/ops/view.h"

#include <algorithm>

#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "engine/ops/reduce.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

Tensor alias(const Tensor& x, Shape shape, Strides strides, int64_t offset) {
  return make_view(x.storage(), offset, std::move(shape), std::move(strides), x.dtype());
}

// d(reshape)/dx: the gradient reshaped back.
class ReshapeBackward final : public Node {
 public:
  explicit ReshapeBackward(Shape in) : in_(std::move(in)) {}
  const char* name() const override { return "ReshapeBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {reshape(g[0], in_)}; }

 private:
  Shape in_;
};

// d(permute)/dx: the gradient permuted by the inverse permutation.
class PermuteBackward final : public Node {
 public:
  explicit PermuteBackward(std::vector<int64_t> inverse) : inverse_(std::move(inverse)) {}
  const char* name() const override { return "PermuteBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {permute(g[0], inverse_)}; }

 private:
  std::vector<int64_t> inverse_;
};

// d(narrow)/dx: zeros of the input's shape with the gradient written into the slice.
class NarrowBackward final : public Node {
 public:
  NarrowBackward(Shape in, int64_t dim, int64_t start) : in_(std::move(in)), dim_(dim), start_(start) {}
  const char* name() const override { return "NarrowBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    Tensor gx = zeros(in_, g[0].options());
    copy_(narrow(gx, dim_, start_, g[0].size(dim_)), g[0]);
    return {gx};
  }

 private:
  Shape in_;
  int64_t dim_, start_;
};

// d(expand)/dx: the gradient summed over the broadcast dims.
class ExpandBackward final : public Node {
 public:
  explicit ExpandBackward(Shape in) : in_(std::move(in)) {}
  const char* name() const override { return "ExpandBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {sum_to_shape(g[0], in_)}; }

 private:
  Shape in_;
};

Shape infer_shape(const Shape& shape, int64_t n, const Tensor& x, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      NKD_CHECK(infer < 0, op, ": only one dim can be -1 in ", to_string(shape));
      infer = static_cast<int64_t>(i);
    } else {
      NKD_CHECK(out[i] >= 0, op, ": invalid shape ", to_string(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    NKD_CHECK(known > 0 && n % known == 0, op, ": cannot reshape ", describe(x), " to ",
              to_string(shape));
    out[infer] = n / known;
  }
  NKD_CHECK(numel(out) == n, op, ": cannot reshape ", describe(x), " (", n, " elements) to ",
            to_string(shape));
  return out;
}

template <typename NodeT, typename... Args>
Tensor with_node(const Tensor& x, Tensor out, Args&&... args) {
  if (any_requires_grad({x})) record(std::make_shared<NodeT>(std::forward<Args>(args)...), {x}, {out});
  return out;
}

}  // namespace

static Tensor view_untraced(const Tensor& x, const Shape& shape) {
  NKD_CHECK(x.is_contiguous(), "view: ", describe(x), " is not contiguous; use reshape");
  Shape s = infer_shape(shape, x.numel(), x, "view");
  Strides st = contiguous_strides(s);
  return with_node<ReshapeBackward>(x, alias(x, s, st, x.offset()), x.shape());
}

Tensor view(const Tensor& x, const Shape& shape) {
  trace::OpScope scope;
  return scope.done("reshape", {x}, view_untraced(x, shape));
}

static Tensor reshape_untraced(const Tensor& x, const Shape& shape) {
  if (x.is_contiguous()) return view(x, shape);
  return view(clone(x), shape);
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  trace::OpScope scope;
  return scope.done("reshape", {x}, reshape_untraced(x, shape));
}

static Tensor permute_untraced(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t n = x.ndim();
  NKD_CHECK(static_cast<int64_t>(dims.size()) == n, "permute: ", dims.size(), " dims for ",
            describe(x));
  Shape s(n);
  Strides st(n);
  std::vector<int64_t> inverse(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = normalize_dim(dims[i], n, "permute");
    NKD_CHECK(inverse[d] < 0, "permute: dim ", d, " repeated");
    inverse[d] = i;
    s[i] = x.shape()[d];
    st[i] = x.strides()[d];
  }
  return with_node<PermuteBackward>(x, alias(x, s, st, x.offset()), inverse);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  trace::OpScope scope;
  return scope.done("permute", {x}, permute_untraced(x, dims), trace::OpAttrs().set("dims", dims));
}

Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  std::vector<int64_t> dims(x.ndim());
  for (int64_t i = 0; i < x.ndim(); ++i) dims[i] = i;
  std::swap(dims[normalize_dim(a, x.ndim(), "transpose")], dims[normalize_dim(b, x.ndim(), "transpose")]);
  return permute(x, dims);
}

static Tensor narrow_untraced(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  const int64_t d = normalize_dim(dim, x.ndim(), "narrow");
  NKD_CHECK(start >= 0 && length >= 0 && start + length <= x.shape()[d], "narrow: slice [", start,
            ", ", start + length, ") out of range for dim ", d, " of ", describe(x));
  Shape s = x.shape();
  s[d] = length;
  return with_node<NarrowBackward>(x, alias(x, s, x.strides(), x.offset() + start * x.strides()[d]),
                                   x.shape(), d, start);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  trace::OpScope scope;
  return scope.done("narrow", {x}, narrow_untraced(x, dim, start, length),
                    trace::OpAttrs().set("dim", {dim}).set("start", {start}).set("length", {length}));
}

static Tensor expand_untraced(const Tensor& x, const Shape& shape) {
  const int64_t n = static_cast<int64_t>(shape.size()), lead = n - x.ndim();
  NKD_CHECK(lead >= 0, "expand: cannot expand ", describe(x), " to ", to_string(shape));
  Shape s(n);
  Strides st(n);
  for (int64_t i = 0; i < n; ++i) {
    if (i < lead) {
      NKD_CHECK(shape[i] >= 0, "expand: invalid size in ", to_string(shape));
      s[i] = shape[i];
      st[i] = 0;
      continue;
    }
    const int64_t xs = x.shape()[i - lead];
    const int64_t want = shape[i] == -1 ? xs : shape[i];
    NKD_CHECK(xs == want || xs == 1, "expand: cannot expand ", describe(x), " to ", to_string(shape));
    s[i] = want;
    st[i] = xs == want ? x.strides()[i - lead] : 0;
  }
  if (s == x.shape()) return x;
  return with_node<ExpandBackward>(x, alias(x, s, st, x.offset()), x.shape());
}

Tensor expand(const Tensor& x, const Shape& shape) {
  trace::OpScope scope;
  return scope.done("expand", {x}, expand_untraced(x, shape));
}

static Tensor unsqueeze_untraced(const Tensor& x, int64_t dim) {
  const int64_t d = normalize_dim(dim, x.ndim() + 1, "unsqueeze");
  Shape s = x.shape();
  Strides st = x.strides();
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, d < x.ndim() ? x.strides()[d] * x.shape()[d] : 1);
  return with_node<ReshapeBackward>(x, alias(x, s, st, x.offset()), x.shape());
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  trace::OpScope scope;
  return scope.done("reshape", {x}, unsqueeze_untraced(x, dim));
}

static Tensor squeeze_untraced(const Tensor& x, int64_t dim) {
  const int64_t d = normalize_dim(dim, x.ndim(), "squeeze");
  NKD_CHECK(x.shape()[d] == 1, "squeeze: dim ", d, " of ", describe(x), " is not 1");
  Shape s = x.shape();
  Strides st = x.strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return with_node<ReshapeBackward>(x, alias(x, s, st, x.offset()), x.shape());
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  trace::OpScope scope;
  return scope.done("reshape", {x}, squeeze_untraced(x, dim));
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.ndim() == 0) return reshape(x, {1});
  const int64_t a = normalize_dim(start_dim, x.ndim(), "flatten");
  const int64_t b = normalize_dim(end_dim, x.ndim(), "flatten");
  NKD_CHECK(a <= b, "flatten: start_dim ", start_dim, " after end_dim ", end_dim);
  Shape s(x.shape().begin(), x.shape().begin() + a);
  int64_t m = 1;
  for (int64_t i = a; i <= b; ++i) m *= x.shape()[i];
  s.push_back(m);
  s.insert(s.end(), x.shape().begin() + b + 1, x.shape().end());
  return reshape(x, s);
}

}  // namespace nkd::ops
