// concat, split, chunk, roll, pad and channel_shuffle: argument checks, the launch of the
// detail/shape_math.h functors on either device (nkd::launch), and the backward nodes. The indexing
// ops are in shape_index.cpp. concat copies each input into a view of the output (copy_ runs on
// either device); split, chunk and channel_shuffle are view ops and run wherever their input is.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"
#include "engine/ops/dispatch.h"
#include "engine/launch.h"
#include "engine/ops/detail/shape_math.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/view.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

// out = [x_0, x_1, ...] along dim  =>  g_k = g.narrow(dim, offset_k, size_k).
class ConcatBackward final : public Node {
 public:
  ConcatBackward(int64_t dim, std::vector<int64_t> sizes) : dim_(dim), sizes_(std::move(sizes)) {}
  const char* name() const override { return "ConcatBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(sizes_.size());
    int64_t offset = 0;
    for (size_t k = 0; k < sizes_.size(); ++k) {
      if (needs_input_grad(k)) out[k] = narrow(g[0], dim_, offset, sizes_[k]);
      offset += sizes_[k];
    }
    return out;
  }

 private:
  int64_t dim_;
  std::vector<int64_t> sizes_;  // each input's size along dim
};

void check_concat(const std::vector<Tensor>& ts, int64_t d) {
  const Tensor& t0 = ts[0];
  for (size_t k = 1; k < ts.size(); ++k) {
    const Tensor& t = ts[k];
    NKD_CHECK(t.dtype() == t0.dtype(), "concat: dtypes differ: tensor 0 ", describe(t0), ", tensor ",
              k, " ", describe(t));
    NKD_CHECK(t.device() == t0.device(), "concat: tensors on different devices: tensor 0 ",
              describe(t0), ", tensor ", k, " ", describe(t));
    bool same = t.ndim() == t0.ndim();
    for (int64_t i = 0; same && i < t.ndim(); ++i) same = i == d || t.size(i) == t0.size(i);
    NKD_CHECK(same, "concat: tensor ", k, " ", describe(t), " does not match tensor 0 ", describe(t0),
              " outside dim ", d);
  }
}

}  // namespace

static Tensor concat_untraced(const std::vector<Tensor>& tensors, int64_t dim) {
  NKD_CHECK(!tensors.empty(), "concat: needs at least one tensor");
  for (const Tensor& t : tensors) NKD_CHECK(t.defined(), "concat: undefined tensor in the list");
  NKD_CHECK(tensors[0].ndim() > 0, "concat: cannot concatenate zero-dim tensor ", describe(tensors[0]));
  const int64_t d = normalize_dim(dim, tensors[0].ndim(), "concat");
  check_concat(tensors, d);
  Shape shape = tensors[0].shape();
  std::vector<int64_t> sizes;
  shape[d] = 0;
  for (const Tensor& t : tensors) {
    sizes.push_back(t.size(d));
    shape[d] += t.size(d);
  }
  Tensor out = empty(shape, tensors[0].options());
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    copy_(out.narrow(d, offset, t.size(d)), t.detach());
    offset += t.size(d);
  }
  if (any_requires_grad(tensors)) record(std::make_shared<ConcatBackward>(d, sizes), tensors, {out});
  return out;
}

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  trace::OpScope scope;
  return scope.done("concat", tensors, concat_untraced(tensors, dim), trace::OpAttrs().set("dim", {dim}));
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  const int64_t d = normalize_dim(dim, x.ndim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    NKD_CHECK(s >= 0, "split: negative size ", s, " for ", describe(x));
    total += s;
  }
  NKD_CHECK(total == x.size(d), "split: sizes sum to ", total, " but dim ", d, " of ", describe(x),
            " has ", x.size(d));
  std::vector<Tensor> out;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, d, offset, s));
    offset += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  NKD_CHECK(chunks > 0, "chunk: chunks must be positive, got ", chunks, " for ", describe(x));
  const int64_t d = normalize_dim(dim, x.ndim(), "chunk");
  const int64_t n = x.size(d), step = (n + chunks - 1) / chunks;
  if (n == 0) return std::vector<Tensor>(chunks, narrow(x, d, 0, 0));
  std::vector<Tensor> out;
  for (int64_t start = 0; start < n; start += step) out.push_back(narrow(x, d, start, std::min(step, n - start)));
  return out;
}

namespace {

// Runs a ShiftGeometry functor (RollKernel / PadKernel) on every dtype a data mover accepts.
template <template <typename> class Kernel>
Tensor shift_copy(const Tensor& x, math::ShiftGeometry geo, const Shape& out_shape,
                  const char* op, double value = 0.0) {
  geo.prepare_division();
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(out_shape, xc.options());
  dispatch_all(xc.dtype(), op, [&]<typename T>() {
    if constexpr (std::is_same_v<Kernel<T>, math::PadKernel<T>>) {
      launch(y.device(), y.numel(), Kernel<T>{geo, static_cast<T>(value), xc.data<T>(), y.data<T>()});
    } else {
      launch(y.device(), y.numel(), Kernel<T>{geo, xc.data<T>(), y.data<T>()});
    }
  });
  return y;
}

// roll by s  =>  gx = roll(g, -s).
class RollBackward final : public Node {
 public:
  RollBackward(std::vector<int64_t> shifts, std::vector<int64_t> dims)
      : shifts_(std::move(shifts)), dims_(std::move(dims)) {}
  const char* name() const override { return "RollBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<int64_t> back(shifts_.size());
    for (size_t i = 0; i < shifts_.size(); ++i) back[i] = -shifts_[i];
    return {roll(g[0], back, dims_)};
  }

 private:
  std::vector<int64_t> shifts_, dims_;
};

// pad by (l, r) per dim  =>  gx = pad(g, (-l, -r)): the window of g that came from x.
class PadBackward final : public Node {
 public:
  explicit PadBackward(std::vector<int64_t> pads) : pads_(std::move(pads)) {}
  const char* name() const override { return "PadBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<int64_t> back(pads_.size());
    for (size_t i = 0; i < pads_.size(); ++i) back[i] = -pads_[i];
    return {pad(g[0], back, 0.0)};
  }

 private:
  std::vector<int64_t> pads_;
};

math::ShiftGeometry shift_geometry(const Tensor& x, const char* op) {
  NKD_CHECK(x.ndim() <= kMaxDims, op, ": at most ", kMaxDims, " dims are supported, got ", describe(x));
  math::ShiftGeometry geo;
  geo.ndim = static_cast<int>(x.ndim());
  for (int d = 0; d < geo.ndim; ++d) geo.in_size[d] = geo.out_size[d] = x.size(d);
  return geo;
}

// roll of a CPU tensor as whole runs: for each index of the dims before the last shifted dim
// (`last`, size n, shift s), y[..., s:n, ...] = x[..., 0:n-s, ...] and y[..., 0:s, ...] =
// x[..., n-s:n, ...] are two contiguous blocks (memcpy), where RollKernel computed the source of
// every element. The same data movement, so the same bytes.
Tensor roll_cpu(const Tensor& x, const math::ShiftGeometry& geo) {
  const Tensor xc = x.detach().contiguous();
  Tensor y = empty(xc.shape(), xc.options());
  int last = -1;
  for (int d = 0; d < geo.ndim; ++d)
    if (geo.shift[d] != 0) last = d;
  if (last < 0 || xc.numel() == 0) {
    copy_(y, xc);
    return y;
  }
  const auto es = static_cast<int64_t>(size_of(xc.dtype()));
  int64_t inner = 1, outer = 1;
  for (int d = last + 1; d < geo.ndim; ++d) inner *= geo.in_size[d];
  for (int d = 0; d < last; ++d) outer *= geo.in_size[d];
  const int64_t n = geo.in_size[last], s = geo.shift[last], row = n * inner * es;
  const char* src = static_cast<const char*>(xc.raw_data());
  char* dst = static_cast<char*>(y.raw_data());
  cpu::parallel_for(outer, std::max<int64_t>(1, cpu::kGrain / (n * inner)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t rest = o, from = 0, stride = 1;  // the source row of output row o, in rows
      for (int d = last - 1; d >= 0; --d) {
        const int64_t size = geo.in_size[d], k = rest % size;
        rest /= size;
        from += (k >= geo.shift[d] ? k - geo.shift[d] : k - geo.shift[d] + size) * stride;
        stride *= size;
      }
      const char* xr = src + from * row;
      char* yr = dst + o * row;
      std::memcpy(yr + s * inner * es, xr, static_cast<size_t>((n - s) * inner * es));
      std::memcpy(yr, xr + (n - s) * inner * es, static_cast<size_t>(s * inner * es));
    }
  });
  return y;
}

}  // namespace

static Tensor roll_untraced(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  if (dims.empty()) {
    NKD_CHECK(shifts.size() == 1, "roll: without dims exactly one shift is expected, got ",
              shifts.size(), " for ", describe(x));
    return reshape(roll(flatten(x), shifts, {0}), x.shape());
  }
  NKD_CHECK(shifts.size() == dims.size(), "roll: ", shifts.size(), " shifts for ", dims.size(),
            " dims of ", describe(x));
  math::ShiftGeometry geo = shift_geometry(x, "roll");
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = normalize_dim(dims[i], x.ndim(), "roll");
    if (x.size(d) == 0) continue;
    geo.shift[d] = ((geo.shift[d] + shifts[i]) % x.size(d) + x.size(d)) % x.size(d);
  }
  Tensor y = x.is_cuda() ? shift_copy<math::RollKernel>(x, geo, x.shape(), "roll") : roll_cpu(x, geo);
  if (any_requires_grad({x})) record(std::make_shared<RollBackward>(shifts, dims), {x}, {y});
  return y;
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims) {
  trace::OpScope scope;
  return scope.done("roll", {x}, roll_untraced(x, shifts, dims),
                    trace::OpAttrs().set("shifts", shifts).set("dims", dims));
}

static Tensor pad_untraced(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  NKD_CHECK(pads.size() % 2 == 0 && static_cast<int64_t>(pads.size()) <= 2 * x.ndim(), "pad: ",
            pads.size(), " pad values for ", describe(x), " (expected (left, right) pairs, at most 2 per dim)");
  math::ShiftGeometry geo = shift_geometry(x, "pad");
  Shape out_shape = x.shape();
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t d = x.ndim() - 1 - static_cast<int64_t>(k);
    out_shape[d] += pads[2 * k] + pads[2 * k + 1];
    NKD_CHECK(out_shape[d] >= 0, "pad: padding (", pads[2 * k], ", ", pads[2 * k + 1], ") of dim ", d,
              " of ", describe(x), " leaves a negative size ", out_shape[d]);
    geo.out_size[d] = out_shape[d];
    geo.shift[d] = pads[2 * k];
  }
  Tensor y = shift_copy<math::PadKernel>(x, geo, out_shape, "pad", value);
  if (any_requires_grad({x})) record(std::make_shared<PadBackward>(pads), {x}, {y});
  return y;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  trace::OpScope scope;
  return scope.done("pad", {x}, pad_untraced(x, pads, value),
                    trace::OpAttrs().set("pads", pads).set_float("value", value));
}

Tensor channel_shuffle(const Tensor& x, int64_t groups) {
  NKD_CHECK(x.ndim() >= 2, "channel_shuffle: expects [N, C, ...], got ", describe(x));
  NKD_CHECK(groups > 0 && x.size(1) % groups == 0, "channel_shuffle: ", x.size(1),
            " channels are not divisible into ", groups, " groups (", describe(x), ")");
  Shape grouped = {x.size(0), groups, x.size(1) / groups};
  grouped.insert(grouped.end(), x.shape().begin() + 2, x.shape().end());
  return reshape(reshape(x, grouped).transpose(1, 2).contiguous(), x.shape());
}

}  // namespace nkd::ops
