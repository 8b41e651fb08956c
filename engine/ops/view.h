// Shape ops that return views sharing x's storage (reshape copies only when x's strides make a
// view impossible). All are differentiable.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace nkd::ops {

// One dim of `shape` may be -1 (inferred). Copies when x is not contiguous.
Tensor reshape(const Tensor& x, const Shape& shape);
// Like reshape, but x must be contiguous (never copies). No op case: reshape's cases cover it.
Tensor view(const Tensor& x, const Shape& shape);
// out.shape[i] = x.shape[dims[i]]; dims is a permutation.
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t a, int64_t b);
// The slice [start, start + length) of dim.
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Broadcasts size-1 dims (and new leading dims) to `shape` with stride 0; -1 keeps a dim.
Tensor expand(const Tensor& x, const Shape& shape);
// unsqueeze, squeeze (dim must have size 1) and flatten are reshapes (no op case: reshape's cases
// cover them).
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);

}  // namespace nkd::ops
