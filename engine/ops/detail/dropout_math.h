// Dropout and drop-path kernels shared by the CPU loops and the CUDA kernels. Element i of a
// tensor seen as [N, inner] is kept when its draw random_uniform(seed, stream, first + i / inner)
// exceeds p (inner = 1: dropout, one draw per element; inner = numel / N: drop_path, one draw per
// sample), so the mask depends only on (seed, stream, first), never on threads or device.
#pragma once
#include <cstdint>

#include "engine/host_device.h"
#include "engine/random.h"

namespace nkd::ops::math {

// The draw that decides whether unit `unit` (an element or a sample) is kept: P(keep) = 1 - p.
NKD_HD bool dropout_keep(uint64_t seed, uint64_t stream, uint64_t first, int64_t unit, double p) {
  return random_uniform(seed, stream, first + static_cast<uint64_t>(unit)) > p;
}

// y[i] = keep(i / inner) ? x[i] * scale : 0. The forward (x = input) and the backward
// (x = incoming gradient) run the same functor with the same (seed, stream, first).
template <typename T>
struct DropoutKernel {
  uint64_t seed = 0, stream = 0, first = 0;
  double p = 0;
  T scale = 1;        // 1 / (1 - p), or 0 when p == 1
  int64_t inner = 1;  // elements per draw
  const T* x;         // [n]
  T* y;               // [n]
  NKD_HD void operator()(int64_t i) const {
    y[i] = dropout_keep(seed, stream, first, i / inner, p) ? x[i] * scale : T(0);
  }
};

}  // namespace nkd::ops::math
