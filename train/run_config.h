// RunConfig: the typed form of a distill/eval config (the fields of the mmcls configs: student and
// teacher models, data, losses, optimizer, LR schedule, runtime). parse_run_config reads every
// key through Config, so a misspelt key or a bad value names the key and the file.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/autocast.h"
#include "train/config.h"
#include "engine/optim/lr_schedule.h"
#include "losses/registry.h"
#include "nets/classifier.h"

namespace nkd::train {

struct ModelConfig {
  std::string net;           // registry name, e.g. "resnet18"
  nets::NetOptions options;  // num_classes, in_channels, width, small_input, drop_path_rate
  std::string checkpoint;    // weights to start from (teacher: required)
};

struct PipelineConfig {
  std::string type;  // "pad_crop_flip" | "random_resized_crop" | "swin" | "center" | "resize_crop"
  int size = 28, pad = 0, resize = 256;
  double flip = 0;
  std::string filter = "bilinear";  // bilinear | bicubic
  std::string backend = "pillow";   // resize_crop / random_resized_crop: pillow | cv2 (mmcls backend)
  bool exif_orientation = false;    // apply EXIF orientation when decoding (default: backend == cv2)
  double scale_lo = 0.08, scale_hi = 1.0;
};

struct SplitFiles {
  std::string ann_file, data_prefix;  // resolved paths; ann_file empty: the split's default layout
};

struct DataConfig {
  std::string type;  // "fashion_mnist" (IDX files under root) | "imagenet" (folder layout)
  std::string root;
  std::string train_split = "train", val_split = "val";
  // mmcls data.<split>.ann_file / data_prefix: a list file of `path label` lines anywhere, its paths
  // relative to data_prefix (default data.root); a relative ann_file or data_prefix is taken from
  // data.root. Empty: the ImageNet layout root/meta/<split>.txt + root/<split>/, or a scan of it.
  SplitFiles train_files, val_files;
  double max_bad_fraction = 0.01;  // training: stop when more of an epoch's samples are unreadable
  int64_t batch_size = 32;  // per GPU
  int64_t val_batch_size = 0;  // 0: batch_size
  int workers = 2;
  int64_t train_limit = 0, val_limit = 0;  // > 0: only the first N samples (quick runs)
  std::vector<double> mean, std;  // 0-255 units; empty: the pipeline's default
  PipelineConfig train, val;
  bool mix = false;  // [data.mix]: batch Mixup/CutMix with soft labels (mmcls master RandomBatchAugment)
  double mixup_alpha = 0.8, cutmix_alpha = 1.0, cutmix_prob = 0.5;
};

struct DistillConfig {
  std::string teacher_mode = "train";  // "train" (published runs, NKD_SPEC 4.1) | "eval"
  double label_smoothing = 0;
  // The losses turned on by [distill.<name>] (or distill.<name> = true), in the registry's order
  // (losses/registry.h), each with every key's value.
  std::vector<losses::LossConfig> losses;
  const losses::LossConfig* find(const std::string& loss) const;  // null when it is off
  bool has(const std::string& loss) const { return find(loss) != nullptr; }
  bool needs_teacher() const;
};

struct OptimConfig {
  std::string type = "sgd";  // sgd | adamw
  double lr = 0.1, momentum = 0.9, weight_decay = 1e-4;
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double norm_decay_mult = 1, bias_decay_mult = 1;
  std::vector<std::string> no_decay_keys;  // parameter names containing one get no weight decay
  double grad_clip = 0;                    // max L2 norm; 0: none
};

struct RunConfig {
  std::string config_path;
  ModelConfig student;
  std::optional<ModelConfig> teacher;
  DistillConfig distill;
  DataConfig data;
  OptimConfig optim;
  optim::LrScheduleOptions lr;
  int64_t epochs = 1;
  int64_t eval_interval = 1, log_interval = 100, checkpoint_interval = 1;
  int64_t max_keep_checkpoints = -1;  // epoch checkpoints kept (the newest); -1: all (mmcv max_keep_ckpts)
  bool save_best = false;  // keep the checkpoint of the best val top-1 (mmcls save_best)
  bool tensorboard = true;  // event files in <work_dir>/tf_logs (mmcv TensorboardLoggerHook)
  uint64_t seed = 0;
  // runner.conv_algos: "fast" (cuDNN's searches for float convolutions admit every algorithm, FFT and
  // non-fused Winograd included, as PyTorch's cudnn.benchmark) or "exact" (those left out: results
  // within rounding of the exact sum, slower 3x3 convolutions). GPU runs only; conv_algos_exact().
  std::string conv_algos = "fast";
  // runner.precision: fp32 (default), tf32 (GPU F32 convolutions / GEMMs on TF32 tensor cores) or
  // bf16 (autocast: engine/autocast.h); --precision overrides it. Checkpoints stay F32.
  Precision precision = Precision::kFp32;
  // runner.cuda_graph: capture the training step into a CUDA graph and replay it (GPU, SGD, one
  // process, no random ops in the step; train/cuda_graph_step.h); --cuda-graph sets it.
  bool cuda_graph = false;
  std::string resolved;  // the resolved TOML, written to the work dir and into checkpoints
};

// What the config is for: a training run reads everything, eval reads the model and data only,
// predict the model and the val pipeline (data.root need not exist: the images are given).
enum class ConfigUse { kTrain, kEval, kPredict };
RunConfig parse_run_config(Config& config, ConfigUse use);

// Whether a run's GPU float convolutions leave out the inexact algorithms (cuda::set_exact_conv):
// runner.conv_algos = "exact", or NKD_CONV_EXACT=1 in the environment (env_exact), which overrides a
// config's "fast" (one way for a run to be exact without editing its config). The run's header
// says which, with conv_algos_note: "conv algorithms exact (runner.conv_algos)" / "conv algorithms
// exact (NKD_CONV_EXACT=1; runner.conv_algos = \"fast\")" / "conv algorithms fast (runner.conv_algos)".
bool conv_algos_exact(const RunConfig& config, bool env_exact);
std::string conv_algos_note(const RunConfig& config, bool env_exact);

}  // namespace nkd::train
