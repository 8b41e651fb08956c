// Distiller construction, teacher loading and the training step (NKD_SPEC.md 4.1-4.2).
#include "train/distiller.h"

#include "train/weights.h"

#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/check.h"
#include "engine/ops/elementwise.h"
#include "layers/norm.h"
#include "losses/losses.h"

namespace nkd::train {
namespace {

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
  for (const losses::LossConfig& lc : cfg_.losses) add_loss(lc, config, seed);
}

void Distiller::add_loss(const losses::LossConfig& lc, const RunConfig& config, uint64_t seed) {
  ActiveLoss loss{lc, nullptr};
  if (const auto& head = lc.spec->head) {
    loss.head = std::make_shared<layers::Linear>(student_->backbone().mid_channels(),
                                                 config.student.options.num_classes);
    Generator gen(seed, head->stream);
    loss.head->reset_parameters(gen);
    auto holder = std::make_shared<layers::ModuleDict<layers::Linear>>();
    holder->add(head->module, loss.head);
    if (!distill_losses_) {
      distill_losses_ = std::make_shared<layers::ModuleDict<>>();
      register_module("distill_losses", distill_losses_);
    }
    distill_losses_->add("loss_" + lc.spec->name, holder);
    needs_mid_ = true;
  }
  losses_.push_back(std::move(loss));
}

void Distiller::set_train_mode() {
  train(true);  // as the mmcv runner does on the whole model every epoch
  if (teacher_ && cfg_.teacher_mode == "eval") teacher_->eval();
}

StepOutput Distiller::forward_train(const Tensor& images, const Tensor& labels, const Tensor& soft_labels) {
  nets::ClassifierOutput s;
  if (needs_mid_) s = student_->forward_with_mid(images);
  else s.logits = student_->forward(images);
  // Under bf16 autocast the losses see F32 logits and features (engine/autocast.h).
  s.logits = widen_to_f32(s.logits);
  s.mid_feature = widen_to_f32(s.mid_feature);
  const Device dev = s.logits.device();
  losses::LossInputs in{.logits = s.logits, .labels = on_device(labels, dev), .mid_feature = s.mid_feature};
  in.targets = soft_labels.defined() ? on_device(soft_labels, dev) : in.labels;
  Tensor ori = losses::cross_entropy(s.logits, in.targets, {.label_smoothing = cfg_.label_smoothing});
  if (teacher_) in.teacher = widen_to_f32(teacher_logits(images));  // F32 logits for the losses
  StepOutput out;
  std::vector<std::pair<std::string, Tensor>> extra;
  for (const ActiveLoss& loss : losses_) {
    in.head_weight = loss.head ? loss.head->weight : Tensor();
    in.head_bias = loss.head ? loss.head->bias : Tensor();
    losses::LossTerms t = loss.config.spec->compute(in, loss.config);
    if (t.ce_scale) ori = ops::mul(ori, *t.ce_scale);
    for (auto& term : t.terms) extra.push_back(std::move(term));
  }
  out.losses.emplace_back("ori_loss", ori);
  out.total = ori;
  for (auto& e : extra) {
    out.total = ops::add(out.total, e.second);
    out.losses.push_back(std::move(e));
  }
  return out;
}

Tensor Distiller::teacher_logits(const Tensor& images) {
  NoGradGuard no_grad;
  if (teacher_->is_training()) return teacher_->forward(images);  // teacher_mode "train": batch statistics
  const Device d = teacher_->head().fc->weight.device();
  if (!teacher_form_ || teacher_form_device_ != d) {
    teacher_form_ = std::make_unique<nets::InferenceNet>(teacher_);
    teacher_form_device_ = d;
  }
  return teacher_form_->forward(images);
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
  teacher_form_.reset();  // folded from the weights it replaces
  if (plain()) student_->load_state_dict(state, true);
  else load_state_dict(state, true);
}

}  // namespace nkd::train
