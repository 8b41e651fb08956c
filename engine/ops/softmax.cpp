// Softmax / log-softmax: x viewed as [outer, D, inner] (D the softmax dim), one row per
// (outer, inner) pair with stride inner, so no permute is needed for a dim that is not last.
// The row math is engine/ops/softmax_math.h, run per row by NKD_HD functors.
#include "engine/ops/softmax.h"

#include <algorithm>

#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/softmax_math.h"

namespace nkd::ops {
namespace {

// x as rows: row r = (o, i) starts at o * D * inner + i and steps by inner.
struct RowGeometry {
  int64_t outer = 1, dim = 1, inner = 1;
  NKD_HD int64_t base(int64_t r) const { return (r / inner) * dim * inner + r % inner; }
  int64_t rows() const { return outer * inner; }
};

RowGeometry geometry(const Shape& shape, int64_t dim) {
  RowGeometry g;
  for (int64_t i = 0; i < dim; ++i) g.outer *= shape[i];
  g.dim = shape[dim];
  for (size_t i = dim + 1; i < shape.size(); ++i) g.inner *= shape[i];
  return g;
}

template <typename T, bool kLog>
struct SoftmaxFwdKernel {
  RowGeometry geo;
  const T* x;  // [outer, D, inner]
  T* y;        // [outer, D, inner]
  NKD_HD void operator()(int64_t r) const {
    using Acc = math::SoftmaxAcc<T>;
    const int64_t b = geo.base(r);
    if constexpr (kLog) {
      math::log_softmax_row<Acc>(x + b, y + b, geo.dim, geo.inner);
    } else {
      math::softmax_row<Acc>(x + b, y + b, geo.dim, geo.inner);
    }
  }
};

template <typename T, bool kLog>
struct SoftmaxBwdKernel {
  RowGeometry geo;
  const T* g;  // [outer, D, inner]
  const T* y;  // [outer, D, inner], the forward output
  T* gx;       // [outer, D, inner]
  NKD_HD void operator()(int64_t r) const {
    using Acc = math::SoftmaxAcc<T>;
    const int64_t b = geo.base(r);
    if constexpr (kLog) {
      math::log_softmax_backward_row<Acc>(g + b, y + b, gx + b, geo.dim, geo.inner);
    } else {
      math::softmax_backward_row<Acc>(g + b, y + b, gx + b, geo.dim, geo.inner);
    }
  }
};

int64_t row_grain(const RowGeometry& geo) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(geo.dim, 1));
}

// softmax:     gx = y * (g - sum_D(g * y))
// log_softmax: gx = g - exp(y) * sum_D(g)       (exp(y) is the softmax)
template <bool kLog>
class SoftmaxBackward final : public Node {
 public:
  SoftmaxBackward(const Tensor& y, int64_t dim) : y_(y), dim_(dim) {}
  const char* name() const override { return kLog ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  void release_saved() override { y_.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor y = y_.unpack(name()), g = grads[0].contiguous();
    const RowGeometry geo = geometry(y.shape(), dim_);
    Tensor gx = empty(y.shape(), y.options());
    dispatch_float(y.dtype(), name(), [&]<typename T>() {
      if (geo.dim == 0) return;
      cpu::launch(geo.rows(), SoftmaxBwdKernel<T, kLog>{geo, g.data<T>(), y.data<T>(), gx.data<T>()},
                  row_grain(geo));
    });
    return {gx};
  }

 private:
  SavedTensor y_;  // the forward output, contiguous
  int64_t dim_;
};

template <bool kLog>
Tensor softmax_impl(const Tensor& x, int64_t dim, const char* op) {
  require_cpu(op, {&x});
  NKD_CHECK(x.ndim() > 0, op, ": expects at least one dim, got ", describe(x));
  const int64_t d = normalize_dim(dim, x.ndim(), op);
  const Tensor xc = x.detach().contiguous();
  const RowGeometry geo = geometry(xc.shape(), d);
  Tensor y = empty(xc.shape(), xc.options());
  dispatch_float(xc.dtype(), op, [&]<typename T>() {
    if (geo.dim == 0) return;
    cpu::launch(geo.rows(), SoftmaxFwdKernel<T, kLog>{geo, xc.data<T>(), y.data<T>()}, row_grain(geo));
  });
  if (any_requires_grad({x})) record(std::make_shared<SoftmaxBackward<kLog>>(y, d), {x}, {y});
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl<false>(x, dim, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl<true>(x, dim, "log_softmax"); }

}  // namespace nkd::ops
