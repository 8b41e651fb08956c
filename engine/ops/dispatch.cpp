// Device and dtype agreement checks.
#include "engine/ops/dispatch.h"

#include "engine/ops/detail/indexing.h"

namespace nkd::ops {

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (first == nullptr) {
      first = t;
      continue;
    }
    NKD_CHECK(t->device() == first->device(), op, ": tensors on different devices: ",
              describe(*first), " and ", describe(*t));
  }
  return first ? first->device() : kCPU;
}

void require_cpu(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    NKD_CHECK(!t->defined() || t->device().is_cpu(), op, ": not implemented for ",
              t->device().str(), " tensors (", describe(*t), ")");
}

void require_dtype(const char* op, DType dt, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    NKD_CHECK(!t->defined() || t->dtype() == dt, op, ": expected dtype ", name(dt), ", got ",
              describe(*t));
}

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
