// Reductions. Every reduction permutes the reduced dims to the end and works on a contiguous
// [outer, inner] matrix of rows, so one row kernel serves any set of dims. On the CPU, a sum over
// the leading dims of a contiguous tensor (a bias gradient: [rows, out] summed over rows) reads
// x in place as [inner, outer] columns instead of copying it transposed; each output still adds
// its inputs in the same order, so the result is the same.
#include "engine/ops/reduce.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/detail/reduce_cuda.h"
#include "engine/ops/detail/reduce_math.h"
#include "engine/ops/view.h"

namespace nkd::ops {
namespace {

struct Plan {
  std::vector<int64_t> perm;  // kept dims, then reduced dims
  Shape keep_shape;           // x.shape with reduced dims set to 1
  Shape out_shape;            // keep_shape, or without the reduced dims
  int64_t outer = 1, inner = 1;
};

Plan make_plan(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const char* op) {
  const int64_t n = x.ndim();
  std::vector<bool> reduced(n, dims.empty());
  for (int64_t d : dims) {
    const int64_t nd = normalize_dim(d, n, op);
    NKD_CHECK(!reduced[nd], op, ": dim ", d, " repeated");
    reduced[nd] = true;
  }
  Plan p;
  p.keep_shape = x.shape();
  for (int64_t i = 0; i < n; ++i) {
    if (reduced[i]) continue;
    p.perm.push_back(i);
    p.outer *= x.shape()[i];
    p.out_shape.push_back(x.shape()[i]);
  }
  for (int64_t i = 0; i < n; ++i) {
    if (!reduced[i]) continue;
    p.perm.push_back(i);
    p.inner *= x.shape()[i];
    p.keep_shape[i] = 1;
  }
  if (keepdim) p.out_shape = p.keep_shape;
  return p;
}

// x as contiguous rows [outer, inner] (a copy unless the reduced dims are already innermost).
Tensor rows(const Tensor& x, const Plan& p) {
  return x.detach().permute(p.perm).contiguous();
}

// dL/dx of sum/mean: g broadcast back to x's shape, times `scale`.
class SumBackward final : public Node {
 public:
  SumBackward(Shape in, Shape keep, double scale, const char* name)
      : in_(std::move(in)), keep_(std::move(keep)), scale_(scale), name_(name) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    Tensor gx = reshape(g[0], keep_).expand(in_);
    return {scale_ == 1.0 ? gx.contiguous() : mul(gx, scale_)};
  }

 private:
  Shape in_, keep_;
  double scale_;
  const char* name_;
};

// dL/dx of max: each group's gradient lands on its first maximal element.
class MaxBackward final : public Node {
 public:
  MaxBackward(Shape in, Plan plan, Tensor index)
      : in_(std::move(in)), plan_(std::move(plan)), index_(std::move(index)) {}
  const char* name() const override { return "MaxBackward"; }
  void release_saved() override { index_ = Tensor(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor gc = g[0].contiguous();
    Shape permuted(plan_.perm.size());
    std::vector<int64_t> inverse(plan_.perm.size());
    for (size_t i = 0; i < plan_.perm.size(); ++i) {
      permuted[i] = in_[plan_.perm[i]];
      inverse[plan_.perm[i]] = static_cast<int64_t>(i);
    }
    Tensor gr = zeros(permuted, gc.options());
    dispatch_float(gc.dtype(), "MaxBackward", [&]<typename T>() {
      T* out = gr.data<T>();
      const T* gp = gc.data<T>();
      const int64_t* ip = index_.data<int64_t>();
      launch(gr.device(), plan_.outer, detail::RowScatterKernel<T>{out, gp, ip, plan_.inner});
    });
    return {permute(gr, inverse).contiguous()};
  }

 private:
  Shape in_;
  Plan plan_;
  Tensor index_;  // I64 [outer]
};

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// True when p reduces a leading block of dims 0..k-1 of a contiguous CPU x (perm = [k..n-1,
// 0..k-1]): x is then [inner, outer] and its columns are summed in place (sum_columns).
bool leading_reduction(const Tensor& x, const Plan& p) {
  if (x.is_cuda() || !x.is_contiguous() || p.inner <= 1 || p.outer <= 1) return false;
  const int64_t n = x.ndim(), k = p.perm[0];
  if (k == 0) return false;  // the reduced dims are already last: rows
  for (int64_t i = 0; i < n; ++i)
    if (p.perm[i] != (i + k) % n) return false;
  return true;
}

// y[o] = scale * sum_r x[r, o] for x [inner, outer]; each thread owns a block of columns and adds
// the rows in order (the order of sum_rows on the transposed copy, whatever the thread count).
Tensor sum_columns(const Tensor& x, const Plan& p, const Shape& out_shape, double scale) {
  Tensor out = empty(out_shape, x.options());
  dispatch_float(x.dtype(), "sum", [&]<typename T>() {
    const T* xp = x.data<T>();
    T* y = out.data<T>();
    const int64_t inner = p.inner, outer = p.outer;
    constexpr int64_t kBlock = 256;  // columns per accumulator block (2 KiB of doubles)
    cpu::parallel_for(outer, std::max<int64_t>(16, cpu::kGrain / inner), [=](int64_t b, int64_t e) {
      Acc<T> acc[kBlock];
      for (int64_t o0 = b; o0 < e; o0 += kBlock) {
        const int64_t w = std::min(kBlock, e - o0);
        std::fill(acc, acc + w, Acc<T>(0));
        for (int64_t r = 0; r < inner; ++r) {
          const T* row = xp + r * outer + o0;
          for (int64_t j = 0; j < w; ++j) acc[j] += row[j];
        }
        for (int64_t j = 0; j < w; ++j) y[o0 + j] = static_cast<T>(acc[j] * scale);
      }
    });
  });
  return out;
}

Tensor sum_rows(const Tensor& r, const Plan& p, const Shape& out_shape, double scale) {
  Tensor out = empty(out_shape, r.options());
  dispatch_float(r.dtype(), "sum", [&]<typename T>() {
    const T* x = r.data<T>();
    T* y = out.data<T>();
    const int64_t inner = p.inner;
    if (r.is_cuda()) {
      if constexpr (kBuiltWithCuda) return gpu::sum_rows(r.device(), x, y, p.outer, inner, scale);
      fail_without_cuda("sum", r.device());
    }
    cpu::parallel_for(p.outer, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(inner, 1)),
                      [=](int64_t b, int64_t e) {
                        for (int64_t o = b; o < e; ++o) {
                          Acc<T> s = 0;
                          const T* row = x + o * inner;
                          for (int64_t i = 0; i < inner; ++i) s += row[i];
                          y[o] = static_cast<T>(s * scale);
                        }
                      });
  });
  return out;
}

}  // namespace

// The reductions run a 16-bit input on an F32 copy (F32 sums, one rounding of the result).
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  if (is_half(x.dtype())) return sum(x.to(DType::F32), dims, keepdim).to(x.dtype());
  const Plan p = make_plan(x, dims, keepdim, "sum");
  const Tensor xd = x.detach();
  Tensor out = leading_reduction(xd, p) ? sum_columns(xd, p, p.out_shape, 1.0)
                                        : sum_rows(rows(xd, p), p, p.out_shape, 1.0);
  if (any_requires_grad({x}))
    record(std::make_shared<SumBackward>(x.shape(), p.keep_shape, 1.0, "SumBackward"), {x}, {out});
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  if (is_half(x.dtype())) return mean(x.to(DType::F32), dims, keepdim).to(x.dtype());
  const Plan p = make_plan(x, dims, keepdim, "mean");
  NKD_CHECK(p.inner > 0, "mean: reducing ", describe(x), " over an empty set of elements");
  const double scale = 1.0 / static_cast<double>(p.inner);
  const Tensor xd = x.detach();
  Tensor out = leading_reduction(xd, p) ? sum_columns(xd, p, p.out_shape, scale)
                                        : sum_rows(rows(xd, p), p, p.out_shape, scale);
  if (any_requires_grad({x}))
    record(std::make_shared<SumBackward>(x.shape(), p.keep_shape, scale, "MeanBackward"), {x}, {out});
  return out;
}

namespace {
// Row maxima and the index of each row's first maximum (NaN wins, as in PyTorch).
std::pair<Tensor, Tensor> max_rows(const Tensor& x, const Plan& p, const char* op) {
  NKD_CHECK(p.inner > 0, op, ": reducing ", describe(x), " over an empty set of elements");
  const Tensor r = rows(x, p);
  Tensor values = empty({p.outer}, x.options());
  Tensor index = empty({p.outer}, {DType::I64, x.device()});
  dispatch_float(x.dtype(), op, [&]<typename T>() {
    const T* xp = r.data<T>();
    T* vp = values.data<T>();
    int64_t* ip = index.data<int64_t>();
    const int64_t inner = p.inner;
    if (r.is_cuda()) {
      if constexpr (kBuiltWithCuda) return gpu::max_rows(r.device(), xp, vp, ip, p.outer, inner);
      fail_without_cuda(op, r.device());
    }
    cpu::launch(p.outer, [=](int64_t o) {
      const T* row = xp + o * inner;
      int64_t best = 0;
      for (int64_t i = 1; i < inner && !std::isnan(row[best]); ++i)
        if (row[i] > row[best] || std::isnan(row[i])) best = i;
      vp[o] = row[best];
      ip[o] = best;
    }, 1024);
  });
  return {values, index};
}
}  // namespace

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  if (is_half(x.dtype())) return max(x.to(DType::F32), dims, keepdim).to(x.dtype());
  const Plan p = make_plan(x, dims, keepdim, "max");
  auto [values, index] = max_rows(x, p, "max");
  Tensor out = values.view(p.out_shape);
  if (any_requires_grad({x}))
    record(std::make_shared<MaxBackward>(x.shape(), p, index), {x}, {out});
  return out;
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  if (is_half(x.dtype())) return argmax(x.to(DType::F32), dim, keepdim);
  const Plan p = make_plan(x, {dim}, keepdim, "argmax");
  return max_rows(x, p, "argmax").second.view(p.out_shape);
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.ndim() - static_cast<int64_t>(shape.size());
  NKD_CHECK(lead >= 0, "sum_to_shape: cannot reduce ", describe(g), " to ", to_string(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < g.ndim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  if (dims.empty()) return reshape(g, shape);
  return reshape(sum(g, dims, true), shape);
}

}  // namespace nkd::ops
