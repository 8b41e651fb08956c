// FusedConv, fuse_module and InferenceNet.
#include "nets/inference.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/ops/matmul.h"
#include "engine/ops/pool.h"
#include "layers/basic.h"
#include "layers/bn_fold.h"

namespace nkd::nets {
namespace {

// NKD_WINOGRAD=0: the form keeps conv2d_fused for every convolution (before/after comparisons).
bool winograd_enabled() {
  const char* v = std::getenv("NKD_WINOGRAD");
  return v == nullptr || std::string(v) != "0";
}

}  // namespace

FusedConv::FusedConv(const layers::Conv2d& conv, const layers::BatchNorm2d* bn, ops::Act act) : act_(act) {
  const layers::Conv2dOptions& o = conv.options();
  options_ = {.stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups};
  if (bn) {
    layers::FoldedWeights f = layers::fold_batch_norm(conv.weight, conv.bias, *bn);
    weight_ = std::move(f.weight);
    bias_ = std::move(f.bias);
  } else {
    weight_ = conv.weight.detach();
    bias_ = conv.bias.defined() ? conv.bias.detach() : Tensor();
  }
  if (winograd_enabled() && ops::winograd_applicable(weight_, options_)) winograd_ = ops::winograd_weights(weight_);
}

Tensor FusedConv::operator()(const Tensor& x, const Tensor& residual) const {
  // A bf16 run (autocast on): BF16 operands as autocast's convolutions, F32 accumulation; the folded
  // weights' BF16 copies are made once per autocast scope (a training step), as a parameter's.
  if (autocast_enabled())
    return ops::conv2d_fused(autocast(x), autocast_weight(weight_), autocast_weight(bias_), autocast(residual), act_,
                             options_);
  if (winograd_.defined() && x.dtype() == DType::F32 && !x.is_cuda() && x.ndim() == 4 &&
      ops::winograd_pays(x.size(2), x.size(3)))
    return ops::conv2d_winograd(x, winograd_, bias_, residual, act_);
  return ops::conv2d_fused(x, weight_, bias_, residual, act_, options_);
}

namespace {

InferenceFn chain(std::vector<InferenceFn> steps) {
  if (steps.size() == 1) return steps[0];
  return [steps = std::move(steps)](const Tensor& x) {
    Tensor y = x;
    for (const InferenceFn& f : steps) y = f(y);
    return y;
  };
}

InferenceFn fuse_sequential(layers::Sequential& seq) {
  std::vector<InferenceFn> steps;
  for (size_t i = 0; i < seq.size(); ++i) {
    auto* conv = dynamic_cast<layers::Conv2d*>(&seq[i]);
    if (!conv) {
      steps.push_back(fuse_module(seq[i]));
      continue;
    }
    const layers::BatchNorm2d* bn = nullptr;
    ops::Act act = ops::Act::kNone;
    if (i + 1 < seq.size() && (bn = dynamic_cast<layers::BatchNorm2d*>(&seq[i + 1]))) ++i;
    if (i + 1 < seq.size())
      if (auto* a = dynamic_cast<layers::Activation*>(&seq[i + 1])) {
        act = a->act();
        ++i;
      }
    FusedConv fc(*conv, bn, act);
    steps.push_back([fc](const Tensor& x) { return fc(x); });
  }
  if (steps.empty()) return [](const Tensor& x) { return x; };
  return chain(std::move(steps));
}

}  // namespace

InferenceFn fuse_module(layers::UnaryModule& m) {
  if (auto* f = dynamic_cast<Fusible*>(&m)) return f->fused();
  if (auto* seq = dynamic_cast<layers::Sequential*>(&m)) return fuse_sequential(*seq);
  if (auto* conv = dynamic_cast<layers::Conv2d*>(&m)) {
    FusedConv fc(*conv, nullptr, ops::Act::kNone);
    return [fc](const Tensor& x) { return fc(x); };
  }
  NKD_CHECK(!m.is_training(), "fuse_module: the module must be in eval mode");
  return [&m](const Tensor& x) { return m.forward(x); };
}

InferenceNet::InferenceNet(std::shared_ptr<ImageClassifier> net, bool fuse) : net_(std::move(net)) {
  NKD_CHECK(net_ && !net_->is_training(), "InferenceNet: the net must be in eval mode");
  NoGradGuard no_grad;
  if (!fuse) return;
  if (auto* f = dynamic_cast<Fusible*>(&net_->backbone())) features_ = f->fused();
}

Tensor InferenceNet::forward(const Tensor& x) const {
  NoGradGuard no_grad;
  Tensor logits;
  if (features_) {
    const layers::Linear& fc = *net_->head().fc;
    // The head in F32 (its features widened under bf16 autocast): a small GEMM, and F32 logits.
    logits = ops::linear(widen_to_f32(ops::global_avg_pool(features_(x))), fc.weight, fc.bias);
  } else {
    NKD_CHECK(!net_->is_training(), "InferenceNet: the net was put back in train mode");
    logits = net_->forward(x);
  }
  return logits.dtype() == DType::F32 ? logits : logits.to(DType::F32);
}

}  // namespace nkd::nets
