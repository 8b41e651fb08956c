// The inference form of a classifier (issue 16): what a frozen teacher, nkd_eval and nkd_predict
// run. Built once from an eval-mode ImageClassifier: every batch norm folded into the convolution
// before it (layers::fold_batch_norm), the ReLU / ReLU6 and the residual add that follow applied in
// the convolution's output pass (ops::conv2d_fused), run under NoGradGuard (no autograd nodes, no
// saved activations). The folded weights are the form's own tensors, not registered anywhere: the
// net's state_dict and checkpoints are unchanged.
//
// One mechanism: fuse_module() turns a module into a function of its input. A Sequential is
// chained, each Conv2d in it taking the BatchNorm2d and the Activation right after it; a module
// whose forward is not a chain (a residual block, a two-branch block, ConvModule, a backbone)
// implements Fusible and says how it runs fused, from the FusedConvs of its parts. A backbone that
// is not Fusible (Swin: LayerNorm, no batch norm to fold) runs its own forward, no-grad and in eval
// mode.
#pragma once
#include <functional>
#include <memory>

#include "engine/ops/activation.h"
#include "engine/ops/conv.h"
#include "layers/conv.h"
#include "layers/norm.h"
#include "nets/classifier.h"

namespace nkd::nets {

using InferenceFn = std::function<Tensor(const Tensor&)>;

// act(conv(x) with bn folded in + residual), forward only. bn may be null (the conv's own bias).
// A 3x3 stride-1 F32 CPU convolution also keeps its weights transformed for Winograd (once, here)
// and runs ops::conv2d_winograd on the planes where ops::winograd_pays; NKD_WINOGRAD=0 in the
// environment when the form is built turns that off (for comparisons).
class FusedConv {
 public:
  FusedConv(const layers::Conv2d& conv, const layers::BatchNorm2d* bn, ops::Act act);
  Tensor operator()(const Tensor& x, const Tensor& residual = Tensor()) const;

 private:
  Tensor weight_, bias_;
  ops::WinogradWeights winograd_;  // undefined: conv2d_fused only
  ops::Conv2dOptions options_;
  ops::Act act_;
};

// A module that knows its own inference function (see above).
class Fusible {
 public:
  virtual ~Fusible() = default;
  virtual InferenceFn fused() = 0;
};

// The inference function of m (Fusible, Sequential, Conv2d; any other module runs its own forward,
// which must then be in eval mode). The function keeps references to m's parameter-free parts:
// m must outlive it.
InferenceFn fuse_module(layers::UnaryModule& m);

class InferenceNet {
 public:
  // net must be in eval mode (checked). fuse = false: the net's own forward under NoGradGuard (the
  // reference the fused form is tested against; nkd_eval --no-fuse). Holds `net`: the Swin
  // fallback and the parameter-free layers run from it.
  explicit InferenceNet(std::shared_ptr<ImageClassifier> net, bool fuse = true);
  // Logits [N, num_classes] in F32, no graph.
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  // True when the backbone runs folded and fused (false: Swin, or fuse = false).
  bool fused() const { return static_cast<bool>(features_); }

 private:
  std::shared_ptr<ImageClassifier> net_;
  InferenceFn features_;  // image -> last stage feature map; empty: the net's own forward
};

}  // namespace nkd::nets
