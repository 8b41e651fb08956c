// Optimizers over parameter groups (mmcls paramwise_cfg: per-group lr and weight-decay multipliers)
// and global-norm gradient clipping. step(lr) reads .grad() of each parameter (skipping parameters
// without one) and updates in place under no-grad. An optimizer holds no learning rate: each step
// is given its own (in training, by the one LrSchedule of the run, engine/optim/lr_schedule.h).
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace nkd::optim {

struct ParamGroup {
  std::vector<Tensor> params;
  double lr_mult = 1.0;     // group lr = the step's lr * lr_mult
  double decay_mult = 1.0;  // group weight decay = weight_decay * decay_mult
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update with learning rate `lr` (group gi: lr * groups()[gi].lr_mult).
  virtual void step(double lr) = 0;
  void zero_grad();
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // For a step captured into a CUDA graph (train/cuda_graph_step.h): with `lr` set (an F64 tensor
  // of one element on the parameters' GPU), the CUDA kernels read the step's learning rate from
  // it when they run (group gi: lr * lr_mult, the same double product as on the host) and step()'s
  // argument is ignored, so a replayed step follows the schedule once lr is written before each
  // replay. Undefined: the argument again. SGD only (AdamW's bias correction also changes per step).
  void set_device_lr(const Tensor& lr);
  const Tensor& device_lr() const { return device_lr_; }
  // Optimizer state (step count and per-parameter buffers) for checkpoints, by stable names
  // "state.<group>.<index>.<buffer>"; load_state restores it exactly.
  virtual std::vector<std::pair<std::string, Tensor>> state() const = 0;
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state) = 0;

 protected:
  explicit Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {}
  std::vector<ParamGroup> groups_;
  Tensor device_lr_;  // set_device_lr
};

struct SgdOptions {
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> groups, const SgdOptions& options);
  void step(double lr) override;
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;

 private:
  SgdOptions options_;
  std::vector<std::vector<Tensor>> momentum_;  // per group, per parameter (undefined until used)
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW final : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options);
  void step(double lr) override;
  std::vector<std::pair<std::string, Tensor>> state() const override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;

 private:
  AdamWOptions options_;
  int64_t steps_ = 0;
  std::vector<std::vector<Tensor>> m_, v_;
};

// Scales all gradients so their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
// factor max_norm / (norm + 1e-6) when norm > max_norm). Returns the norm before clipping.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
// The same without a host synchronisation: on CUDA gradients the norm is summed, the factor
// computed and the gradients scaled on the device (deterministic: fixed blocks, fixed reduction
// order; the sum's rounding differs from the CPU's sequential one). Returns the norm as a 0-dim F64
// tensor on the gradients' device. Gradients must all be on one device.
Tensor clip_grad_norm_async(const std::vector<Tensor>& params, double max_norm);

}  // namespace nkd::optim
