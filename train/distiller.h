// Distiller (NKD_SPEC.md 4): the student, an optional frozen teacher (forward under no-grad, in
// train or eval mode as configured; in eval mode through its inference form, nets/inference.h:
// batch norm folded, ReLU and residual fused, built on the first step and after a state load) and the distillation losses' own parameters, as one Module with
// the mmcls names student.* / teacher.* / distill_losses.*. The losses come from the registry
// (losses/registry.h) as configured; a training step returns every loss term by name (ori_loss,
// loss_kd, loss_nkd, loss_tf_nkd0, ...) and their sum.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "train/run_config.h"
#include "layers/conv.h"
#include "layers/module.h"
#include "nets/classifier.h"
#include "nets/inference.h"

namespace nkd::train {

struct StepOutput {
  std::vector<std::pair<std::string, Tensor>> losses;  // 0-dim, in the reference's order
  Tensor total;                                        // their sum
};

class Distiller final : public layers::Module {
 public:
  // Builds the student (initialised with `seed`, or from its checkpoint) and the teacher (from
  // its checkpoint, frozen) on the CPU; to(device) afterwards moves everything. Checkpoints are
  // read with load_weights (weights.h: safetensors or .pth, nkd/mmcls or torchvision names; every
  // weight of the net must be present with its shape, extra entries are ignored).
  Distiller(const RunConfig& config, uint64_t seed);

  StepOutput forward_train(const Tensor& images, const Tensor& labels, const Tensor& soft_labels);
  // Student train mode; the teacher in the configured mode.
  void set_train_mode();

  nets::ImageClassifier& student() { return *student_; }
  bool has_teacher() const { return teacher_ != nullptr; }
  // No teacher and no loss parameters: checkpoints use plain classifier names (as mmcls does).
  bool plain() const { return !teacher_ && !distill_losses_; }
  // The parameters the optimizer updates (student + loss parameters), with their names.
  layers::NamedTensors trainable_parameters() const;
  // Which trainable parameters belong to normalisation layers.
  std::vector<std::string> norm_parameter_names();
  // Model state: the Module state_dict, or the student's plain names when plain().
  layers::NamedTensors model_state() const;
  void load_model_state(const layers::NamedTensors& state);
  // One line per checkpoint loaded at construction (WeightsLoad::summary), for the run log.
  const std::vector<std::string>& load_messages() const { return load_messages_; }

 private:
  // Adds a configured loss, creating its head (when the spec has one) under distill_losses.
  void add_loss(const losses::LossConfig& loss, const RunConfig& config, uint64_t seed);
  // The teacher's logits: through its inference form in eval mode (built here on first use, again
  // when the teacher moved to another device or its state was loaded), else its train-mode forward.
  Tensor teacher_logits(const Tensor& images);

  // A configured loss and its head (distill_losses.loss_<name>.<module>), when it has one.
  struct ActiveLoss {
    losses::LossConfig config;
    std::shared_ptr<layers::Linear> head;
  };

  DistillConfig cfg_;
  std::shared_ptr<nets::ImageClassifier> student_, teacher_;
  std::unique_ptr<nets::InferenceNet> teacher_form_;  // not a child module: not in any state dict
  Device teacher_form_device_ = kCPU;
  std::vector<ActiveLoss> losses_;                        // in the registry's order
  std::shared_ptr<layers::ModuleDict<>> distill_losses_;  // null when no loss has a head
  bool needs_mid_ = false;                                // some loss reads the mid feature
  std::vector<std::string> load_messages_;
};

}  // namespace nkd::train
