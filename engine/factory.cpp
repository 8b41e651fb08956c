// Tensor factories.
#include "engine/factory.h"

#include <cstring>

#include "engine/launch.h"
#include "engine/ops/copy.h"
#include "engine/ops/detail/copy_math.h"
#include "engine/ops/dispatch.h"

namespace nkd {

Tensor empty(const Shape& shape, TensorOptions options) {
  for (int64_t d : shape) NKD_CHECK(d >= 0, "empty: negative dimension in shape ", to_string(shape));
  auto storage = std::make_shared<Storage>(numel(shape) * size_of(options.dtype), options.device);
  return make_view(storage, 0, shape, contiguous_strides(shape), options.dtype);
}

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor t = empty(shape, options);
  dispatch_all(options.dtype, "full", [&]<typename T>() {
    launch(t.device(), t.numel(), ops::detail::FillKernel<T>{t.data<T>(), static_cast<T>(value)});
  });
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.options()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.options()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.options()); }

Tensor arange(int64_t n, TensorOptions options) {
  Tensor t = empty({n}, {options.dtype, kCPU});
  dispatch_all(options.dtype, "arange", [&]<typename T>() {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return options.device.is_cpu() ? t : t.to(options.device);
}

Tensor from_host(const void* data, const Shape& shape, TensorOptions options) {
  Tensor t = empty(shape, {options.dtype, kCPU});
  if (t.numel() > 0) std::memcpy(t.raw_data(), data, t.numel() * size_of(options.dtype));
  return options.device.is_cpu() ? t : t.to(options.device);
}

template <typename T>
std::vector<T> to_vector(const Tensor& t) {
  const Tensor host = t.detach().to(kCPU).to(dtype_of<T>()).contiguous();
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
#define NKD_INSTANTIATE_TO_VECTOR(T, D) template std::vector<T> to_vector<T>(const Tensor&);
NKD_ALL_FLOAT_TYPES(NKD_INSTANTIATE_TO_VECTOR)
NKD_INT_TYPES(NKD_INSTANTIATE_TO_VECTOR)
#undef NKD_INSTANTIATE_TO_VECTOR

namespace {
// The same Philox numbers on every device: element i of the draw uses counter spec.first + i.
Tensor random_tensor(const Shape& shape, Generator& gen, TensorOptions options, const char* op,
                     ops::detail::RandomSpec spec) {
  Tensor t = empty(shape, options);
  spec.seed = gen.seed();
  spec.stream = gen.stream();
  spec.first = gen.take(t.numel());
  dispatch_any_float(options.dtype, op, [&]<typename T>() {
    launch(t.device(), t.numel(), ops::detail::RandomKernel<T>{t.data<T>(), spec});
  });
  return t;
}
}  // namespace

Tensor randn(const Shape& shape, Generator& gen, TensorOptions options) {
  return random_tensor(shape, gen, options, "randn", {.normal = true});
}

Tensor uniform(const Shape& shape, double low, double high, Generator& gen, TensorOptions options) {
  return random_tensor(shape, gen, options, "uniform", {.normal = false, .low = low, .high = high});
}

}  // namespace nkd
