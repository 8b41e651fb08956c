// ImageClassifier = backbone -> global average pool (neck) -> linear head, with mmcls names:
// children "backbone" and "head" (head.fc.weight / head.fc.bias). A backbone returns the outputs of
// its stages; the last one feeds the head, the second-to-last is USKD's mid feature.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/conv.h"
#include "layers/module.h"

namespace nkd::nets {

struct NetOptions {
  int64_t num_classes = 1000;
  int64_t in_channels = 3;
  double width = 1.0;         // channel multiplier
  bool small_input = false;   // 3x3 stride-1 stem without max-pool (mmcls ResNet_CIFAR), 28-32 px
  double drop_path_rate = 0;  // Swin stochastic depth
};

class Backbone : public layers::Module {
 public:
  // Stage outputs, [N, C_i, H_i, W_i] each; back() feeds the head, the one before is the mid feature.
  virtual std::vector<Tensor> forward_stages(const Tensor& x) = 0;
  virtual int64_t out_channels() const = 0;  // channels of forward_stages().back()
  virtual int64_t mid_channels() const = 0;  // channels of the second-to-last stage
  // mmcls init_weights of this backbone (after the modules' PyTorch defaults).
  virtual void init_weights(Generator& gen) = 0;
  // The head init of this net's mmcls config: N(0, 0.01) and bias 0 (LinearClsHead) by default.
  virtual void init_head(layers::Linear& fc, Generator& gen) const;
};

class ClsHead final : public layers::Module {
 public:
  ClsHead(int64_t in, int64_t num_classes);
  std::shared_ptr<layers::Linear> fc;
};

struct ClassifierOutput {
  Tensor logits;       // [N, num_classes]
  Tensor mid_feature;  // [N, mid_channels]: GAP of the second-to-last stage
};

class ImageClassifier final : public layers::Module {
 public:
  ImageClassifier(std::shared_ptr<Backbone> backbone, int64_t num_classes);
  Tensor forward(const Tensor& x);                  // logits
  ClassifierOutput forward_with_mid(const Tensor& x);
  // Seeded initialisation as mmcls: the backbone's init_weights, then its init_head.
  void init_weights(uint64_t seed);
  Backbone& backbone() { return *backbone_; }
  ClsHead& head() { return *head_; }

 private:
  std::shared_ptr<Backbone> backbone_;
  std::shared_ptr<ClsHead> head_;
};

// Builds a registered net by name ("resnet18", "mobilenet_v2", "swin_tiny", ...), initialised
// with init_weights(seed). Throws nkd::Error listing the known names for an unknown one.
std::shared_ptr<ImageClassifier> build_net(const std::string& name, const NetOptions& options,
                                           uint64_t seed = 0);
std::vector<std::string> net_names();

}  // namespace nkd::nets
