// Folding an eval-mode BatchNorm2d into the convolution (or linear layer) before it: the
// convolution's output y = W*x + b, then BN(y) = (y - mean) * gamma / sqrt(var + eps) + beta, equals
// a convolution with W' = W * s and b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps) per
// output channel. Used by the teacher's inference form and by the ONNX export; computed in F64 and
// returned in the weight's dtype and device.
#pragma once
#include "engine/tensor.h"
#include "layers/norm.h"

namespace nkd::layers {

struct FoldedWeights {
  Tensor weight;  // like the conv weight: [O, I/groups, R, S] (or [O, I] for a linear layer)
  Tensor bias;    // [O], always defined
};

// conv_bias may be undefined (no bias). The BN must have running statistics (any mode; its
// running buffers are what eval() uses); affine=false counts as gamma = 1, beta = 0.
FoldedWeights fold_batch_norm(const Tensor& conv_weight, const Tensor& conv_bias, const BatchNorm2d& bn);

}  // namespace nkd::layers
