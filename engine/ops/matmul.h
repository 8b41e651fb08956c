// Matrix products: matmul (torch.matmul semantics), bmm, and linear (x @ w^T + b as one op).
// F32 and F64 on the CPU through OpenBLAS; operands must share dtype and device. Inputs may be any
// strided view (transposed views are read in place); outputs are new contiguous tensors. All are
// differentiable.
#pragma once
#include "engine/tensor.h"

namespace nkd::ops {

// a [..., M, K] @ b [..., K, N] -> [broadcast(...), M, N]. Batch dims broadcast NumPy-style.
// A 1-D a is treated as [1, K] and a 1-D b as [K, 1], the added dim removed from the result
// (1-D @ 1-D gives a 0-D tensor), as torch.matmul.
Tensor matmul(const Tensor& a, const Tensor& b);

// a [B, M, K] @ b [B, K, N] -> [B, M, N]; no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);

// x [..., in] @ w^T + b -> [..., out], with w [out, in] and b [out] (undefined: no bias).
// One op with one backward node (what the Linear layer records).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

}  // namespace nkd::ops
