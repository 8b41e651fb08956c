// nkd_eval: top-1 / top-5 accuracy of a checkpoint's student on the configured val set, the
// counterpart of cls_KD's tools/test.py. Accepts nkd training checkpoints (plain or distillation)
// and student-only checkpoints (nkd_transfer output), safetensors or PyTorch .pth/.pt files (told
// apart by their bytes, io/checkpoint.h) in nkd/mmcls or torchvision names (train/weights.h); --out
// writes per-image top-5 predictions; --metrics per_class,confusion the per-class accuracy and the
// confusion matrix (CSV, and a heat map PNG) with the data set's class names.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "train/class_metrics.h"
#include "train/cli.h"
#include "train/data_setup.h"
#include "train/distiller.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/weights.h"
#include "engine/check.h"
#include "engine/cuda/device.h"
#include "engine/cuda/math_mode.h"

namespace {

std::vector<int64_t> parse_topk(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string k; std::getline(ss, k, ',');) {
    const int64_t v = std::atoll(k.c_str());
    NKD_CHECK(v >= 1, "--topk expects positive integers separated by commas, got '", s, "'");
    out.push_back(v);
  }
  NKD_CHECK(!out.empty(), "--topk is empty");
  return out;
}

struct Metrics {
  bool per_class = false, confusion = false;
  std::string dir;  // where their files go ("": the checkpoint's folder)
};

Metrics parse_metrics(const std::string& s, const std::string& dir) {
  Metrics m{.dir = dir};
  std::stringstream ss(s);
  for (std::string name; std::getline(ss, name, ',');) {
    NKD_CHECK(name == "accuracy" || name == "per_class" || name == "confusion", "--metrics: unknown metric '", name,
              "' (accuracy, per_class, confusion, separated by commas)");
    m.per_class |= name == "per_class";
    m.confusion |= name == "confusion";
  }
  return m;
}

int run(const std::string& config_path, const std::string& checkpoint, const std::vector<std::string>& overrides,
        const std::string& topk_s, const std::string& out_path, const std::string& device_name, bool strict,
        const Metrics& metrics) {
  using namespace nkd::train;
  const nkd::Device rank_device = init_distributed(device_name);  // mpirun, srun, torchrun, --gpus
  // --device is checked before the config and the data: a machine without the GPU fails at once.
  const nkd::Device device = communicator() ? rank_device : parse_device(device_name);
  Config config = load_config(config_path, overrides);
  const RunConfig cfg = parse_run_config(config, ConfigUse::kEval);
  const std::vector<int64_t> topk = parse_topk(topk_s);
  NKD_CHECK(out_path.empty() || dist_world() == 1, "--out is written by a single-process run only (",
            dist_world(), " ranks here)");
  NKD_CHECK(!(metrics.per_class || metrics.confusion) || dist_world() == 1,
            "--metrics per_class,confusion: a single-process run only (", dist_world(), " ranks here)");
  if (device.is_cuda()) nkd::cuda::init(device);
  auto net = nkd::nets::build_net(cfg.student.net, cfg.student.options, cfg.seed);
  const std::string loaded =
      load_weights(checkpoint, *net, cfg.student.net, strict, "student").summary("student", checkpoint);
  if (is_main_rank()) std::cout << loaded << std::endl;
  net->to(device);
  auto dataset = make_dataset(cfg.data, false);
  auto pipeline = make_pipeline(cfg.data, cfg.data.val, int(cfg.student.options.in_channels));
  nkd::data::LoaderOptions lo;
  lo.batch_size = cfg.data.val_batch_size ? cfg.data.val_batch_size : cfg.data.batch_size;
  lo.workers = cfg.data.workers;
  lo.shuffle = false;
  lo.rank = dist_rank();  // data parallel: this rank's shard; the padding is not counted
  lo.world = dist_world();
  nkd::data::Loader loader(dataset, pipeline, lo);
  std::ofstream csv;
  if (!out_path.empty()) {
    csv.open(out_path);
    NKD_CHECK(csv.good(), "--out: cannot write '", out_path, "'");
    csv << "index,image,label,top1,top2,top3,top4,top5,score1,score2,score3,score4,score5\n";
  }
  ConfusionMatrix confusion(cfg.student.options.num_classes);
  EvalResult r = evaluate(*net, loader, device, topk, [&](const Prediction& p) {
    confusion.add(p.label, p.classes[0]);
    if (!csv.is_open()) return;
    csv << p.index << "," << dataset->describe(p.index) << "," << p.label;
    for (size_t j = 0; j < 5; ++j) csv << "," << (j < p.classes.size() ? std::to_string(p.classes[j]) : "");
    for (size_t j = 0; j < 5; ++j) csv << "," << (j < p.scores.size() ? std::to_string(p.scores[j]) : "");
    csv << "\n";
  }, communicator() ? real_images_of_rank(dataset->size()) : -1);
  combine_over_ranks(r);
  if (!is_main_rank()) {
    shutdown_distributed();
    return 0;
  }
  std::cout << std::fixed << std::setprecision(2) << "nkd_eval: " << checkpoint << " on " << r.images << " images:";
  for (size_t k = 0; k < topk.size(); ++k) std::cout << " accuracy_top-" << topk[k] << " " << r.accuracy[k];
  std::cout << std::endl;
  if (metrics.per_class || metrics.confusion) {
    const std::filesystem::path ckpt(checkpoint);
    write_class_metrics(confusion, class_names(cfg.data, *dataset, confusion.classes()), metrics.per_class,
                        metrics.confusion, metrics.dir.empty() ? ckpt.parent_path().string() : metrics.dir,
                        ckpt.stem().string(), std::cout);
  }
  shutdown_distributed();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int gpus = 0;  // --gpus N is taken out first: the workers get the other arguments as they are
  if (const int rc = nkd::train::run_main("nkd_eval", [&] { gpus = nkd::train::take_gpus_flag(argc, argv); return 0; }))
    return rc;
  CLI::App app{"nkd_eval: top-1/top-5 accuracy of a checkpoint on the config's val set (cls_KD tools/test.py)"};
  std::string config_path, checkpoint, metrics = "accuracy", metrics_dir, topk = "1,5", out, device = "auto";
  std::vector<std::string> overrides;
  bool no_strict = false, tf32 = false;
  app.add_option("CONFIG", config_path, "TOML config (the student model and the val data are used)")->required();
  app.add_option("CHECKPOINT", checkpoint,
                 "safetensors or .pth/.pt, whatever the name (nkd, mmcls or torchvision names)")->required();
  app.add_option("--metrics", metrics,
                 "comma-separated: accuracy (top-k), per_class (accuracy per class, CSV), confusion (CSV + PNG)");
  app.add_option("--metrics-dir", metrics_dir,
                 "folder of the per_class/confusion files <checkpoint stem>_{per_class,confusion}.csv "
                 "(default: the checkpoint's folder)");
  app.add_option("--topk", topk, "comma-separated k values (default 1,5)");
  app.add_option("--out", out, "write per-image top-5 classes and scores to this CSV file");
  app.add_option("--set", overrides, "override a config key (repeatable)")->take_all();
  app.add_option("--device", device, "cpu, cuda, cuda:N or auto");
  app.add_flag("--no-strict", no_strict, "accept checkpoint entries the net does not have (reported, ignored)");
  app.add_flag("--tf32", tf32, "GPU: let float convolutions and matrix products use TF32 tensor cores");
  app.add_option("--gpus", gpus, "evaluate on N GPUs of this machine (N worker processes; also mpirun -np N)");
  CLI11_PARSE(app, argc, argv);
  if (gpus > 0) return nkd::train::run_main("nkd_eval", [&] { return nkd::train::spawn_workers(gpus, argc, argv); });
  return nkd::train::run_main("nkd_eval", [&] {
    if (tf32) nkd::cuda::set_allow_tf32(true);
    return run(config_path, checkpoint, overrides, topk, out, device, !no_strict, parse_metrics(metrics, metrics_dir));
  });
}
