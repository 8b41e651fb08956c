// Inverted dropout and drop-path (stochastic depth). Randomness comes only from the counter-based
// Generator (engine/random.h), so the same generator state gives the same mask on any thread
// count and, later, on the GPU. F32/F64; differentiable; the output is a new contiguous tensor
// except in the identity cases, which return x itself and draw nothing.
#pragma once
#include "engine/random.h"
#include "engine/tensor.h"

namespace nkd::ops {

// Keeps each element with probability 1 - p and scales it by 1 / (1 - p); p in [0, 1].
// Element i (row-major logical order) is kept when random_uniform(seed, stream, first + i) > p,
// with first = gen.take(numel). Identity when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

// Per-sample stochastic depth (timm / mmcv drop_path): one draw per index of dim 0 (first =
// gen.take(N)); a dropped sample is all zeros, a kept one is scaled by 1 / (1 - p). x has at
// least one dim. Identity when !training or p == 0.
Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace nkd::ops
