// Index arithmetic of the strided kernels, plain structs usable in NKD_HD functors on the CPU and
// the GPU (at most kMaxDims dims):
//   StridedIndex  a logical row-major element index -> a strided storage offset (64-bit);
//   FastDivmod    division by a divisor fixed on the host, for numerators below 2^31, as a
//                 multiply-high, an add and a shift (Granlund & Montgomery 1994, as PyTorch's
//                 IntDivider): a 64-bit division costs the GPU about a hundred instructions;
//   CopyDims / CopyIndex32  a copy's two layouts with their dims merged where both allow, and the
//                 32-bit form that finds both offsets with one FastDivmod per dim.
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

NKD_HD uint32_t mul_hi(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((uint64_t{a} * b) >> 32);
#endif
}

struct FastDivmod {
  uint32_t divisor = 1, multiplier = 0, shift = 0;

  FastDivmod() = default;
  // d in [1, 2^31).
  explicit FastDivmod(uint32_t d) : divisor(d) {
    while ((uint64_t{1} << shift) < d) ++shift;
    multiplier = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1);
  }
  // n / divisor for n < 2^31 (t <= n, so t + n does not overflow).
  NKD_HD uint32_t div(uint32_t n) const { return (mul_hi(n, multiplier) + n) >> shift; }
};

// A copy's destination and source layouts over one shape, with size-1 dims dropped and adjacent
// dims merged where both layouts are contiguous across them (at least one dim).
struct CopyDims {
  StridedIndex dst, src;
};
// Throws when shape has more than kMaxDims dims.
CopyDims coalesce_copy(const Shape& shape, const Strides& dst, const Strides& src, const char* op);

struct CopyIndex32 {
  int ndim = 0;
  FastDivmod size[kMaxDims];
  int64_t dstride[kMaxDims] = {}, sstride[kMaxDims] = {};

  CopyIndex32() = default;
  // For copies of fewer than 2^31 elements.
  explicit CopyIndex32(const CopyDims& c) : ndim(c.dst.ndim) {
    for (int d = 0; d < ndim; ++d) {
      size[d] = FastDivmod(static_cast<uint32_t>(c.dst.size[d]));
      dstride[d] = c.dst.stride[d];
      sstride[d] = c.src.stride[d];
    }
  }
  NKD_HD void offsets(uint32_t linear, int64_t& dst_off, int64_t& src_off) const {
    dst_off = src_off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const uint32_t q = size[d].div(linear), r = linear - q * size[d].divisor;
      linear = q;
      dst_off += int64_t{r} * dstride[d];
      src_off += int64_t{r} * sstride[d];
    }
  }
};

}  // namespace nkd::ops
