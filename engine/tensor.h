// Tensor: a cheap shared handle over {storage, offset, shape, strides, dtype, autograd meta}.
// Copying a Tensor shares it; clone() is the deep copy. Logical dims are NCHW; other memory layouts
// are expressed through strides. Shape-changing members (reshape, permute, ...) are differentiable
// and return views that share storage when possible (see engine/ops/view.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/storage.h"

namespace nkd {

class Node;
struct AutogradMeta;

struct TensorOptions {
  DType dtype = DType::F32;
  Device device = kCPU;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Strides strides;  // in elements
  DType dtype = DType::F32;
  std::unique_ptr<AutogradMeta> autograd;  // null for tensors outside any graph
  ~TensorImpl();
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  int64_t ndim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t numel() const { return nkd::numel(impl().shape); }
  const Strides& strides() const { return impl().strides; }
  int64_t stride(int64_t dim) const;
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_cuda() const { return device().is_cuda(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  uint32_t version() const { return impl().storage->version(); }
  TensorOptions options() const { return {dtype(), device()}; }

  // Element pointer at offset(); checks the dtype. May point to device memory.
  template <typename T>
  T* data() const {
    NKD_CHECK(dtype_of<T>() == dtype(), "data<T>(): tensor has dtype ", name(dtype()));
    return static_cast<T*>(impl().storage->data()) + impl().offset;
  }
  void* raw_data() const;  // byte pointer at offset()

  // SYNC: copies one element to the host. The tensor must hold exactly one element.
  double item() const;

  // Views and copies (differentiable).
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;  // like reshape, but throws if a copy would be needed
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;  // *this when already contiguous
  Tensor clone() const;
  Tensor to(Device device) const;  // the only cross-device path
  Tensor to(DType dtype) const;

  // Autograd.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);  // leaves only
  bool is_leaf() const;
  const Tensor& grad() const;  // undefined until a backward reaches this leaf
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;      // drops the gradient (undefined again)
  const std::shared_ptr<Node>& grad_fn() const;
  Tensor detach() const;  // shares storage, outside the graph
  // Runs backward from this tensor. A non-scalar needs `grad_output` of the same shape.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Per-tensor autograd state. Leaves that require grad have no grad_fn; their gradients sum in
// `grad` through the leaf's accumulator node (the one place where leaf gradients accumulate).
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;      // null for leaves
  uint32_t output_nr = 0;             // which output of grad_fn this tensor is
  std::shared_ptr<Node> accumulator;  // leaves only, created on first use
};

// Builds a tensor over existing storage (a view); no autograd meta.
Tensor make_view(const std::shared_ptr<Storage>& storage, int64_t offset, Shape shape,
                 Strides strides, DType dtype);

std::string describe(const Tensor& t);  // "F32[8, 3, 32, 32] cpu"

// Tensors by name, in order: a state dict, a checkpoint's contents.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace nkd
