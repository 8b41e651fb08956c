// Tensor factories. All take TensorOptions {dtype, device}; defaults F32 on the CPU.
#pragma once
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace nkd {

Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor arange(int64_t n, TensorOptions options = {});  // 0, 1, ..., n-1
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

// Copies host data into a new tensor (then to options.device).
Tensor from_host(const void* data, const Shape& shape, TensorOptions options);
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = kCPU) {
  NKD_CHECK(static_cast<int64_t>(values.size()) == numel(shape), "from_vector: ", values.size(),
            " values for shape ", to_string(shape));
  return from_host(values.data(), shape, {dtype_of<T>(), device});
}
// Host copy of a tensor's elements in logical (row-major) order.
template <typename T>
std::vector<T> to_vector(const Tensor& t);

// Standard normal / uniform [low, high) from the counter-based generator; advances gen.
Tensor randn(const Shape& shape, Generator& gen, TensorOptions options = {});
Tensor uniform(const Shape& shape, double low, double high, Generator& gen,
               TensorOptions options = {});

}  // namespace nkd
