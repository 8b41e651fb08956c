// The training loop of apps/distill: epochs of distillation steps with the configured optimizer
// and LR schedule, logs, evaluation every eval_interval epochs, atomic checkpoints + latest link,
// resume (bit-exact with an uninterrupted run), and SIGINT/SIGTERM: finish the step, write a
// checkpoint, exit.
#pragma once
#include <string>

#include "train/run_config.h"
#include "engine/device.h"

namespace nkd::train {

struct TrainOptions {
  std::string work_dir;
  std::string resume;  // "" (fresh), "auto" (latest in work_dir, if any) or a checkpoint path
  bool validate = true;
  Device device = kCPU;
  bool deterministic = false;  // cuDNN restricted to deterministic algorithms; CPU kernels always are
  int64_t stop_after_iters = 0;  // > 0: act as if interrupted after that many iterations (tests)
};

// The run's first log line: config, work dir, device, iterations and epochs, seed, the
// deterministic flag and the conv algorithms (conv_algos_note; env_exact: NKD_CONV_EXACT=1 is set).
std::string run_header(const RunConfig& config, const TrainOptions& options, int64_t iters_per_epoch,
                       bool env_exact);

// Returns the process exit code: 0 when done (or stopped by stop_after_iters), 128 + signal when
// interrupted by a signal (after writing a checkpoint).
int train(const RunConfig& config, const TrainOptions& options);

// Installs the SIGINT/SIGTERM handlers (the first signal asks the loop to stop; a second one kills).
void install_stop_handlers();

}  // namespace nkd::train
