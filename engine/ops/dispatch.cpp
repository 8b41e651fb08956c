// Device and dtype agreement checks.
#include "engine/ops/dispatch.h"

#include "engine/ops/indexing.h"

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

StridedIndex make_strided_index(const Shape& shape, const Strides& strides, const char* op) {
  NKD_CHECK(shape.size() <= kMaxDims, op, ": at most ", kMaxDims, " dims are supported, got ",
            to_string(shape));
  StridedIndex idx;
  idx.ndim = static_cast<int>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    idx.size[d] = shape[d];
    idx.stride[d] = strides[d];
  }
  return idx;
}

}  // namespace nkd::ops
