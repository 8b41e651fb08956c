// Internal plumbing shared by the loss launchers: argument checks that name the loss and the shapes,
// the label view, the CPU row loop, deterministic sums, and FusedLossBackward, the one autograd node
// every loss records (its backward only scales the gradients the fused forward pass stored).
#pragma once
#include <algorithm>
#include <utility>
#include <vector>

#include "engine/autograd/node.h"
#include "engine/cpu/parallel.h"
#include "engine/tensor.h"

namespace nkd::losses::detail {

// x must be an F32/F64 CPU tensor [N, C] with N >= 1 and C >= min_classes; `what` names it.
void check_logits(const char* loss, const char* what, const Tensor& x, int64_t min_classes);
// `other` must have the shape, dtype and device of the logits `x` (teacher, frozen statistics).
void check_like(const char* loss, const char* what, const Tensor& x, const char* other_what,
                const Tensor& other);

// Labels checked against logits [N, C]: I64 [N] in [0, C), or F32/F64 [N, C] (allow_soft).
struct LabelView {
  Tensor index;  // I64 [N], contiguous; undefined with soft labels
  Tensor soft;   // [N, C] in the logits' dtype, contiguous; undefined with index labels
  bool is_soft() const { return soft.defined(); }
  const int64_t* index_ptr() const { return index.defined() ? index.data<int64_t>() : nullptr; }
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

// Runs the row kernel f(r) for r in [0, n), in parallel chunks of about cpu::kGrain elements.
template <typename F>
void for_each_row(int64_t n, int64_t c, const F& f) {
  cpu::launch(n, f, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(c, 1)));
}

// v[start] + v[start + stride] + ... in index order (deterministic: no dependence on threads).
template <typename Acc>
Acc strided_sum(const std::vector<Acc>& v, int64_t start, int64_t stride) {
  Acc s = 0;
  for (int64_t i = start; i < static_cast<int64_t>(v.size()); i += stride) s += v[i];
  return s;
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

// 0-dim outputs of dtype dt holding values[m]; when record is true, connects a FusedLossBackward over
// `inputs` with grads[m][i] = d out_m / d input_i (record: any_requires_grad(inputs)).
std::vector<Tensor> make_outputs(const char* node_name, const std::vector<double>& values, DType dt,
                                 const std::vector<Tensor>& inputs, std::vector<std::vector<Tensor>> grads,
                                 bool record_node);

}  // namespace nkd::losses::detail
