// The training step as a CUDA graph: the plan (which batches replay) and the static tensors.
#include "train/cuda_graph_step.h"

#include "engine/autograd/grad_mode.h"
#include "engine/cuda/memcpy.h"
#include "engine/factory.h"
#include "engine/ops/copy.h"

namespace nkd::train {
namespace {

std::vector<int64_t> dims(const Tensor& t) { return {t.shape().begin(), t.shape().end()}; }

// dst (static, on the GPU) <- src. A contiguous host batch of the same dtype is one asynchronous
// byte copy on the compute stream (from the loader's pinned buffer, as Tensor::to does), else copy_.
void fill_static(const Tensor& dst, const Tensor& src) {
  NKD_CHECK(dst.shape() == src.shape(), "CUDA graph: batch ", describe(src), " does not fit ", describe(dst));
  if (src.device().is_cpu() && src.is_contiguous() && src.dtype() == dst.dtype()) {
    cuda::memcpy_host_to_device(dst.raw_data(), dst.device(), src.raw_data(),
                                static_cast<size_t>(src.numel()) * size_of(src.dtype()));
    return;
  }
  ops::copy_(dst, src);
}

}  // namespace

std::string StepShape::str() const {
  std::string s = std::string("images ") + name(images_dtype) + " " + to_string(Shape(images)) + ", labels " +
                  name(labels_dtype) + " " + to_string(Shape(labels));
  if (has_soft) s += std::string(", soft labels ") + name(soft_dtype) + " " + to_string(Shape(soft_labels));
  return s;
}

StepShape step_shape(const Tensor& images, const Tensor& labels, const Tensor& soft_labels) {
  StepShape s;
  s.images = dims(images);
  s.images_dtype = images.dtype();
  s.labels = dims(labels);
  s.labels_dtype = labels.dtype();
  s.has_soft = soft_labels.defined();
  if (s.has_soft) {
    s.soft_labels = dims(soft_labels);
    s.soft_dtype = soft_labels.dtype();
  }
  return s;
}

std::string graph_disabled_reason(const GraphRunFacts& f) {
  if (!f.requested) return "off (runner.cuda_graph = false)";
  if (!f.cuda) return "the run is on the CPU";
  if (f.data_parallel) return "data-parallel runs are not captured yet (the NCCL all-reduce and the stop flag)";
  if (f.optimizer != "sgd")
    return "optimizer " + f.optimizer + ": its bias correction changes every step and is not read on the device yet";
  if (f.sync_alloc) return "NKD_CUDA_SYNC_ALLOC=1: plain cudaMalloc cannot be captured";
  if (f.debug_sync) return "NKD_CUDA_DEBUG_SYNC=1: a device synchronisation after every launch cannot be captured";
  return "";
}

const char* step_path_name(StepPath p) {
  switch (p) {
    case StepPath::kEager: return "eager";
    case StepPath::kWarmup: return "warm-up";
    case StepPath::kCapture: return "capture";
    case StepPath::kReplay: return "replay";
  }
  return "?";
}

GraphStepPlan::GraphStepPlan(std::string disabled_reason, int64_t full_rows, int warmup)
    : reason_(std::move(disabled_reason)), full_rows_(full_rows), warmup_(std::max(1, warmup)) {}

StepPath GraphStepPlan::next(const StepShape& shape) {
  if (!enabled()) return StepPath::kEager;
  if (!key_) {
    if (shape.images.empty() || shape.images[0] != full_rows_) return StepPath::kEager;
    key_ = shape;
  }
  if (shape != *key_) return StepPath::kEager;
  if (warmups_done_ < warmup_) {
    ++warmups_done_;
    return StepPath::kWarmup;
  }
  return captured_ ? StepPath::kReplay : StepPath::kCapture;
}

void GraphStepPlan::disable(const std::string& reason) {
  NKD_CHECK(!reason.empty(), "GraphStepPlan::disable: a reason is required");
  reason_ = reason;
}

void GraphedStep::make_static(const Tensor& images, const Tensor& labels, const Tensor& soft_labels,
                              const StepOutput& like) {
  images_ = empty(images.shape(), {images.dtype(), device_});
  labels_ = empty(labels.shape(), {labels.dtype(), device_});
  if (soft_labels.defined()) soft_labels_ = empty(soft_labels.shape(), {soft_labels.dtype(), device_});
  lr_ = zeros({1}, {DType::F64, device_});
  for (const auto& [name, t] : like.losses) out_.losses.emplace_back(name, empty(t.shape(), {t.dtype(), device_}));
  out_.total = empty(like.total.shape(), {like.total.dtype(), device_});
}

std::optional<StepOutput> GraphedStep::run(StepPath path, const Tensor& images, const Tensor& labels,
                                           const Tensor& soft_labels, double lr, const StepFn& fn,
                                           const StepOutput& like,
                                           const std::function<void(const std::string&)>& log) {
  if (path != StepPath::kCapture && path != StepPath::kReplay) return std::nullopt;
  if (path == StepPath::kCapture) {
    make_static(images, labels, soft_labels, like);
    // The warm-up's gradients were allocated outside the graph: dropped now, not inside it (a
    // capture may free only its own allocations). The captured step drops its own at its end.
    opt_.zero_grad();
  }
  fill_static(images_, images);
  fill_static(labels_, labels);
  if (soft_labels_.defined()) fill_static(soft_labels_, soft_labels);
  cuda::memcpy_host_to_device(lr_.raw_data(), device_, &lr, sizeof lr);  // read by the replay's SGD
  if (path == StepPath::kCapture) {
    opt_.set_device_lr(lr_);
    const std::string reason = graph_.capture(device_, [&] {
      StepOutput o = fn(images_, labels_, soft_labels_, lr);
      NoGradGuard no_grad;
      NKD_CHECK(o.losses.size() == out_.losses.size(), "CUDA graph: the step has ", o.losses.size(),
                " loss terms, its warm-up had ", out_.losses.size());
      for (size_t i = 0; i < o.losses.size(); ++i) ops::copy_(out_.losses[i].second, o.losses[i].second.detach());
      ops::copy_(out_.total, o.total.detach());
      opt_.zero_grad();  // the gradients are the graph's memory: freed inside it
    });
    // Only the captured kernels read the device learning rate; eager steps get theirs as an argument.
    opt_.set_device_lr(Tensor());
    if (!reason.empty()) {
      opt_.zero_grad();
      plan_.disable("the capture failed: " + reason);
      log("CUDA graph: off: " + plan_.reason() + "; every step runs eagerly");
      return std::nullopt;
    }
    plan_.captured();
    log("CUDA graph: the training step is captured (" + step_shape(images, labels, soft_labels).str() +
        ") and replayed for every batch of that shape; other batches run eagerly");
  }
  graph_.replay();
  return out_;
}

}  // namespace nkd::train
