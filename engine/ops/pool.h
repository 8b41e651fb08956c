// Spatial pooling over [N, C, H, W] (PyTorch semantics): max, average, adaptive average and the
// global average of classifier heads. F32/F64 on the CPU and CUDA; x may be any strided view (it
// is read through a contiguous copy when needed). Outputs are new contiguous tensors; all ops are differentiable.
#pragma once
#include <array>
#include <cstdint>

#include "engine/tensor.h"

namespace nkd::ops {

struct Pool2dOptions {
  std::array<int64_t, 2> kernel{1, 1};    // {R, S}
  std::array<int64_t, 2> stride{0, 0};    // {0, 0}: the kernel size (PyTorch's stride=None)
  std::array<int64_t, 2> padding{0, 0};   // each at most half the kernel size
  std::array<int64_t, 2> dilation{1, 1};  // max_pool2d only
  bool ceil_mode = false;                 // round the output size up (last window must start
                                          // inside the input or its left padding)
  bool count_include_pad = true;          // avg_pool2d: divide by the padded window size
};

// Output size along one dim, PyTorch's pooling_output_shape.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                         bool ceil_mode);

// x [N, C, H, W] -> [N, C, P, Q]. Padding counts as -inf; NaN propagates. The gradient of each
// window goes to its first maximal element (row-major order), as in PyTorch.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
// x [N, C, H, W] -> [N, C, P, Q]; window sums divided by the window size including padding
// (count_include_pad) or by the number of valid elements. With ceil_mode, windows that run past
// the padded input are clipped to it. dilation must be 1.
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);
// x [N, C, H, W] -> [N, C, P, Q]; output cell (p, q) averages rows [floor(p H / P), ceil((p+1) H /
// P)) and columns [floor(q W / Q), ceil((q+1) W / Q)).
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);
// x [N, C, H, W] -> [N, C]: the mean of each plane (the classifier-head pool).
Tensor global_avg_pool(const Tensor& x);

}  // namespace nkd::ops
