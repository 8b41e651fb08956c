// ImageClassifier and its head.
#include "nets/classifier.h"

#include "engine/ops/pool.h"
#include "layers/init.h"

namespace nkd::nets {

void Backbone::init_head(layers::Linear& fc, Generator& gen) const {
  layers::init::normal(fc.weight, 0.0, 0.01, gen);
  layers::init::constant(fc.bias, 0.0);
}

ClsHead::ClsHead(int64_t in, int64_t num_classes) {
  fc = register_module("fc", std::make_shared<layers::Linear>(in, num_classes));
}

ImageClassifier::ImageClassifier(std::shared_ptr<Backbone> backbone, int64_t num_classes)
    : backbone_(std::move(backbone)) {
  register_module("backbone", backbone_);
  head_ = register_module("head", std::make_shared<ClsHead>(backbone_->out_channels(), num_classes));
}

Tensor ImageClassifier::forward(const Tensor& x) {
  const std::vector<Tensor> stages = backbone_->forward_stages(x);
  return head_->fc->forward(ops::global_avg_pool(stages.back()));
}

ClassifierOutput ImageClassifier::forward_with_mid(const Tensor& x) {
  const std::vector<Tensor> stages = backbone_->forward_stages(x);
  NKD_CHECK(stages.size() >= 2, "forward_with_mid: the backbone returned ", stages.size(), " stage(s)");
  return {head_->fc->forward(ops::global_avg_pool(stages.back())),
          ops::global_avg_pool(stages[stages.size() - 2])};
}

void ImageClassifier::init_weights(uint64_t seed) {
  Generator gen(seed, 0);
  reset_parameters(gen);
  backbone_->init_weights(gen);
  backbone_->init_head(*head_->fc, gen);
}

}  // namespace nkd::nets
