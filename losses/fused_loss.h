// Internal plumbing shared by the loss launchers: argument checks that name the loss and the shapes,
// the label view, scratch buffers, the deterministic batch means, and FusedLossBackward, the one
// autograd node every loss records (its backward only scales the gradients the fused forward pass
// stored). Everything runs on the logits' device: the functors launch through engine/launch.h.
#pragma once
#include <algorithm>
#include <utility>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/factory.h"
#include "engine/tensor.h"
#include "engine/launch.h"
#include "losses/row_math.h"

namespace nkd::losses::detail {

// x must be an F32/F64 tensor [N, C] (CPU or CUDA) with N >= 1 and C >= min_classes; `what` names it.
void check_logits(const char* loss, const char* what, const Tensor& x, int64_t min_classes);
// `other` must have the shape, dtype and device of the logits `x` (teacher, frozen statistics).
void check_like(const char* loss, const char* what, const Tensor& x, const char* other_what,
                const Tensor& other);

// Labels checked against logits [N, C] (same device): I64 [N] in [0, C), or F32/F64 [N, C]
// (allow_soft). On the CPU an index outside [0, C) throws; on a GPU (no host synchronisation) it is
// replaced by 0 and `bad` is set, which makes the loss value NaN (math::LabelClampKernel).
struct LabelView {
  Tensor index;  // I64 [N], contiguous; undefined with soft labels
  Tensor soft;   // [N, C] in the logits' dtype, contiguous; undefined with index labels
  Tensor bad;    // I32 [1] on the GPU with index labels: 1 when a label was out of range
  bool is_soft() const { return soft.defined(); }
  const int64_t* index_ptr() const { return index.defined() ? index.data<int64_t>() : nullptr; }
  const int* bad_ptr() const { return bad.defined() ? bad.data<int32_t>() : nullptr; }
  template <typename T>
  const T* soft_ptr() const {
    return soft.defined() ? soft.data<T>() : nullptr;
  }
};
LabelView check_labels(const char* loss, const Tensor& logits, const Tensor& labels, bool allow_soft);

// Throws unless `value` is finite and > 0 (temperatures) or >= 0 (weights, when allow_zero).
void check_positive(const char* loss, const char* what, double value, bool allow_zero = false);

// A new contiguous tensor like x for a stored gradient, or undefined when no gradient is needed.
Tensor grad_buffer(const Tensor& x, bool needed);
template <typename T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Scratch of `n` elements of type E on the device of `like` (the engine allocator on a GPU).
template <typename E>
Tensor scratch(const Tensor& like, int64_t n) {
  return empty({n}, {dtype_of<E>(), like.device()});
}

// mean_k = mul * (v[k] + v[k + stride] + ... over `count` entries) / count, in index order
// (deterministic), for k in [0, stride): into a new [stride] tensor of Acc on like's device.
template <typename T>
Tensor batch_means(const Tensor& like, const math::SoftmaxAcc<T>* v, int64_t count, int64_t stride,
                   math::SoftmaxAcc<T> mul) {
  using Acc = math::SoftmaxAcc<T>;
  Tensor out = scratch<Acc>(like, stride);
  launch(like.device(), stride, math::BatchMeanKernel<T>{v, count, stride, mul, nullptr, out.data<Acc>()});
  return out;
}
// The 0-dim loss value mul * mean over the `count` rows of the k-th column of v [count, stride],
// in the logits' dtype T, on their device (NaN when *bad is set).
template <typename T>
Tensor loss_value(const Tensor& like, const math::SoftmaxAcc<T>* v, int64_t count, int64_t stride, int64_t k,
                  math::SoftmaxAcc<T> mul, const int* bad = nullptr) {
  Tensor out = empty({}, like.options());
  launch(like.device(), 1, math::LossValueKernel<T>{v + k, count, stride, mul, bad, out.data<T>()});
  return out;
}

// d out_m / d input_i = grad_output_m * grads[m][i]: the stored gradients are those of the final
// (scalar) outputs, so backward is one scaled sum per input and needs nothing else.
class FusedLossBackward final : public Node {
 public:
  FusedLossBackward(const char* name, std::vector<std::vector<Tensor>> grads)
      : name_(name), grads_(std::move(grads)) {}
  const char* name() const override { return name_; }
  void release_saved() override { grads_.clear(); }
  std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) override;

 private:
  const char* name_;
  std::vector<std::vector<Tensor>> grads_;  // [output][input], undefined where none
};

// The 0-dim loss values as outputs; when record is true, connects a FusedLossBackward over `inputs`
// with grads[m][i] = d out_m / d input_i (record: any_requires_grad(inputs)).
std::vector<Tensor> make_outputs(const char* node_name, std::vector<Tensor> values,
                                 const std::vector<Tensor>& inputs, std::vector<std::vector<Tensor>> grads,
                                 bool record_node);

}  // namespace nkd::losses::detail
