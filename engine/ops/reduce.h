// Reductions over a set of dims (empty = all dims). F32 sums accumulate in double.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace nkd::ops {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Maximum over dims; the gradient flows to the first maximal element of each reduced group.
Tensor max(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Index (along `dim`) of the first maximum; I64, not differentiable (no op case: an integer
// result has no gradient to check; tests/engine cover it).
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);

// Sums g over broadcast dims so the result has `shape` (the backward of broadcasting; no op case:
// every broadcasting op's gradcheck runs it).
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

}  // namespace nkd::ops
