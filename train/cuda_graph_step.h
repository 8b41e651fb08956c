// CUDA graphs for the training step (runner.cuda_graph, --cuda-graph; docs/DECISIONS.md "CUDA
// graphs for the training step"): the whole step (teacher forward, student forward and backward,
// losses, clipping, SGD) captured once into a graph (engine/cuda/graph.h) and replayed for every
// batch of the same shape; a batch of another shape (the short last batch of an epoch) runs the
// eager step. Off by default until a GPU run shows it faster (docs/GPU.md).
//
// GraphStepPlan is the decision, host-only and tested on the CPU; GraphedStep holds the graph and
// its static tensors and runs a batch through them.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/cuda/graph.h"
#include "engine/optim/optimizer.h"
#include "engine/tensor.h"
#include "train/distiller.h"

namespace nkd::train {

// What makes two batches the same step for a graph: the shapes and dtypes of the images, the labels
// and the soft labels (undefined: none). The devices are the run's.
struct StepShape {
  std::vector<int64_t> images, labels, soft_labels;
  DType images_dtype = DType::F32, labels_dtype = DType::I64, soft_dtype = DType::F32;
  bool has_soft = false;
  bool operator==(const StepShape&) const = default;
  std::string str() const;  // "images F32 [128, 3, 224, 224], labels I64 [128]" (+ soft labels)
};
StepShape step_shape(const Tensor& images, const Tensor& labels, const Tensor& soft_labels);

// What of a run rules graphs out; checked once before the first step.
struct GraphRunFacts {
  bool requested = false;  // runner.cuda_graph / --cuda-graph
  bool cuda = false;       // the run's device is a GPU
  bool data_parallel = false;
  std::string optimizer = "sgd";
  bool sync_alloc = false;  // NKD_CUDA_SYNC_ALLOC=1
  bool debug_sync = false;  // NKD_CUDA_DEBUG_SYNC=1
};
// Why this run's steps cannot be graphs; empty when they can.
std::string graph_disabled_reason(const GraphRunFacts& facts);

enum class StepPath { kEager, kWarmup, kCapture, kReplay };
const char* step_path_name(StepPath p);

// Per batch: the first `warmup` batches of the full shape run eagerly (they create the gradients'
// and optimizer's state, run cuDNN's algorithm searches and build the teacher's inference form:
// all that must exist before a capture, which may allocate and synchronise nothing that outlives
// it), the next one is captured and replayed, later ones are replayed. The full shape is that of
// the first batch with `full_rows` rows; a batch of any other shape runs eagerly. A disabled plan
// (a reason given at construction or by disable()) runs every batch eagerly.
class GraphStepPlan {
 public:
  static constexpr int kDefaultWarmup = 2;
  GraphStepPlan(std::string disabled_reason, int64_t full_rows, int warmup = kDefaultWarmup);
  StepPath next(const StepShape& shape);  // the path of the batch about to run (counts warm-ups)
  void captured() { captured_ = true; }
  void disable(const std::string& reason);  // from now on every batch is eager
  bool enabled() const { return reason_.empty(); }
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
  int64_t full_rows_;
  int warmup_, warmups_done_ = 0;
  bool captured_ = false;
  std::optional<StepShape> key_;
};

// The graph of a run's step and the tensors it reads and writes, which outlive every replay: the
// batch (images, labels, soft labels), the learning rate (the optimizer reads it on the device,
// Optimizer::set_device_lr) and each loss term and their total.
class GraphedStep {
 public:
  // The step on the given inputs at learning rate lr: forward, backward, clipping, optimizer step;
  // it returns the loss terms. Captured, it runs once on the static tensors (lr is then ignored:
  // the optimizer reads the device learning rate).
  using StepFn = std::function<StepOutput(const Tensor& images, const Tensor& labels, const Tensor& soft_labels,
                                          double lr)>;
  GraphedStep(GraphStepPlan plan, Device device, optim::Optimizer& optimizer)
      : plan_(std::move(plan)), device_(device), opt_(optimizer) {}

  GraphStepPlan& plan() { return plan_; }
  // Runs `batch` through the graph (capturing it first when the plan says so) and returns the
  // static loss outputs, valid until the next replay; nullopt when the batch is to run eagerly
  // (path kEager or kWarmup, or the capture just failed: the plan is then disabled, and `log` told
  // why). `like` is a warm-up step's output (the loss terms' names, shapes and dtypes).
  std::optional<StepOutput> run(StepPath path, const Tensor& images, const Tensor& labels,
                                const Tensor& soft_labels, double lr, const StepFn& fn, const StepOutput& like,
                                const std::function<void(const std::string&)>& log);

 private:
  void make_static(const Tensor& images, const Tensor& labels, const Tensor& soft_labels, const StepOutput& like);

  GraphStepPlan plan_;
  Device device_;
  optim::Optimizer& opt_;
  cuda::Graph graph_;
  Tensor images_, labels_, soft_labels_, lr_;
  StepOutput out_;  // the static loss terms and total
};

}  // namespace nkd::train
