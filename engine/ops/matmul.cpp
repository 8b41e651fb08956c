// matmul, bmm and linear: argument checks, the batched GEMM (OpenBLAS on the CPU, cuBLAS /
// cuBLASLt on CUDA devices through detail/matmul_cuda.h, only in a CUDA build; strided and
// transposed views are passed to BLAS in place), and the backward nodes (device-independent: they
// call matmul and sum).
#include "engine/ops/matmul.h"

#include <algorithm>

#include "engine/autograd/node.h"
#include "engine/cpu/blas.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/copy.h"
#include "engine/ops/detail/matmul_cuda.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/reduce.h"
#include "engine/ops/view.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

// The matrix part of a [..., R, C] view as BLAS reads it: row-major (trans = false) or
// column-major (trans = true) with leading dim ld. Batch dims keep their strides (0 = broadcast).
struct Operand {
  Tensor t;
  bool trans = false;
  int64_t ld = 1;
};

Operand blas_operand(const Tensor& x) {
  const int64_t r = x.size(-2), c = x.size(-1), sr = x.stride(-2), sc = x.stride(-1);
  if ((sc == 1 || c == 1) && (r == 1 || sr >= std::max<int64_t>(c, 1)))
    return {x, false, r == 1 ? std::max<int64_t>(c, 1) : sr};
  if ((sr == 1 || r == 1) && (c == 1 || sc >= std::max<int64_t>(r, 1)))
    return {x, true, c == 1 ? std::max<int64_t>(r, 1) : sc};
  return {x.contiguous(), false, std::max<int64_t>(c, 1)};
}

// True when x's batch dims are consecutive blocks of rows, so the batch is one [B*R, C] matrix.
bool rows_collapse(const Operand& x) {
  if (x.trans) return false;
  int64_t expected = x.ld * x.t.size(-2);
  for (int64_t d = x.t.ndim() - 3; d >= 0; --d) {
    if (x.t.size(d) != 1 && x.t.stride(d) != expected) return false;
    expected *= x.t.size(d);
  }
  return true;
}

// Element offset of every batch matrix of x, in row-major order of the batch dims.
std::vector<int64_t> batch_offsets(const Tensor& x) {
  const Shape batch(x.shape().begin(), x.shape().end() - 2);
  std::vector<int64_t> offsets(numel(batch));
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t& off : offsets) {
    off = 0;
    for (size_t d = 0; d < batch.size(); ++d) off += idx[d] * x.stride(static_cast<int64_t>(d));
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return offsets;
}

// c [B, m, n] (contiguous) = a [B, m, k] @ b [B, k, n]; a and b already expanded to the batch.
// One product (or a batch that folds into one) is split over the threads; a batch runs one
// product per thread.
template <typename T>
void gemm_batched(const Operand& a, const Operand& b, T* c, int64_t m, int64_t n, int64_t k) {
  const T* pa = a.t.data<T>();
  const T* pb = b.t.data<T>();
  const int64_t nb = numel(Shape(a.t.shape().begin(), a.t.shape().end() - 2));
  bool b_shared = true;
  for (int64_t d = 0; d + 2 < b.t.ndim(); ++d) b_shared = b_shared && (b.t.stride(d) == 0 || b.t.size(d) == 1);
  if (nb == 1 || (b_shared && rows_collapse(a))) {
    cpu::gemm_parallel(a.trans, b.trans, nb * m, n, k, T(1), pa, a.ld, pb, b.ld, T(0), c, n);
    return;
  }
  const std::vector<int64_t> oa = batch_offsets(a.t), ob = batch_offsets(b.t);
  cpu::parallel_for(nb, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(m * n * k, 1)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t i = begin; i < end; ++i)
                        cpu::gemm(a.trans, b.trans, m, n, k, T(1), pa + oa[i], a.ld, pb + ob[i], b.ld, T(0),
                                  c + i * m * n, n);
                    });
}

// x's batch dims as one stride (size-1 dims skipped); false when they do not walk the matrices
// with a single stride (e.g. a broadcast dim outside a real one).
bool uniform_batch_stride(const Tensor& x, int64_t& stride) {
  stride = 0;
  int64_t expected = -1;
  for (int64_t d = x.ndim() - 3; d >= 0; --d) {
    if (x.size(d) == 1) continue;
    if (expected < 0) {
      stride = x.stride(d);
    } else if (x.stride(d) != expected) {
      return false;
    }
    expected = x.stride(d) * x.size(d);
  }
  return true;
}

// The CUDA form of gemm_batched: one GEMM when the batch folds into the rows (or is 1), else one
// strided-batched GEMM; an operand whose batch is not one stride, or is broadcast (stride 0), is
// made contiguous first. k > 0.
template <typename T>
void gemm_batched_cuda(Operand a, Operand b, T* c, int64_t m, int64_t n, int64_t k) {
  const int64_t nb = numel(Shape(a.t.shape().begin(), a.t.shape().end() - 2));
  if (nb == 0 || m == 0 || n == 0) return;
  const Device device = a.t.device();
  bool b_shared = true;
  for (int64_t d = 0; d + 2 < b.t.ndim(); ++d)
    b_shared = b_shared && (b.t.stride(d) == 0 || b.t.size(d) == 1);
  if (nb == 1 || (b_shared && rows_collapse(a))) {
    gpu::gemm<T>(device, {a.t.data<T>(), a.trans, a.ld, 0}, {b.t.data<T>(), b.trans, b.ld, 0}, c, nb * m,
                 n, k, 1, 1.0, 0.0);
    return;
  }
  // The contiguous copies live in a and b until the GEMM is queued (their memory is freed in
  // stream order after it).
  const auto batchable = [](Operand& o, int64_t& stride) {
    if (uniform_batch_stride(o.t, stride) && stride != 0) return;
    o = Operand{o.t.contiguous(), false, std::max<int64_t>(o.t.size(-1), 1)};
    stride = o.t.size(-2) * o.t.size(-1);
  };
  int64_t sa = 0, sb = 0;
  batchable(a, sa);
  batchable(b, sb);
  gpu::gemm<T>(device, {a.t.data<T>(), a.trans, a.ld, sa}, {b.t.data<T>(), b.trans, b.ld, sb}, c, m, n, k,
               nb, 1.0, 0.0);
}

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  NKD_CHECK(a.defined() && b.defined(), op, ": undefined operand");
  common_device(op, {&a, &b});
  NKD_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", describe(a), " and ", describe(b));
  NKD_CHECK(is_floating(a.dtype()) && a.dtype() != DType::F16, op, ": dtype ", name(a.dtype()),
            " is not supported (expected F32, F64 or BF16): ", describe(a));
}

// a [..., m, k] @ b [..., k, n] with broadcast batch dims, both at least 2-D; not recorded.
Tensor matmul_forward(const Tensor& a, const Tensor& b, const char* op) {
  // BF16 on the CPU: the F32 product of the (exactly widened) BF16 values, rounded once, which is
  // what a BF16 GEMM with F32 accumulation computes (OpenBLAS here has no sbgemm).
  if (is_half(a.dtype()) && !a.is_cuda())
    return matmul_forward(a.detach().to(DType::F32), b.detach().to(DType::F32), op).to(a.dtype());
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  NKD_CHECK(b.size(-2) == k, op, ": cannot multiply ", describe(a), " by ", describe(b), " (", k,
            " columns against ", b.size(-2), " rows)");
  Shape batch(std::max(a.ndim(), b.ndim()) - 2);
  for (int64_t i = 1; i <= static_cast<int64_t>(batch.size()); ++i) {
    const int64_t da = a.ndim() - 2 - i >= 0 ? a.size(a.ndim() - 2 - i) : 1;
    const int64_t db = b.ndim() - 2 - i >= 0 ? b.size(b.ndim() - 2 - i) : 1;
    NKD_CHECK(da == db || da == 1 || db == 1, op, ": batch dims of ", describe(a), " and ",
              describe(b), " do not broadcast");
    batch[batch.size() - i] = da == 1 ? db : da;
  }
  auto with = [&](int64_t r, int64_t c) {
    Shape s = batch;
    s.push_back(r);
    s.push_back(c);
    return s;
  };
  const Operand oa = blas_operand(a.detach().expand(with(m, k)));
  const Operand ob = blas_operand(b.detach().expand(with(k, n)));
  // On the GPU an empty sum (k = 0) is a zero fill, not a GEMM.
  Tensor c = a.is_cuda() && k == 0 ? zeros(with(m, n), a.options()) : empty(with(m, n), a.options());
  dispatch_any_float(a.dtype(), op, [&]<typename T>() {
    if constexpr (!kIsHalf<T>) {
      if (!c.is_cuda()) return gemm_batched<T>(oa, ob, c.data<T>(), m, n, k);
    }
    if constexpr (kBuiltWithCuda) {
      if (k > 0) gemm_batched_cuda<T>(oa, ob, c.data<T>(), m, n, k);
    } else {
      fail_without_cuda(op, c.device());
    }
  });
  return c;
}

// c = a @ b (batch dims broadcast):
//   da = sum over a's broadcast dims of g @ b^T,   db = sum over b's broadcast dims of a^T @ g.
// When b is one matrix shared by the batch, db = A^T G with A = a as [B*m, k], G = g as [B*m, n].
class MatmulBackward final : public Node {
 public:
  MatmulBackward(const Tensor& a, const Tensor& b, const char* name) : a_(a), b_(b), name_(name) {}
  const char* name() const override { return name_; }
  void release_saved() override {
    a_.reset();
    b_.reset();
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor a = a_.unpack(name_), b = b_.unpack(name_);
    const Tensor& g = grads[0];
    Tensor ga, gb;
    if (needs_input_grad(0)) ga = sum_to_shape(matmul(g, transpose(b, -1, -2)), a.shape());
    if (needs_input_grad(1)) {
      if (b.ndim() == 2 && a.ndim() > 2) {
        const Tensor a2 = reshape(a, {-1, a.size(-1)}), g2 = reshape(g, {-1, g.size(-1)});
        gb = matmul(transpose(a2, 0, 1), g2);
      } else {
        gb = sum_to_shape(matmul(transpose(a, -1, -2), g), b.shape());
      }
    }
    return {ga, gb};
  }

 private:
  SavedTensor a_, b_;
  const char* name_;
};

Tensor matmul_op(const Tensor& a, const Tensor& b, const char* op, const char* node) {
  Tensor out = matmul_forward(a, b, op);
  if (any_requires_grad({a, b})) record(std::make_shared<MatmulBackward>(a, b, node), {a, b}, {out});
  return out;
}

}  // namespace

static Tensor matmul_untraced(const Tensor& a, const Tensor& b) {
  check_operands("matmul", a, b);
  NKD_CHECK(a.ndim() >= 1 && b.ndim() >= 1, "matmul: operands must be at least 1-D, got ", describe(a),
            " and ", describe(b));
  if (a.ndim() >= 2 && b.ndim() >= 2) return matmul_op(a, b, "matmul", "MatmulBackward");
  const int64_t k_b = b.ndim() == 1 ? b.size(0) : b.size(-2);
  NKD_CHECK(a.size(-1) == k_b, "matmul: cannot multiply ", describe(a), " by ", describe(b), " (",
            a.size(-1), " columns against ", k_b, " rows)");
  Tensor out = matmul(a.ndim() == 1 ? a.unsqueeze(0) : a, b.ndim() == 1 ? b.unsqueeze(1) : b);
  if (b.ndim() == 1) out = out.squeeze(-1);
  if (a.ndim() == 1) out = out.squeeze(b.ndim() == 1 ? -1 : -2);
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  trace::OpScope scope;
  return scope.done("matmul", {a, b}, matmul_untraced(a, b));
}

static Tensor bmm_untraced(const Tensor& a, const Tensor& b) {
  check_operands("bmm", a, b);
  NKD_CHECK(a.ndim() == 3 && b.ndim() == 3 && a.size(0) == b.size(0), "bmm: expected [B, M, K] and ",
            "[B, K, N] with the same B, got ", describe(a), " and ", describe(b));
  return matmul_op(a, b, "bmm", "BmmBackward");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  trace::OpScope scope;
  return scope.done("matmul", {a, b}, bmm_untraced(a, b));
}

namespace {

// y = x w^T + b with x as [rows, in]:  gx = g w,  gw = g^T x,  gb = sum over rows of g.
class LinearBackward final : public Node {
 public:
  LinearBackward(const Tensor& x, const Tensor& w) : x_(x), w_(w) {}
  const char* name() const override { return "LinearBackward"; }
  void release_saved() override {
    x_.reset();
    w_.reset();
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor x = x_.unpack(name()), w = w_.unpack(name());
    const int64_t in = w.size(1), out = w.size(0), rows = in == 0 ? 0 : x.numel() / in;
    const Tensor g2 = reshape(grads[0], {rows, out});
    Tensor gx, gw, gb;
    if (needs_input_grad(0)) gx = reshape(matmul(g2, w), x.shape());
    if (needs_input_grad(1)) gw = matmul(transpose(g2, 0, 1), reshape(x, {rows, in}));
    if (needs_input_grad(2)) gb = sum(g2, {0});
    return {gx, gw, gb};
  }

 private:
  SavedTensor x_, w_;  // x contiguous [..., in], w [out, in]
};

void check_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_operands("linear", x, w);
  NKD_CHECK(w.ndim() == 2 && x.ndim() >= 1 && x.size(-1) == w.size(1), "linear: weight ", describe(w),
            " expects input [..., ", w.ndim() == 2 ? w.size(1) : -1, "], got input ", describe(x));
  if (!b.defined()) return;
  common_device("linear", {&x, &b});
  NKD_CHECK(b.dtype() == x.dtype(), "linear: dtypes differ: ", describe(x), " and bias ", describe(b));
  NKD_CHECK(b.ndim() == 1 && b.size(0) == w.size(0), "linear: bias ", describe(b), " does not match weight ",
            describe(w));
}

// y [rows, out] = x [rows, in] @ w^T (+ b) on the GPU: cuBLASLt's bias epilogue where it applies,
// else y filled with the bias rows and a GEMM with beta = 1. y is already zero when in = 0.
template <typename T>
void linear_cuda(const Tensor& xc, const Operand& ow, const Tensor& b, const Tensor& y, int64_t rows,
                 int64_t in, int64_t out) {
  if (rows == 0 || out == 0) return;
  const Tensor bc = b.defined() ? b.detach().contiguous() : Tensor();
  const Device device = xc.device();
  const gpu::GemmOperand xo{xc.data<T>(), false, std::max<int64_t>(in, 1), 0};  // x [rows, in]
  const gpu::GemmOperand wo{ow.t.data<T>(), ow.trans, ow.ld, 0};                // w [out, in]
  const gpu::GemmOperand wt{ow.t.data<T>(), !ow.trans, ow.ld, 0};               // w^T [in, out]
  double beta = 0;
  if (bc.defined()) {
    if (in > 0 && gpu::linear_bias<T>(device, xc.data<T>(), wo, bc.data<T>(), y.data<T>(), rows, in, out))
      return;
    copy_(y, bc);
    beta = 1;
  }
  if (in > 0) gpu::gemm<T>(device, xo, wt, y.data<T>(), rows, out, in, 1, 1.0, beta);
}

}  // namespace

static Tensor linear_untraced(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_linear(x, w, b);
  if (is_half(x.dtype()) && !x.is_cuda()) {  // BF16 on the CPU: F32 GEMM, one rounding (matmul_forward)
    const Tensor b32 = b.defined() ? b.detach().to(DType::F32) : Tensor();
    Tensor y = linear(x.detach().to(DType::F32), w.detach().to(DType::F32), b32).to(x.dtype());
    if (any_requires_grad({x, w, b}))
      record(std::make_shared<LinearBackward>(x.detach().contiguous(), w), {x, w, b}, {y});
    return y;
  }
  const int64_t in = w.size(1), out = w.size(0), rows = numel(Shape(x.shape().begin(), x.shape().end() - 1));
  const Tensor xc = x.detach().contiguous();
  const Operand ow = blas_operand(w.detach());
  Shape ys = x.shape();
  ys.back() = out;
  Tensor y = x.is_cuda() && in == 0 ? zeros(ys, x.options()) : empty(ys, x.options());
  if (x.is_cuda()) dispatch_any_float(x.dtype(), "linear", [&]<typename T>() {
    if constexpr (kBuiltWithCuda) return linear_cuda<T>(xc, ow, b, y, rows, in, out);
    fail_without_cuda("linear", x.device());
  });
  if (!x.is_cuda()) dispatch_float(x.dtype(), "linear", [&]<typename T>() {
    T* py = y.data<T>();
    T beta = T(0);
    if (b.defined()) {
      const Tensor bc = b.detach().contiguous();
      const T* pb = bc.data<T>();
      cpu::parallel_for(rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(out, 1)),
                        [=](int64_t r0, int64_t r1) {
                          for (int64_t r = r0; r < r1; ++r) std::copy(pb, pb + out, py + r * out);
                        });
      beta = T(1);
    }
    // y [rows, out] = x [rows, in] @ (w [out, in])^T (+ y holding the bias rows).
    cpu::gemm_parallel(false, !ow.trans, rows, out, in, T(1), xc.data<T>(), in, ow.t.data<T>(), ow.ld, beta, py,
                       out);
  });
  if (any_requires_grad({x, w, b})) record(std::make_shared<LinearBackward>(xc, w), {x, w, b}, {y});
  return y;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  trace::OpScope scope;
  return scope.done("linear", {x, w, b}, linear_untraced(x, w, b));
}

}  // namespace nkd::ops
