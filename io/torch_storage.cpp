// Storage types and the strided copy out of a raw storage (F16/BF16 widened to F32).
#include "io/torch_storage.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/factory.h"
#include "io/half.h"

namespace nkd::io {
namespace {

constexpr TorchStorageType kTypes[] = {
    {"FloatStorage", 4, DType::F32, 0}, {"DoubleStorage", 8, DType::F64, 0},
    {"HalfStorage", 2, DType::F32, 1},  {"BFloat16Storage", 2, DType::F32, 2},
    {"LongStorage", 8, DType::I64, 0},  {"IntStorage", 4, DType::I32, 0},
    {"ByteStorage", 1, DType::U8, 0}};

}  // namespace

const TorchStorageType* torch_storage_type(const std::string& name) {
  for (const TorchStorageType& t : kTypes)
    if (name == t.name) return &t;
  return nullptr;
}

const TorchStorageType& torch_storage_type(DType dtype) {
  for (const TorchStorageType& t : kTypes)
    if (t.half == 0 && t.dtype == dtype) return t;
  NKD_FAIL("torch checkpoint: cannot write dtype ", name(dtype));
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d) s += ", ";
    s += std::to_string(shape[d]);
  }
  return s + "]";
}

Tensor copy_strided(const TorchStorageType& type, const uint8_t* data, int64_t offset,
                    const Shape& shape, const Strides& strides) {
  Tensor t = empty(shape, {type.dtype, kCPU});
  const int64_t count = t.numel();
  uint8_t* out = static_cast<uint8_t*>(t.raw_data());
  const size_t nd = shape.size(), out_bytes = type.half ? 4 : type.bytes;
  bool contiguous = type.half == 0;
  for (int64_t d = static_cast<int64_t>(nd) - 1, expected = 1; d >= 0; expected *= shape[d], --d)
    contiguous &= shape[d] == 1 || strides[d] == expected;
  if (contiguous) {
    if (count > 0) std::memcpy(out, data + offset * type.bytes, count * type.bytes);
    return t;
  }
  std::vector<int64_t> idx(nd, 0);
  int64_t src = offset;
  for (int64_t n = 0; n < count; ++n) {
    const uint8_t* p = data + static_cast<size_t>(src) * type.bytes;
    if (type.half == 0) {
      std::memcpy(out + n * out_bytes, p, type.bytes);
    } else {
      const uint16_t h = static_cast<uint16_t>(p[0] | (p[1] << 8));
      const float f = type.half == 2 ? bf16_to_float(h) : half_to_float(h);
      std::memcpy(out + n * out_bytes, &f, 4);
    }
    for (size_t d = nd; d-- > 0;) {  // odometer over the logical index
      src += strides[d];
      if (++idx[d] < shape[d]) break;
      src -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
  return t;
}

}  // namespace nkd::io
