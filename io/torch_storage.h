// PyTorch's typed storages as they appear in torch.save pickles (torch.FloatStorage, ...), and
// the copy of a strided view of a raw little-endian storage into a contiguous nkd tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace nkd::io {

struct TorchStorageType {
  const char* name;  // "FloatStorage"
  size_t bytes;      // element size in the file
  DType dtype;       // dtype in memory (F16 and BF16 become F32)
  int half;          // 0: copied as is, 1: F16, 2: BF16
};

// The allowed storage type named `name` ("FloatStorage", ...), or null.
const TorchStorageType* torch_storage_type(const std::string& name);
// The storage type nkd writes for `dtype` (F32, F64, I64, I32, U8); nkd::Error otherwise.
const TorchStorageType& torch_storage_type(DType dtype);

// Copies elements offset + sum(i_d * strides[d]) of `data` into a new contiguous tensor. The
// caller has checked that every such element lies inside `data`.
Tensor copy_strided(const TorchStorageType& type, const uint8_t* data, int64_t offset,
                    const Shape& shape, const Strides& strides);

std::string shape_str(const Shape& shape);  // "[2, 3]"

}  // namespace nkd::io
