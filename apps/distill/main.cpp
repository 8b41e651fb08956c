// nkd_distill: trains a student (with an optional frozen teacher and distillation losses) from a
// TOML config, the counterpart of cls_KD's tools/train.py. See docs/APPS.md.
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "apps/common/cli.h"
#include "apps/common/run_config.h"
#include "apps/common/trainer.h"

int main(int argc, char** argv) {
  CLI::App app{
      "nkd_distill: train a student with knowledge distillation (NKD, tf-NKD, KD, USKD, DKD) from a TOML config"};
  std::string config_path, work_dir, resume, device = "auto";
  std::vector<std::string> overrides;
  int64_t seed = -1, stop_after = 0;
  bool deterministic = false, no_validate = false;
  app.add_option("CONFIG", config_path, "TOML config (e.g. configs/fashion_mnist/student_nkd.toml)")->required();
  app.add_option("--work-dir", work_dir, "where logs and checkpoints go (default work_dirs/<config name>)");
  app.add_option("--resume", resume, "continue from a checkpoint: 'auto' (the latest in the work dir) or a path")
      ->expected(0, 1)->default_str("auto");
  app.add_option("--seed", seed, "random seed (overrides runner.seed)");
  app.add_flag("--deterministic", deterministic, "deterministic kernels (CPU runs always are)");
  app.add_flag("--no-validate", no_validate, "skip evaluation during training");
  app.add_option("--set", overrides, "override a config key: --set optimizer.lr=0.05 (repeatable)")->take_all();
  app.add_option("--device", device, "cpu, cuda, cuda:N or auto (default: cuda when available)");
  app.add_option("--stop-after-iters", stop_after,
                 "stop as if interrupted after N iterations (checkpoint, exit 0); for tests");
  CLI11_PARSE(app, argc, argv);
  return nkd::apps::run_main("nkd_distill", [&] {
    nkd::apps::Config config = nkd::apps::load_config(config_path, overrides);
    if (seed >= 0) config.set("runner.seed=" + std::to_string(seed));
    const nkd::apps::RunConfig run = nkd::apps::parse_run_config(config, nkd::apps::ConfigUse::kTrain);
    nkd::apps::TrainOptions options;
    options.work_dir = work_dir.empty() ? "work_dirs/" + std::filesystem::path(config_path).stem().string() : work_dir;
    options.resume = app.count("--resume") && resume.empty() ? "auto" : resume;
    options.validate = !no_validate;
    options.device = nkd::apps::parse_device(device);
    options.stop_after_iters = stop_after;
    options.deterministic = deterministic;
    nkd::apps::install_stop_handlers();
    return nkd::apps::train(run, options);
  });
}
