// Distiller construction, teacher loading and the training step (NKD_SPEC.md 4.1-4.2).
#include "train/distiller.h"

#include "train/weights.h"

#include "engine/autograd/grad_mode.h"
#include "engine/check.h"
#include "engine/ops/elementwise.h"
#include "layers/norm.h"

namespace nkd::train {
namespace {

// Holds distill_losses.loss_uskd.fc, so the names match the reference checkpoints.
class LossParams final : public layers::Module {
 public:
  void add(const std::string& name, std::shared_ptr<layers::Module> m) { register_module(name, m); }
};
class Holder final : public layers::Module {
 public:
  void add(const std::string& name, std::shared_ptr<layers::Module> m) { register_module(name, m); }
};

// Labels follow the logits: the losses run on the logits' device (CPU loops or CUDA kernels).
Tensor on_device(const Tensor& t, Device d) { return t.defined() && t.device() != d ? t.to(d) : t; }

}  // namespace

Distiller::Distiller(const RunConfig& config, uint64_t seed) : cfg_(config.distill) {
  student_ = nets::build_net(config.student.net, config.student.options, seed);
  if (!config.student.checkpoint.empty())
    load_messages_.push_back(load_weights(config.student.checkpoint, *student_, config.student.net, false, "student")
                                 .summary("student", config.student.checkpoint));
  register_module("student", student_);
  if (config.teacher && (cfg_.needs_teacher())) {
    teacher_ = nets::build_net(config.teacher->net, config.teacher->options, seed);
    load_messages_.push_back(load_weights(config.teacher->checkpoint, *teacher_, config.teacher->net, false, "teacher")
                                 .summary("teacher", config.teacher->checkpoint));
    for (Tensor p : teacher_->parameters()) p.set_requires_grad(false);
    teacher_->eval();
    register_module("teacher", teacher_);
  }
  if (cfg_.uskd) {
    uskd_ = std::make_shared<layers::Linear>(student_->backbone().mid_channels(),
                                             config.student.options.num_classes);
    Generator gen(seed, 0x75736b64);  // "uskd"
    uskd_->reset_parameters(gen);
    auto loss = std::make_shared<Holder>();
    loss->add("fc", uskd_);
    auto losses = std::make_shared<LossParams>();
    losses->add("loss_uskd", loss);
    register_module("distill_losses", losses);
  }
}

void Distiller::set_train_mode() {
  train(true);  // as the mmcv runner does on the whole model every epoch
  if (teacher_ && cfg_.teacher_mode == "eval") teacher_->eval();
}

StepOutput Distiller::forward_train(const Tensor& images, const Tensor& labels, const Tensor& soft_labels) {
  nets::ClassifierOutput s;
  if (uskd_) s = student_->forward_with_mid(images);
  else s.logits = student_->forward(images);
  const Tensor& logits = s.logits;
  const Device dev = logits.device();
  const Tensor hard = on_device(labels, dev);
  const Tensor gt = soft_labels.defined() ? on_device(soft_labels, dev) : hard;
  StepOutput out;
  Tensor ori = losses::cross_entropy(logits, gt, {.label_smoothing = cfg_.label_smoothing});
  Tensor teacher_logits;
  if (teacher_) {
    NoGradGuard no_grad;
    teacher_logits = teacher_->forward(images);
  }
  std::vector<std::pair<std::string, Tensor>> extra;
  if (cfg_.dkd) extra.emplace_back("loss_dkd", losses::dkd_loss(logits, teacher_logits, hard, *cfg_.dkd));
  if (cfg_.kd) {
    extra.emplace_back("loss_kd", losses::kd_loss(logits, teacher_logits, *cfg_.kd));
    ori = ops::mul(ori, 1.0 - cfg_.kd->alpha);
  }
  if (cfg_.nkd) extra.emplace_back("loss_nkd", losses::nkd_loss(logits, teacher_logits, gt, *cfg_.nkd));
  if (cfg_.uskd)
    extra.emplace_back("loss_uskd", losses::uskd_loss(s.mid_feature, logits, gt, uskd_->weight, uskd_->bias,
                                                      *cfg_.uskd));
  if (cfg_.tf_nkd) {
    const auto terms = losses::tf_nkd_loss(logits, gt);
    for (size_t k = 0; k < terms.size(); ++k) extra.emplace_back("loss_tf_nkd" + std::to_string(k), terms[k]);
  }
  out.losses.emplace_back("ori_loss", ori);
  out.total = ori;
  for (auto& e : extra) {
    out.total = ops::add(out.total, e.second);
    out.losses.push_back(std::move(e));
  }
  return out;
}

layers::NamedTensors Distiller::trainable_parameters() const {
  layers::NamedTensors out;
  for (auto& [n, p] : named_parameters())
    if (n.rfind("teacher.", 0) != 0) out.emplace_back(n, p);
  return out;
}

std::vector<std::string> Distiller::norm_parameter_names() {
  std::vector<std::string> out;
  for (auto& [name, m] : named_modules()) {
    if (!dynamic_cast<layers::BatchNorm2d*>(m) && !dynamic_cast<layers::LayerNorm*>(m)) continue;
    for (auto& [pn, p] : m->named_parameters()) out.push_back(name + "." + pn);
  }
  return out;
}

layers::NamedTensors Distiller::model_state() const {
  return plain() ? student_->state_dict() : state_dict();
}

void Distiller::load_model_state(const layers::NamedTensors& state) {
  if (plain()) student_->load_state_dict(state, true);
  else load_state_dict(state, true);
}

}  // namespace nkd::train
