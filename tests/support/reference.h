// Naive reference helpers for op-table cases: plain loops over host vectors in double, written
// independently of the engine's kernels.
#pragma once
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace nkd::testing {

// A host copy of a tensor in double, with row-major index helpers.
struct HostArray {
  Shape shape;
  std::vector<double> v;
  explicit HostArray(const Tensor& t);
  HostArray(Shape s, double fill = 0.0);
  int64_t index(const std::vector<int64_t>& idx) const;  // row-major flat index
  double& at(const std::vector<int64_t>& idx) { return v[index(idx)]; }
  double at(const std::vector<int64_t>& idx) const { return v[index(idx)]; }
  Tensor tensor() const;  // F64 CPU
};

// Calls fn(idx) for every multi-index of `shape` in row-major order.
void for_each_index(const Shape& shape, const std::function<void(const std::vector<int64_t>&)>& fn);

Tensor ref_unary(const Tensor& x, const std::function<double(double)>& f);
// NumPy broadcasting done by coordinates.
Tensor ref_binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f);

}  // namespace nkd::testing
