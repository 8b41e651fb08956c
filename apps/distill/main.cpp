// nkd_distill: trains a student (with an optional frozen teacher and distillation losses) from a
// TOML config, the counterpart of cls_KD's tools/train.py. See docs/APPS.md.
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "train/cli.h"
#include "train/distributed.h"
#include "train/run_config.h"
#include "train/trainer.h"
#include "engine/cuda/math_mode.h"

int main(int argc, char** argv) {
  int gpus = 0;  // --gpus N is taken out first: the workers get the other arguments as they are
  if (const int rc = nkd::train::run_main("nkd_distill", [&] { gpus = nkd::train::take_gpus_flag(argc, argv); return 0; }))
    return rc;
  CLI::App app{
      "nkd_distill: train a student with knowledge distillation (NKD, tf-NKD, KD, USKD, DKD) from a TOML config"};
  std::string config_path, work_dir, resume, device = "auto";
  std::vector<std::string> overrides;
  int64_t seed = -1, stop_after = 0;
  bool deterministic = false, no_validate = false, tf32 = false, cuda_graph = false;
  std::string precision;
  app.add_option("CONFIG", config_path, "TOML config (e.g. configs/fashion_mnist/student_nkd.toml)")->required();
  app.add_option("--work-dir", work_dir, "where logs and checkpoints go (default work_dirs/<config name>)");
  app.add_option("--resume", resume, "continue from a checkpoint: 'auto' (the latest in the work dir) or a path")
      ->expected(0, 1)->default_str("auto");
  app.add_option("--seed", seed, "random seed (overrides runner.seed)");
  app.add_flag("--deterministic", deterministic, "deterministic kernels (CPU runs always are)");
  app.add_flag("--no-validate", no_validate, "skip evaluation during training");
  app.add_flag("--tf32", tf32, "GPU: let float convolutions and matrix products use TF32 tensor cores "
               "(faster, ~1e-3 relative error; default exact F32, also NKD_ALLOW_TF32=1)");
  app.add_option("--precision", precision, "fp32, tf32 or bf16 (mixed precision: BF16 convolutions and "
                 "matrix products, F32 statistics, losses and master weights); overrides runner.precision")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  app.add_flag("--cuda-graph", cuda_graph, "GPU: capture the training step into a CUDA graph once and replay it "
               "(SGD, one process, no dropout; short batches run eagerly); sets runner.cuda_graph = true");
  app.add_option("--set", overrides, "override a config key: --set optimizer.lr=0.05 (repeatable)")->take_all();
  app.add_option("--device", device, "cpu, cuda, cuda:N or auto (default: cuda when available)");
  app.add_option("--stop-after-iters", stop_after,
                 "stop as if interrupted after N iterations (checkpoint, exit 0); for tests");
  app.add_option("--gpus", gpus, "data parallel on N GPUs of this machine: starts N worker processes "
                 "(also: mpirun -np N, srun, torchrun variables; see README)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return nkd::train::usage_exit(app.exit(e));  // usage errors exit 2
  }
  if (work_dir.empty()) work_dir = "work_dirs/" + std::filesystem::path(config_path).stem().string();
  nkd::train::set_error_log_dir(work_dir);  // a fatal error is also written to the work dir's log
  if (gpus > 0) return nkd::train::run_main("nkd_distill", [&] { return nkd::train::spawn_workers(gpus, argc, argv); });
  return nkd::train::run_main("nkd_distill", [&] {
    const nkd::Device rank_device = nkd::train::init_distributed(device);  // mpirun, srun, torchrun, --gpus
    // --device is checked before the config and the data: a machine without the GPU fails at once.
    const nkd::Device run_device = nkd::train::communicator() ? rank_device : nkd::train::parse_device(device);
    nkd::train::Config config = nkd::train::load_config(config_path, overrides);
    if (seed >= 0) config.set("runner.seed=" + std::to_string(seed));
    if (!precision.empty()) config.set("runner.precision=" + precision);
    if (cuda_graph) config.set("runner.cuda_graph=true");
    const nkd::train::RunConfig run = nkd::train::parse_run_config(config, nkd::train::ConfigUse::kTrain);
    nkd::train::TrainOptions options;
    options.work_dir = work_dir;
    options.resume = app.count("--resume") && resume.empty() ? "auto" : resume;
    options.validate = !no_validate;
    options.device = run_device;
    options.stop_after_iters = stop_after;
    options.deterministic = deterministic;
    if (tf32) nkd::cuda::set_allow_tf32(true);
    nkd::train::install_stop_handlers();
    const int rc = nkd::train::train(run, options);
    nkd::train::shutdown_distributed();
    return rc;
  });
}
