// Tensor handle methods: metadata, autograd state, and the members that forward to engine ops.
#include "engine/tensor.h"

#include "engine/autograd/node.h"
#include "engine/ops/copy.h"
#include "engine/ops/view.h"

namespace nkd {

TensorImpl::~TensorImpl() = default;

TensorImpl& Tensor::impl() const {
  NKD_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t dim) const { return shape()[normalize_dim(dim, ndim(), "size")]; }
int64_t Tensor::stride(int64_t dim) const { return strides()[normalize_dim(dim, ndim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = ndim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * size_of(dtype());
}

double Tensor::item() const {
  NKD_CHECK(numel() == 1, "item(): tensor ", describe(*this), " has ", numel(), " elements, not 1");
  Tensor host = to(kCPU).to(DType::F64).contiguous();
  return *host.data<double>();
}

Tensor Tensor::reshape(const Shape& s) const { return ops::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return ops::view(*this, s); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return ops::permute(*this, dims); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return ops::transpose(*this, a, b); }
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return ops::narrow(*this, dim, start, length);
}
Tensor Tensor::expand(const Shape& s) const { return ops::expand(*this, s); }
Tensor Tensor::unsqueeze(int64_t dim) const { return ops::unsqueeze(*this, dim); }
Tensor Tensor::squeeze(int64_t dim) const { return ops::squeeze(*this, dim); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  return ops::flatten(*this, start_dim, end_dim);
}
Tensor Tensor::contiguous() const { return is_contiguous() ? *this : ops::clone(*this); }
Tensor Tensor::clone() const { return ops::clone(*this); }
Tensor Tensor::to(Device device) const { return ops::to_device(*this, device); }
Tensor Tensor::to(DType dtype) const { return ops::to_dtype(*this, dtype); }

bool Tensor::requires_grad() const {
  const AutogradMeta* m = impl().autograd.get();
  return m != nullptr && m->requires_grad;
}

Tensor& Tensor::set_requires_grad(bool on) {
  NKD_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad; ",
            describe(*this), " was produced by ", grad_fn()->name());
  NKD_CHECK(!on || is_floating(dtype()), "set_requires_grad: dtype ", name(dtype()),
            " cannot require gradients");
  if (!impl().autograd) impl().autograd = std::make_unique<AutogradMeta>();
  impl().autograd->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const {
  const AutogradMeta* m = impl().autograd.get();
  return m == nullptr || m->grad_fn == nullptr;
}

const Tensor& Tensor::grad() const {
  static const Tensor kUndefined;
  const AutogradMeta* m = impl().autograd.get();
  return m == nullptr ? kUndefined : m->grad;
}

void Tensor::set_grad(const Tensor& grad) const {
  if (!impl().autograd) impl().autograd = std::make_unique<AutogradMeta>();
  NKD_CHECK(!grad.defined() || grad.shape() == shape(), "set_grad: gradient ",
            to_string(grad.shape()), " does not match ", describe(*this));
  impl().autograd->grad = grad;
}

void Tensor::zero_grad() const {
  if (impl().autograd) impl().autograd->grad = Tensor();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> kNone;
  const AutogradMeta* m = impl().autograd.get();
  return m == nullptr ? kNone : m->grad_fn;
}

Tensor Tensor::detach() const {
  return make_view(storage(), offset(), shape(), strides(), dtype());
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  run_backward({*this}, {grad_output}, retain_graph);
}

Tensor make_view(const std::shared_ptr<Storage>& storage, int64_t offset, Shape shape,
                 Strides strides, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage;
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return std::string(name(t.dtype())) + to_string(t.shape()) + " " + t.device().str();
}

}  // namespace nkd
