// Copies: deep copy, device and dtype conversion, and the in-place strided copy every view-writing
// op builds on.
#pragma once
#include "engine/tensor.h"

namespace nkd::ops {

// A contiguous deep copy of x (any layout). Differentiable. No op case: contiguous's cases run
// the same copy.
Tensor clone(const Tensor& x);
// x on `device` (x itself when already there), contiguous. Differentiable: the gradient is copied
// back to x's device. CPU <-> CUDA; a copy to the host waits for the device (SYNC). No op case:
// the GPU parity test moves every case's inputs with it.
Tensor to_device(const Tensor& x, Device device);
// x converted to dtype (x itself when already that dtype). Differentiable between float dtypes.
// No op case: the F32 reference checks convert every case's inputs with it.
Tensor to_dtype(const Tensor& x, DType dtype);
// dst[...] = src, src broadcast to dst's shape and converted to dst's dtype; dst may be any view.
// In place: bumps dst's version; not recorded by autograd (dst must not require grad while
// recording).
void copy_(const Tensor& dst, const Tensor& src);

}  // namespace nkd::ops
