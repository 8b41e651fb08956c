// nkd_eval: top-1 / top-5 accuracy of a checkpoint's student on the configured val set, the
// counterpart of cls_KD's tools/test.py. Accepts nkd training checkpoints (plain or distillation)
// and student-only checkpoints (nkd_transfer output), safetensors or PyTorch .pth/.pt files (told
// apart by their bytes, io/checkpoint.h) in nkd/mmcls or torchvision names (train/weights.h). An
// unreadable image is left out and reported ("top-1 over N images, K skipped"); --out writes
// per-image top-5 predictions and the skipped files; --work-dir keeps a log, a JSON-lines record
// and result.json; --metrics per_class,confusion the per-class accuracy and the confusion matrix
// (CSV, and a heat map PNG) with the data set's class names. Progress (images done, images/s, ETA)
// is shown as training's. The net runs in its inference form (nets/inference.h) unless --no-fuse.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "train/class_metrics.h"
#include "train/cli.h"
#include "train/data_setup.h"
#include "train/distiller.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/train_log.h"
#include "train/weights.h"
#include "engine/check.h"
#include "engine/cuda/device.h"
#include "engine/cuda/math_mode.h"
#include "io/safetensors.h"

namespace {

struct Metrics {
  bool per_class = false, confusion = false;
  std::string dir;  // where their files go ("": the checkpoint's folder)
};

struct EvalArgs {
  std::string config_path, checkpoint, topk = "1,5", out, device = "auto", work_dir, precision;
  std::vector<std::string> overrides;
  bool strict = true, fuse = true;
  Metrics metrics;
};

Metrics parse_metrics(const std::string& s, const std::string& dir) {
  Metrics m{.dir = dir};
  std::stringstream ss(s);
  for (std::string name; std::getline(ss, name, ',');) {
    if (name != "accuracy" && name != "per_class" && name != "confusion")
      throw nkd::train::UsageError("--metrics: unknown metric '" + name +
                                   "' (accuracy, per_class, confusion, separated by commas)");
    m.per_class |= name == "per_class";
    m.confusion |= name == "confusion";
  }
  return m;
}

std::vector<int64_t> parse_topk(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string k; std::getline(ss, k, ',');) {
    const int64_t v = std::atoll(k.c_str());
    if (v < 1) throw nkd::train::UsageError("--topk expects positive integers separated by commas, got '" + s + "'");
    out.push_back(v);
  }
  if (out.empty()) throw nkd::train::UsageError("--topk is empty");
  return out;
}

std::string csv_quoted(const std::string& s) {
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// One line every 2 s and at the end: "Eval [640/1012]  images/s: 210, eta: 0:02".
class Progress {
 public:
  explicit Progress(nkd::train::TrainLog* log) : log_(log) {}
  void operator()(const nkd::train::EvalProgress& p) {
    if (!nkd::train::is_main_rank() || (p.done < p.total && p.seconds - last_ < 2.0)) return;
    last_ = p.seconds;
    const double rate = p.seconds > 0 ? double(p.done) / p.seconds : 0.0;
    const double eta = rate > 0 ? double(p.total - p.done) / rate : 0.0;
    const std::string line = "Eval [" + std::to_string(p.done) + "/" + std::to_string(p.total) +
                             "]  images/s: " + std::to_string(int64_t(rate)) + ", eta: " +
                             nkd::train::format_duration(eta);
    if (log_) log_->line(line);
    else std::cout << line << std::endl;
  }

 private:
  nkd::train::TrainLog* log_;
  double last_ = 0;
};

void write_csv(const std::string& path, const nkd::data::Dataset& dataset,
               const std::vector<nkd::train::Prediction>& preds, const nkd::train::EvalResult& r) {
  std::ofstream csv(path);
  NKD_CHECK(csv.good(), "--out: cannot write '", path, "'");
  csv << "index,image,label,top1,top2,top3,top4,top5,score1,score2,score3,score4,score5,skipped\n";
  for (const nkd::train::Prediction& p : preds) {
    csv << p.index << "," << dataset.describe(p.index) << "," << p.label;
    for (size_t j = 0; j < 5; ++j) csv << "," << (j < p.classes.size() ? std::to_string(p.classes[j]) : "");
    for (size_t j = 0; j < 5; ++j) csv << "," << (j < p.scores.size() ? std::to_string(p.scores[j]) : "");
    csv << ",\n";
  }
  for (const nkd::data::BadSample& b : r.skipped_samples)  // not scored: the reason instead
    csv << b.index << "," << b.file << "," << dataset.label(b.index) << ",,,,,,,,,,," << csv_quoted(b.reason) << "\n";
}

nlohmann::json result_json(const EvalArgs& a, const nkd::train::EvalResult& r, const std::vector<int64_t>& topk) {
  nlohmann::json j = {{"checkpoint", a.checkpoint}, {"images", r.images}, {"skipped", r.skipped},
                      {"skipped_kinds", nkd::train::skipped_kinds(r)}, {"summary", nkd::train::eval_summary(r)},
                      {"seconds", r.seconds}};
  for (size_t k = 0; k < topk.size(); ++k) j["accuracy_top-" + std::to_string(topk[k])] = r.accuracy[k];
  if (nkd::train::dist_world() == 1) {
    nlohmann::json files = nlohmann::json::array();
    for (const nkd::data::BadSample& b : r.skipped_samples) files.push_back({{"file", b.file}, {"reason", b.reason}});
    j["skipped_files"] = files;
  }
  return j;
}

int run(const EvalArgs& a) {
  using namespace nkd::train;
  const nkd::Device rank_device = init_distributed(a.device);  // mpirun, srun, torchrun, --gpus
  // --device is checked before the config and the data: a machine without the GPU fails at once.
  const nkd::Device device = communicator() ? rank_device : parse_device(a.device);
  const std::vector<int64_t> topk = parse_topk(a.topk);
  if (!a.out.empty() && dist_world() != 1)
    throw UsageError("--out is written by a single-process run only (" + std::to_string(dist_world()) + " ranks here)");
  const bool class_metrics = a.metrics.per_class || a.metrics.confusion;
  if (class_metrics && dist_world() != 1)
    throw UsageError("--metrics per_class,confusion: a single-process run only (" + std::to_string(dist_world()) +
                     " ranks here)");
  std::unique_ptr<TrainLog> log;
  if (!a.work_dir.empty()) {
    std::filesystem::create_directories(a.work_dir);
    log = std::make_unique<TrainLog>(a.work_dir);
  }
  const auto say = [&](const std::string& line) {
    if (log) log->line(line);
    else if (is_main_rank()) std::cout << line << std::endl;
  };
  Config config = load_config(a.config_path, a.overrides);
  if (!a.precision.empty()) config.set("runner.precision=" + a.precision);
  const RunConfig cfg = parse_run_config(config, ConfigUse::kEval);
  const nkd::PrecisionGuard precision(cfg.precision);
  if (device.is_cuda()) nkd::cuda::init(device);
  nkd::cuda::set_exact_conv(conv_algos_exact(cfg, nkd::cuda::detail::env_flag("NKD_CONV_EXACT")));
  auto net = nkd::nets::build_net(cfg.student.net, cfg.student.options, cfg.seed);
  say(load_weights(a.checkpoint, *net, cfg.student.net, a.strict, "eval").summary("student", a.checkpoint));
  net->to(device);
  auto dataset = make_dataset(cfg.data, false);
  auto loader = make_loader(cfg, false, cfg.seed, [&](const std::string& line) {
    if (log) log->line(line);
    else std::cerr << line << std::endl;
  });
  std::vector<Prediction> preds;
  ConfusionMatrix confusion(cfg.student.options.num_classes);
  Progress progress(log.get());
  EvalResult r = evaluate(*net, *loader, device, topk, [&](const Prediction& p) {
    if (!a.out.empty()) preds.push_back(p);
    if (class_metrics) confusion.add(p.label, p.classes[0]);
  }, communicator() ? real_images_of_rank(dataset->size()) : -1, std::ref(progress), a.fuse);
  combine_over_ranks(r);
  if (!is_main_rank()) {
    shutdown_distributed();
    return 0;
  }
  if (!a.out.empty()) write_csv(a.out, *dataset, preds, r);
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << "nkd_eval: " << a.checkpoint << " on " << r.images << " images:";
  for (size_t k = 0; k < topk.size(); ++k) os << " accuracy_top-" << topk[k] << " " << r.accuracy[k];
  os << "; " << eval_summary(r);
  say(os.str());
  if (class_metrics) {
    const std::filesystem::path ckpt(a.checkpoint);
    write_class_metrics(confusion, class_names(cfg.data, *dataset, confusion.classes()), a.metrics.per_class,
                        a.metrics.confusion, a.metrics.dir.empty() ? ckpt.parent_path().string() : a.metrics.dir,
                        ckpt.stem().string(), std::cout);
  }
  const nlohmann::json result = result_json(a, r, topk);
  if (log) {
    nlohmann::json rec = result;
    rec["mode"] = "eval";
    rec.erase("skipped_files");
    log->record(rec);
    nkd::io::write_file_atomic(a.work_dir + "/result.json", result.dump(2) + "\n");
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
  EvalArgs a;
  std::string metrics = "accuracy", metrics_dir;
  bool no_strict = false, tf32 = false;
  app.add_option("CONFIG", a.config_path, "TOML config (the student model and the val data are used)")->required();
  app.add_option("CHECKPOINT", a.checkpoint,
                 "safetensors or .pth/.pt, whatever the name (nkd, mmcls or torchvision names)")->required();
  app.add_option("--metrics", metrics,
                 "comma-separated: accuracy (top-k), per_class (accuracy per class, CSV), confusion (CSV + PNG)");
  app.add_option("--metrics-dir", metrics_dir,
                 "folder of the per_class/confusion files <checkpoint stem>_{per_class,confusion}.csv "
                 "(default: the checkpoint's folder)");
  app.add_option("--topk", a.topk, "comma-separated k values (default 1,5)");
  app.add_option("--out", a.out, "write per-image top-5 classes and scores, and the skipped files, to this CSV file");
  app.add_option("--work-dir", a.work_dir, "keep a log, a JSON-lines record and result.json in this folder");
  app.add_option("--set", a.overrides, "override a config key (repeatable)")->take_all();
  app.add_option("--device", a.device, "cpu, cuda, cuda:N or auto");
  app.add_flag("--fuse,!--no-fuse", a.fuse,
               "run the net's inference form: batch norm folded, ReLU and residual fused (default on; "
               "--no-fuse: the eval-mode net itself)");
  app.add_flag("--no-strict", no_strict, "accept checkpoint entries the net does not have (reported, ignored)");
  app.add_flag("--tf32", tf32, "GPU: let float convolutions and matrix products use TF32 tensor cores");
  app.add_option("--precision", a.precision, "fp32, tf32 or bf16 (BF16 convolutions and matrix products); "
                 "overrides runner.precision")->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  app.add_option("--gpus", gpus, "evaluate on N GPUs of this machine (N worker processes; also mpirun -np N)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return nkd::train::usage_exit(app.exit(e));  // usage errors exit 2
  }
  if (!a.work_dir.empty()) nkd::train::set_error_log_dir(a.work_dir);
  if (gpus > 0) return nkd::train::run_main("nkd_eval", [&] { return nkd::train::spawn_workers(gpus, argc, argv); });
  a.strict = !no_strict;
  return nkd::train::run_main("nkd_eval", [&] {
    a.metrics = parse_metrics(metrics, metrics_dir);
    if (tf32) nkd::cuda::set_allow_tf32(true);
    return run(a);
  });
}
