// Central-difference gradient check in F64 on the CPU.
// For fn: inputs -> outputs, draws a random cotangent c_k per output, forms L = sum_k <c_k, out_k>,
// and compares dL/dx from backward() with (L(x + eps) - L(x - eps)) / 2 eps for every element of
// every input that requires grad.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace nkd::testing {

using OpFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
  uint64_t seed = 0;  // for the cotangents
};

struct GradcheckResult {
  bool ok = true;
  std::string report;  // the worst mismatch per input, when not ok
};

// Inputs must be F64, contiguous and on the CPU; those with requires_grad() are checked.
GradcheckResult gradcheck(const OpFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// Random cotangents matching `outputs` (F64 normal; integer outputs get none).
std::vector<Tensor> random_cotangents(const std::vector<Tensor>& outputs, uint64_t seed);

// The analytical gradients: backward of L = sum <c_k, out_k> through fn(inputs), one per input
// (undefined where the input does not require grad). Leaves' .grad are reset first.
std::vector<Tensor> analytic_grads(const OpFn& fn, const std::vector<Tensor>& inputs,
                                   const std::vector<Tensor>& cotangents);

}  // namespace nkd::testing
