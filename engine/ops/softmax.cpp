// Softmax / log-softmax: x viewed as [outer, D, inner] (D the softmax dim), one row per
// (outer, inner) pair with stride inner, so no permute is needed for a dim that is not last.
// The row math and the per-row NKD_HD functors are detail/softmax_math.h, run by cpu::launch on the
// CPU; CUDA tensors go to the launchers of detail/softmax_cuda.h (only in a CUDA build). F32 rows
// along the last dim take the AVX-512 form of the same math (softmax_cpu.cpp) where the CPU has it.
#include "engine/ops/softmax.h"

#include <algorithm>

#include "engine/autograd/node.h"
#include "engine/cpu/features.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/detail/act_avx512.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/detail/softmax_cuda.h"
#include "engine/ops/detail/softmax_math.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

using math::SoftmaxGeometry;

SoftmaxGeometry geometry(const Shape& shape, int64_t dim) {
  SoftmaxGeometry g;
  for (int64_t i = 0; i < dim; ++i) g.outer *= shape[i];
  g.dim = shape[dim];
  for (size_t i = dim + 1; i < shape.size(); ++i) g.inner *= shape[i];
  return g;
}

int64_t row_grain(const SoftmaxGeometry& geo) {
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
    const SoftmaxGeometry geo = geometry(y.shape(), dim_);
    Tensor gx = empty(y.shape(), y.options());
    dispatch_float(y.dtype(), name(), [&]<typename T>() {
      if (geo.dim == 0) return;
      const T *gp = g.data<T>(), *yp = y.data<T>();
      if (y.is_cuda()) {
        if constexpr (kBuiltWithCuda)
          return gpu::softmax_backward<T, kLog>(y.device(), geo, gp, yp, gx.data<T>());
        fail_without_cuda(name(), y.device());
      }
      cpu::launch(geo.rows(), math::SoftmaxBwdKernel<T, kLog>{geo, gp, yp, gx.data<T>()}, row_grain(geo));
    });
    return {gx};
  }

 private:
  SavedTensor y_;  // the forward output, contiguous
  int64_t dim_;
};

template <bool kLog>
Tensor softmax_impl(const Tensor& x, int64_t dim, const char* op) {
  NKD_CHECK(x.ndim() > 0, op, ": expects at least one dim, got ", describe(x));
  const int64_t d = normalize_dim(dim, x.ndim(), op);
  const Tensor xc = x.detach().contiguous();
  const SoftmaxGeometry geo = geometry(xc.shape(), d);
  Tensor y = empty(xc.shape(), xc.options());
  dispatch_float(xc.dtype(), op, [&]<typename T>() {
    if (geo.dim == 0) return;
    const T* xp = xc.data<T>();
    if (xc.is_cuda()) {
      if constexpr (kBuiltWithCuda) return gpu::softmax_forward<T, kLog>(xc.device(), geo, xp, y.data<T>());
      fail_without_cuda(op, xc.device());
    }
    if constexpr (std::is_same_v<T, float> && !kLog) {
      if (geo.inner == 1 && cpu::has_avx512f()) {
        T* yp = y.data<T>();
        return cpu::parallel_for(geo.rows(), row_grain(geo), [=](int64_t b, int64_t e) {
          detail::softmax_rows_avx512(xp, yp, geo.dim, b, e);
        });
      }
    }
    cpu::launch(geo.rows(), math::SoftmaxFwdKernel<T, kLog>{geo, xp, y.data<T>()}, row_grain(geo));
  });
  if (any_requires_grad({x})) record(std::make_shared<SoftmaxBackward<kLog>>(y, d), {x}, {y});
  return y;
}

}  // namespace

// A 16-bit input runs on an F32 copy; the result is rounded back to the input's dtype.
Tensor softmax(const Tensor& x, int64_t dim) {
  if (is_half(x.dtype())) return softmax(x.to(DType::F32), dim).to(x.dtype());
  trace::OpScope scope;
  return scope.done("softmax", {x}, softmax_impl<false>(x, dim, "softmax"), trace::OpAttrs().set("dim", {dim}));
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  if (is_half(x.dtype())) return log_softmax(x.to(DType::F32), dim).to(x.dtype());
  trace::OpScope scope;
  return scope.done("log_softmax", {x}, softmax_impl<true>(x, dim, "log_softmax"),
                    trace::OpAttrs().set("dim", {dim}));
}

}  // namespace nkd::ops
