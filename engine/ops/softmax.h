// Softmax and log-softmax along one dim: same shape, dtype (F32/F64) and device as x; a new
// contiguous output; differentiable. Max-subtracted, F32 rows accumulate in double, so large
// logits (+-1e4) give finite results.
#pragma once
#include "engine/tensor.h"

namespace nkd::ops {

// y = exp(x - max) / sum(exp(x - max)) along dim (negative dims count from the end).
Tensor softmax(const Tensor& x, int64_t dim);
// y = x - max - log(sum(exp(x - max))) along dim.
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace nkd::ops
