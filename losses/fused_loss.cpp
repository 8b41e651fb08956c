// Argument checks, label views and the FusedLossBackward node shared by every loss.
#include "losses/fused_loss.h"

#include <cmath>

#include "engine/factory.h"
#include "engine/ops/dispatch.h"
#include "losses/row_math.h"

namespace nkd::losses::detail {

void check_logits(const char* loss, const char* what, const Tensor& x, int64_t min_classes) {
  NKD_CHECK(x.defined(), loss, ": ", what, " is undefined");
  NKD_CHECK(x.ndim() == 2, loss, ": ", what, " must be [N, C], got ", describe(x));
  NKD_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, loss, ": ", what,
            " must be F32 or F64, got ", describe(x));
  NKD_CHECK(x.size(0) >= 1, loss, ": ", what, " has an empty batch: ", describe(x));
  NKD_CHECK(x.size(1) >= min_classes, loss, ": ", what, " needs at least ", min_classes,
            " classes, got ", describe(x));
}

void check_like(const char* loss, const char* what, const Tensor& x, const char* other_what,
                const Tensor& other) {
  NKD_CHECK(other.defined(), loss, ": ", other_what, " is undefined");
  NKD_CHECK(other.device() == x.device(), loss, ": ", what, " ", describe(x), " and ", other_what, " ",
            describe(other), " are on different devices");
  NKD_CHECK(other.shape() == x.shape(), loss, ": ", what, " ", describe(x), " and ", other_what, " ",
            describe(other), " have different shapes");
  NKD_CHECK(other.dtype() == x.dtype(), loss, ": ", what, " ", describe(x), " and ", other_what, " ",
            describe(other), " have different dtypes");
}

namespace {

void check_index_range(const char* loss, const Tensor& logits, const Tensor& index) {
  const int64_t c = logits.size(1);
  const int64_t* p = index.data<int64_t>();
  for (int64_t r = 0; r < index.numel(); ++r)
    NKD_CHECK(p[r] >= 0 && p[r] < c, loss, ": label ", p[r], " at row ", r, " is outside [0, ", c,
              ") for logits ", describe(logits));
}

}  // namespace

LabelView check_labels(const char* loss, const Tensor& logits, const Tensor& labels, bool allow_soft) {
  NKD_CHECK(labels.defined(), loss, ": labels are undefined");
  NKD_CHECK(labels.device() == logits.device(), loss, ": labels ", describe(labels), " and logits ",
            describe(logits), " are on different devices");
  const int64_t n = logits.size(0), c = logits.size(1);
  const char* expected = allow_soft ? " (expected I64 [N] or F32/F64 [N, C])" : " (expected I64 [N])";
  LabelView view;
  if (labels.dtype() == DType::I64) {
    NKD_CHECK(labels.ndim() == 1 && labels.size(0) == n, loss, ": labels ", describe(labels),
              " do not match logits ", describe(logits), expected);
    if (labels.is_cuda()) {  // checked on the device, without a host synchronisation
      view.index = scratch<int64_t>(logits, n);
      view.bad = scratch<int32_t>(logits, 1);
      const Tensor in = labels.contiguous();
      launch(logits.device(), 1,
             math::LabelClampKernel{in.data<int64_t>(), n, c, view.index.data<int64_t>(), view.bad.data<int32_t>()});
      return view;
    }
    view.index = labels.contiguous();
    check_index_range(loss, logits, view.index);
    return view;
  }
  NKD_CHECK(labels.dtype() == DType::F32 || labels.dtype() == DType::F64, loss, ": labels ", describe(labels),
            " have an unsupported dtype", expected);
  NKD_CHECK(allow_soft, loss, ": needs index labels, got soft labels ", describe(labels), " for logits ",
            describe(logits), expected);
  NKD_CHECK(labels.ndim() == 2 && labels.size(0) == n && labels.size(1) == c, loss, ": labels ",
            describe(labels), " do not match logits ", describe(logits), expected);
  view.soft = labels.detach().to(logits.dtype()).contiguous();
  return view;
}

void check_positive(const char* loss, const char* what, double value, bool allow_zero) {
  NKD_CHECK(std::isfinite(value) && (value > 0 || (allow_zero && value == 0)), loss, ": ", what, " must be ",
            allow_zero ? ">= 0" : "> 0", " and finite, got ", value);
}

Tensor grad_buffer(const Tensor& x, bool needed) { return needed ? empty(x.shape(), x.options()) : Tensor(); }

std::vector<Tensor> FusedLossBackward::apply(std::vector<Tensor>&& grad_outputs) {
  NKD_ASSERT(!grads_.empty(), name_, ": backward after its stored gradients were released");
  const size_t inputs = grads_[0].size();
  std::vector<Tensor> gx(inputs);
  for (size_t i = 0; i < inputs; ++i) {
    if (!needs_input_grad(i)) continue;
    std::vector<Tensor> g, d;
    for (size_t m = 0; m < grads_.size(); ++m)
      if (m < grad_outputs.size() && grad_outputs[m].defined() && grads_[m][i].defined()) {
        g.push_back(grad_outputs[m].contiguous());
        d.push_back(grads_[m][i]);
      }
    if (d.empty()) continue;
    NKD_ASSERT(d.size() <= 2, name_, ": at most two outputs per input");
    gx[i] = empty(d[0].shape(), d[0].options());
    dispatch_float(gx[i].dtype(), name_, [&]<typename T>() {
      math::ScaledSumKernel<T> k{{g[0].data<T>(), g.back().data<T>()},
                                 {d[0].data<T>(), d.back().data<T>()},
                                 static_cast<int>(d.size()),
                                 gx[i].data<T>()};
      launch(gx[i].device(), gx[i].numel(), k);
    });
  }
  return gx;
}

std::vector<Tensor> make_outputs(const char* node_name, std::vector<Tensor> values,
                                 const std::vector<Tensor>& inputs, std::vector<std::vector<Tensor>> grads,
                                 bool record_node) {
  std::vector<Tensor> outs = std::move(values);
  if (record_node) record(std::make_shared<FusedLossBackward>(node_name, std::move(grads)), inputs, outs);
  return outs;
}

}  // namespace nkd::losses::detail
