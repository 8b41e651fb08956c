// StridedIndex: maps a logical row-major element index to a strided storage offset. A plain
// struct usable in NKD_HD kernel functors on the CPU and the GPU (at most kMaxDims dims).
#pragma once
#include <cstdint>

#include "engine/host_device.h"
#include "engine/shape.h"

namespace nkd::ops {

inline constexpr int kMaxDims = 8;

struct StridedIndex {
  int ndim = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};

  NKD_HD int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % size[d];
      linear /= size[d];
      off += i * stride[d];
    }
    return off;
  }
};

// Throws when shape has more than kMaxDims dims.
StridedIndex make_strided_index(const Shape& shape, const Strides& strides, const char* op);

}  // namespace nkd::ops
