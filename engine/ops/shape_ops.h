// Shape and indexing ops: concatenation and splitting, gather / scatter / index_select, one_hot,
// roll, constant padding and channel shuffle. Float inputs (F32/F64) are differentiable; the pure
// data movers (concat, split, chunk, gather, index_select, roll, pad) also accept I64/I32/U8 data.
// Index tensors are I64. Outputs are new contiguous tensors unless a comment says "views".
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace nkd::ops {

// Joins tensors along dim; all share ndim, dtype and device, and sizes outside dim.
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim);
// Views of x, one per entry of sizes (which must sum to x.size(dim)).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
// torch.chunk: views of ceil(size / chunks) along dim, the last one smaller; may return fewer
// than `chunks` views.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim);

// torch.gather: out[...i_dim...] = x[...index[...]...]; index has x's ndim, out has index's shape,
// index.size(d) <= x.size(d) for d != dim, values in [0, x.size(dim)). Differentiable in x
// (duplicate indices sum).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// Out-of-place torch.scatter: a copy of x with src[e] written at index[e] along dim (index and src
// share one shape; with duplicate indices in one column the last write wins). Differentiable in x
// (zero where overwritten) and src (the gradient gathered at index).
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Rows of x along dim at the positions in the 1-D index (duplicates allowed; their gradients sum).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// [*index.shape, num_classes] with 1 at each index value (num_classes = -1: max + 1). Any dtype of
// F32, F64, I64, I32, U8; not differentiable. Values outside [0, num_classes) throw.
Tensor one_hot(const Tensor& index, int64_t num_classes, DType dtype = DType::F32);

// torch.roll: out[(k + shift) mod n] = x[k] along each of dims (repeated dims add up). With dims
// empty, x is rolled as if flattened (one shift).
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims);
// Constant padding in F.pad order: (left, right) pairs starting at the last dim. A negative pad
// crops. Every resulting size must stay >= 0.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);
// ShuffleNet's channel shuffle on [N, C, ...]: reshape [N, g, C/g, ...], swap dims 1 and 2,
// reshape back. C must be divisible by groups. Built from view ops.
Tensor channel_shuffle(const Tensor& x, int64_t groups);

}  // namespace nkd::ops
