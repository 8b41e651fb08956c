// Device and dtype agreement checks (dispatch.h).
#include "engine/ops/dispatch.h"

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

}  // namespace nkd::ops
