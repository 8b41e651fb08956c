// gather, scatter, index_select and one_hot: argument and index-range checks, the launch of the
// detail/shape_math.h functors on either device (nkd::launch), and the backward nodes. Index values are
// checked on the host before any kernel runs (kernels never validate); a CUDA index is copied to
// the host for that check (one SYNC per new index; an unchanged index is not checked again). Backward passes are deterministic on both devices:
// scatter-adds run one thread per column, walking the indexed dim in order (no atomics).
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/ops/dispatch.h"
#include "engine/launch.h"
#include "engine/ops/detail/shape_math.h"
#include "engine/ops/shape_ops.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

// Position of the first value of `index` outside [0, bound), or -1.
int64_t first_out_of_range(const Tensor& index, int64_t bound) {
  const int64_t* p = index.data<int64_t>();
  for (int64_t i = 0; i < index.numel(); ++i)
    if (p[i] < 0 || p[i] >= bound) return i;
  return -1;
}

// The index's values readable on the host: itself on the CPU, a host copy of a CUDA index.
Tensor host_index(const Tensor& ic) {
  // SYNC: a CUDA index is range-checked on the host, so a bad value throws here instead of
  // reading or writing out of bounds in a kernel (kernels never validate). Index tensors are small.
  return ic.is_cuda() ? ic.to(kCPU) : ic;
}

// CUDA indices already checked, so a constant index (Swin's relative-position index, used by every
// block at every step) costs one host copy in its life instead of one per call. An entry matches
// only the same live storage (weak_ptr: a freed storage never matches a new one at the same
// address) at the same version (an in-place write bumps it), offset and length.
class CheckedIndexCache {
 public:
  // The largest value of a matching, earlier checked index (all values are >= 0), or -1.
  int64_t max_of(const Tensor& ic) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Entry& e : entries_)
      if (e.storage.lock() == ic.storage() && e.version == ic.storage()->version() &&
          e.offset == ic.offset() && e.numel == ic.numel())
        return e.max;
    return -1;
  }
  void add(const Tensor& ic, int64_t max) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= kCapacity) entries_.erase(entries_.begin());
    entries_.push_back({ic.storage(), ic.storage()->version(), ic.offset(), ic.numel(), max});
  }

 private:
  static constexpr size_t kCapacity = 64;
  struct Entry {
    std::weak_ptr<Storage> storage;
    uint32_t version;
    int64_t offset, numel, max;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
};

CheckedIndexCache& checked_cuda_indices() {
  static CheckedIndexCache cache;
  return cache;
}

// Checks an index tensor: I64, values in [0, bound); returns it contiguous, on its own device.
// `what` names the op and its operands.
Tensor checked_index(const Tensor& index, int64_t bound, const char* op, const std::string& what) {
  NKD_CHECK(index.dtype() == DType::I64, op, ": index must be I64, got ", describe(index));
  const Tensor ic = index.detach().contiguous();
  if (ic.numel() == 0) return ic;
  if (ic.is_cuda()) {
    const int64_t known_max = checked_cuda_indices().max_of(ic);
    if (known_max >= 0 && known_max < bound) return ic;
  }
  const Tensor host = host_index(ic);
  const int64_t bad = first_out_of_range(host, bound);
  NKD_CHECK(bad < 0, op, ": index value ", bad < 0 ? 0 : host.data<int64_t>()[bad],
            " at flat position ", bad, " is out of range [0, ", bound, ") (", what, ")");
  if (ic.is_cuda()) {
    const int64_t* p = host.data<int64_t>();
    checked_cuda_indices().add(ic, *std::max_element(p, p + host.numel()));
  }
  return ic;
}

// "dim 1 of F32[3, 5] cpu, index I64[3, 4] cpu": the operands named in an index error.
std::string operands(const Tensor& x, int64_t d, const Tensor& index) {
  return "dim " + std::to_string(d) + " of " + describe(x) + ", index " + describe(index);
}

// gather / scatter geometry: index shape and strides, x's strides, after the shape checks.
math::GatherGeometry gather_geometry(const Tensor& x, int64_t d, const Tensor& index, const char* op) {
  NKD_CHECK(index.ndim() == x.ndim(), op, ": index ", describe(index), " must have as many dims as ",
            describe(x));
  NKD_CHECK(x.ndim() <= kMaxDims, op, ": at most ", kMaxDims, " dims are supported, got ", describe(x));
  math::GatherGeometry geo;
  geo.ndim = static_cast<int>(x.ndim());
  geo.dim = static_cast<int>(d);
  const Strides xs = contiguous_strides(x.shape()), is = contiguous_strides(index.shape());
  for (int i = 0; i < geo.ndim; ++i) {
    NKD_CHECK(i == d || index.size(i) <= x.size(i), op, ": index ", describe(index),
              " is larger than ", describe(x), " in dim ", i);
    geo.size[i] = index.size(i);
    geo.xstride[i] = xs[i];
    geo.istride[i] = is[i];
  }
  return geo;
}

int64_t columns(const math::GatherGeometry& geo) {
  int64_t n = 1;
  for (int d = 0; d < geo.ndim; ++d)
    if (d != geo.dim) n *= geo.size[d];
  return geo.size[geo.dim] == 0 ? 0 : n;
}

// x (shape of `target`) with ScatterMode applied at index along dim; src may be undefined for Zero.
template <math::ScatterMode kMode>
Tensor scatter_into(Tensor target, const math::GatherGeometry& geo, const Tensor& ic, const Tensor& src,
                    const char* op) {
  dispatch_float(target.dtype(), op, [&]<typename T>() {
    const T* sp = src.defined() ? src.data<T>() : nullptr;
    launch(target.device(), columns(geo),
           math::ScatterColumnsKernel<T, kMode>{geo, ic.data<int64_t>(), sp, target.data<T>()},
           std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(geo.size[geo.dim], 1)));
  });
  return target;
}

Tensor gather_forward(const Tensor& xc, const math::GatherGeometry& geo, const Tensor& ic) {
  Tensor out = empty(ic.shape(), xc.options());
  dispatch_all(xc.dtype(), "gather", [&]<typename T>() {
    launch(out.device(), out.numel(),
           math::GatherKernel<T>{geo, xc.data<T>(), ic.data<int64_t>(), out.data<T>()});
  });
  return out;
}

// out[e] = x[... index[e] ...]  =>  gx = zeros, gx[... index[e] ...] += g[e] (duplicates sum).
class GatherBackward final : public Node {
 public:
  GatherBackward(Shape x, math::GatherGeometry geo, Tensor index)
      : x_(std::move(x)), geo_(geo), index_(std::move(index)) {}
  const char* name() const override { return "GatherBackward"; }
  void release_saved() override { index_ = Tensor(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor gc = g[0].contiguous();
    return {scatter_into<math::ScatterMode::Add>(zeros(x_, gc.options()), geo_, index_, gc, name())};
  }

 private:
  Shape x_;
  math::GatherGeometry geo_;
  Tensor index_;  // I64 [index shape], a private contiguous copy
};

// out = x with out[... index[e] ...] = src[e]
//   =>  gx = g with zeros at the written positions;  gsrc[e] = g[... index[e] ...].
class ScatterBackward final : public Node {
 public:
  ScatterBackward(math::GatherGeometry geo, Tensor index) : geo_(geo), index_(std::move(index)) {}
  const char* name() const override { return "ScatterBackward"; }
  void release_saved() override { index_ = Tensor(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor gc = g[0].contiguous();
    Tensor gx, gsrc;
    if (needs_input_grad(0))
      gx = scatter_into<math::ScatterMode::Zero>(gc.clone(), geo_, index_, Tensor(), name());
    if (needs_input_grad(1)) gsrc = gather_forward(gc, geo_, index_);
    return {gx, gsrc};
  }

 private:
  math::GatherGeometry geo_;
  Tensor index_;  // I64 [index shape], a private contiguous copy
};

}  // namespace

// gather, scatter and index_select run a 16-bit input on an F32 copy (their backward passes
// accumulate), the result rounded back (exact: the values only move).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  common_device("gather", {&x, &index});
  if (is_half(x.dtype())) return gather(x.to(DType::F32), dim, index).to(x.dtype());
  NKD_CHECK(x.ndim() > 0, "gather: expects at least one dim, got ", describe(x));
  const int64_t d = normalize_dim(dim, x.ndim(), "gather");
  const math::GatherGeometry geo = gather_geometry(x, d, index, "gather");
  const Tensor ic = checked_index(index, x.size(d), "gather", operands(x, d, index));
  Tensor out = gather_forward(x.detach().contiguous(), geo, ic);
  if (any_requires_grad({x})) record(std::make_shared<GatherBackward>(x.shape(), geo, ic.clone()), {x}, {out});
  return out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  common_device("scatter", {&x, &index, &src});
  NKD_CHECK(x.ndim() > 0, "scatter: expects at least one dim, got ", describe(x));
  const int64_t d = normalize_dim(dim, x.ndim(), "scatter");
  NKD_CHECK(src.shape() == index.shape(), "scatter: src ", describe(src), " must have the shape of index ",
            describe(index));
  NKD_CHECK(src.dtype() == x.dtype(), "scatter: dtypes differ: ", describe(x), " and src ", describe(src));
  if (is_half(x.dtype()))
    return scatter(x.to(DType::F32), dim, index, src.to(DType::F32)).to(x.dtype());
  const math::GatherGeometry geo = gather_geometry(x, d, index, "scatter");
  const Tensor ic = checked_index(index, x.size(d), "scatter", operands(x, d, index));
  Tensor out = scatter_into<math::ScatterMode::Assign>(x.detach().clone(), geo, ic, src.detach().contiguous(),
                                                       "scatter");
  if (any_requires_grad({x, src}))
    record(std::make_shared<ScatterBackward>(geo, ic.clone()), {x, src}, {out});
  return out;
}

namespace {

math::SelectGeometry select_geometry(const Shape& x, int64_t d, int64_t j) {
  math::SelectGeometry geo;
  for (int64_t i = 0; i < d; ++i) geo.outer *= x[i];
  geo.d = x[d];
  geo.j = j;
  for (size_t i = d + 1; i < x.size(); ++i) geo.inner *= x[i];
  return geo;
}

// out[o, j, i] = x[o, index[j], i]  =>  gx = zeros, gx[o, index[j], i] += g[o, j, i] (index_add).
class IndexSelectBackward final : public Node {
 public:
  IndexSelectBackward(Shape x, math::SelectGeometry geo, Tensor index)
      : x_(std::move(x)), geo_(geo), index_(std::move(index)) {}
  const char* name() const override { return "IndexSelectBackward"; }
  void release_saved() override { index_ = Tensor(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor gc = g[0].contiguous();
    Tensor gx = zeros(x_, gc.options());
    const bool scan = gx.is_cuda() && geo_.d * geo_.j <= math::kIndexAddScanMaxWork;
    dispatch_float(gc.dtype(), name(), [&]<typename T>() {
      if (scan) {
        launch(gx.device(), gx.numel(),
               math::IndexAddScanKernel<T>{geo_, gc.data<T>(), index_.data<int64_t>(), gx.data<T>()});
        return;
      }
      launch(gx.device(), geo_.outer * geo_.inner,
             math::IndexAddKernel<T>{geo_, gc.data<T>(), index_.data<int64_t>(), gx.data<T>()},
             std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(geo_.j, 1)));
    });
    return {gx};
  }

 private:
  Shape x_;
  math::SelectGeometry geo_;
  Tensor index_;  // I64 [J], a private contiguous copy
};

}  // namespace

static Tensor index_select_untraced(const Tensor& x, int64_t dim, const Tensor& index) {
  common_device("index_select", {&x, &index});
  if (is_half(x.dtype())) return index_select(x.to(DType::F32), dim, index).to(x.dtype());
  NKD_CHECK(x.ndim() > 0, "index_select: expects at least one dim, got ", describe(x));
  NKD_CHECK(index.ndim() <= 1, "index_select: index must be 1-D, got ", describe(index));
  const int64_t d = normalize_dim(dim, x.ndim(), "index_select");
  const Tensor ic = checked_index(index, x.size(d), "index_select", operands(x, d, index));
  const math::SelectGeometry geo = select_geometry(x.shape(), d, ic.numel());
  Shape shape = x.shape();
  shape[d] = ic.numel();
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty(shape, xc.options());
  dispatch_all(xc.dtype(), "index_select", [&]<typename T>() {
    launch(out.device(), out.numel(),
           math::IndexSelectKernel<T>{geo, xc.data<T>(), ic.data<int64_t>(), out.data<T>()});
  });
  if (any_requires_grad({x}))
    record(std::make_shared<IndexSelectBackward>(x.shape(), geo, ic.clone()), {x}, {out});
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  trace::OpScope scope;
  return scope.done("index_select", {x, index}, index_select_untraced(x, dim, index),
                    trace::OpAttrs().set("dim", {dim}));
}

Tensor one_hot(const Tensor& index, int64_t num_classes, DType dtype) {
  NKD_CHECK(index.dtype() == DType::I64, "one_hot: index must be I64, got ", describe(index));
  const Tensor ic = index.detach().contiguous();
  const Tensor host = host_index(ic);  // the values, read once for num_classes and the range check
  if (num_classes == -1) {
    NKD_CHECK(ic.numel() > 0, "one_hot: cannot infer num_classes from empty ", describe(index));
    const int64_t* p = host.data<int64_t>();
    num_classes = *std::max_element(p, p + host.numel()) + 1;
  }
  NKD_CHECK(num_classes > 0, "one_hot: num_classes must be positive (or -1), got ", num_classes);
  checked_index(host, num_classes, "one_hot",
                "num_classes " + std::to_string(num_classes) + ", index " + describe(index));
  Shape shape = index.shape();
  shape.push_back(num_classes);
  Tensor out = empty(shape, {dtype, index.device()});
  dispatch_all(dtype, "one_hot", [&]<typename T>() {
    launch(out.device(), out.numel(), math::OneHotKernel<T>{num_classes, ic.data<int64_t>(), out.data<T>()});
  });
  return out;
}

}  // namespace nkd::ops
