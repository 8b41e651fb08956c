// Strided copies with dtype conversion, and their autograd nodes.
#include "engine/ops/copy.h"

#include <algorithm>
#include <cstring>

#include "engine/autograd/grad_mode.h"
#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/cuda/device.h"
#include "engine/cuda/memcpy.h"
#include "engine/factory.h"
#include "engine/launch.h"
#include "engine/ops/detail/copy_cuda.h"
#include "engine/ops/detail/indexing.h"
#include "engine/ops/dispatch.h"
#include "engine/trace.h"

namespace nkd::ops {
namespace {

// dst[dst_idx(i)] = src[src_idx(i)] for i in [0, n): the copy kernel (CPU launcher).
template <typename TD, typename TS>
void copy_kernel(TD* dst, StridedIndex di, const TS* src, StridedIndex si, int64_t n) {
  // Row by row over the last dim, so the index arithmetic runs once per row, not per element
  // (the per-element form, detail::CopyKernel, is what the GPU runs).
  const int nd = di.ndim;  // at least 1 (coalesce_copy)
  const int64_t inner = di.size[nd - 1], ds = di.stride[nd - 1], ss = si.stride[nd - 1];
  StridedIndex drow = di, srow = si;
  drow.ndim = srow.ndim = nd - 1;
  cpu::parallel_for(n / inner, std::max<int64_t>(1, cpu::kGrain / inner), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      TD* d = dst + drow.offset(r);
      const TS* sp = src + srow.offset(r);
      for (int64_t j = 0; j < inner; ++j) d[j * ds] = static_cast<TD>(sp[j * ss]);
    }
  });
}

// Same dtype, same shape, both contiguous: a byte copy on the tensors' device.
void copy_bytes(const Tensor& dst, const Tensor& src, size_t bytes) {
  if (dst.device().is_cpu()) {
    std::memcpy(dst.raw_data(), src.raw_data(), bytes);
  } else {
    cuda::memcpy_device_to_device(dst.raw_data(), dst.device(), src.raw_data(), src.device(),
                                  bytes);
  }
}

void copy_impl(const Tensor& dst, const Tensor& src_in) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  // A source on another device is first brought over whole (contiguous), then copied in place.
  const Tensor src =
      src_in.device() == dst.device() ? src_in : to_device(src_in.detach(), dst.device());
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() &&
      src.shape() == dst.shape()) {
    copy_bytes(dst, src, static_cast<size_t>(n) * size_of(dst.dtype()));
    return;
  }
  const Tensor s = src.shape() == dst.shape() ? src : src.detach().expand(dst.shape());
  const CopyDims dims = coalesce_copy(dst.shape(), dst.strides(), s.strides(), "copy_");
  if (dst.is_cuda()) {
    if constexpr (kBuiltWithCuda) {
      gpu::copy_strided(dst.device(), dst.dtype(), dst.raw_data(), s.dtype(), s.raw_data(), dims, n);
    } else {
      fail_without_cuda("copy_", dst.device());
    }
    return;
  }
  dispatch_all(dst.dtype(), "copy_", [&]<typename TD>() {
    dispatch_all(s.dtype(), "copy_", [&]<typename TS>() {
      copy_kernel(static_cast<TD*>(dst.raw_data()), dims.dst, static_cast<const TS*>(s.raw_data()),
                  dims.src, n);
    });
  });
}

// x's elements as a new contiguous tensor on `device` (x is contiguous; devices differ).
Tensor transfer(const Tensor& x, Device device) {
  Tensor out = empty(x.shape(), {x.dtype(), device});
  const size_t bytes = static_cast<size_t>(x.numel()) * size_of(x.dtype());
  if (bytes == 0) return out;
  if (x.device().is_cpu()) {
    cuda::memcpy_host_to_device(out.raw_data(), device, x.raw_data(), bytes);
  } else if (device.is_cpu()) {
    cuda::memcpy_device_to_host(out.raw_data(), x.raw_data(), x.device(), bytes);
  } else {
    cuda::memcpy_device_to_device(out.raw_data(), device, x.raw_data(), x.device(), bytes);
  }
  return out;
}

// Gradient passes through unchanged except for a dtype / device change back to the input's.
class ConvertBackward final : public Node {
 public:
  explicit ConvertBackward(TensorOptions in) : in_(in) {}
  const char* name() const override { return "ConvertBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {to_dtype(to_device(g[0], in_.device), in_.dtype)};
  }

 private:
  TensorOptions in_;
};

class CloneBackward final : public Node {
 public:
  const char* name() const override { return "CloneBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override { return {std::move(g[0])}; }
};

}  // namespace

static Tensor clone_untraced(const Tensor& x) {
  Tensor out = empty(x.shape(), x.options());
  copy_impl(out, x);
  if (any_requires_grad({x})) record(std::make_shared<CloneBackward>(), {x}, {out});
  return out;
}

Tensor clone(const Tensor& x) {
  trace::OpScope scope;
  return scope.done("clone", {x}, clone_untraced(x));
}

Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  if (device.is_cuda()) cuda::init(device);  // says why the device is unusable, if it is
  Tensor out = transfer(x.detach().contiguous(), device);
  if (any_requires_grad({x})) record(std::make_shared<ConvertBackward>(x.options()), {x}, {out});
  return out;
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = empty(x.shape(), {dtype, x.device()});
  copy_impl(out, x);
  if (any_requires_grad({x})) {
    NKD_CHECK(is_floating(dtype), "to_dtype: cannot differentiate a conversion to ", name(dtype));
    record(std::make_shared<ConvertBackward>(x.options()), {x}, {out});
  }
  return out;
}

void copy_(const Tensor& dst, const Tensor& src) {
  NKD_CHECK(!(grad_enabled() && dst.requires_grad()), "copy_: in-place write into ",
            describe(dst), ", which requires grad, while gradients are recorded");
  NKD_CHECK(src.ndim() <= dst.ndim() &&
                broadcast_shapes(dst.shape(), src.shape(), "copy_") == dst.shape(),
            "copy_: cannot copy ", describe(src), " into ", describe(dst));
  copy_impl(dst, src);
  dst.storage()->bump_version();
}

// The copy's dims with size-1 dims dropped and neighbours merged where both layouts allow.
CopyDims coalesce_copy(const Shape& shape, const Strides& dst, const Strides& src, const char* op) {
  NKD_CHECK(shape.size() <= kMaxDims, op, ": at most ", kMaxDims, " dims are supported, got ",
            to_string(shape));
  CopyDims c;
  int n = 0;  // dims kept so far, outermost first
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (n > 0 && c.dst.stride[n - 1] == dst[d] * shape[d] && c.src.stride[n - 1] == src[d] * shape[d]) {
      c.dst.size[n - 1] = c.src.size[n - 1] = c.dst.size[n - 1] * shape[d];  // merged into dim n - 1
      c.dst.stride[n - 1] = dst[d];
      c.src.stride[n - 1] = src[d];
      continue;
    }
    c.dst.size[n] = c.src.size[n] = shape[d];
    c.dst.stride[n] = dst[d];
    c.src.stride[n] = src[d];
    ++n;
  }
  if (n == 0) {  // one element (or a shape of size-1 dims)
    c.dst.size[0] = c.src.size[0] = 1;
    n = 1;
  }
  c.dst.ndim = c.src.ndim = n;
  return c;
}

}  // namespace nkd::ops
