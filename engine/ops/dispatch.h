// Device checks shared by every op: until the CUDA backend implements an op, a CUDA tensor
// reaching it is reported with the op's name instead of being read as host memory.
#pragma once
#include <initializer_list>

#include "engine/tensor.h"

namespace nkd::ops {

// All defined tensors must live on the same device; returns that device.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws "op: not implemented for cuda:0 tensors yet" for a non-CPU tensor.
void require_cpu(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws unless every defined tensor has dtype `dt`.
void require_dtype(const char* op, DType dt, std::initializer_list<const Tensor*> tensors);

}  // namespace nkd::ops
