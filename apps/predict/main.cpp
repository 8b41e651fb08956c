// nkd_predict: the top-5 classes (names and softmax scores) of a checkpoint's student for image
// files (JPEG/PNG) or the image files of folders, decoded by the config's test pipeline as
// evaluation decodes them; batches and loader threads as the config's val loader (--batch-size,
// --workers). An unreadable file is reported and skipped; the exit code is 0 with the count
// ("12 images predicted, 1 skipped"). --json writes one JSON object to stdout instead of the text.
// The net runs in its inference form (nets/inference.h) unless --no-fuse.
#include <iostream>

#include <CLI/CLI.hpp>

#include "train/class_metrics.h"
#include "train/cli.h"
#include "train/data_setup.h"
#include "train/predict.h"
#include "train/weights.h"
#include "engine/cuda/device.h"

namespace {

struct PredictArgs {
  std::string config_path, checkpoint, device = "auto";
  std::vector<std::string> inputs, overrides;
  int64_t batch_size = 0;
  int workers = -1;
  bool json = false, strict = true, fuse = true;
};

int run(const PredictArgs& a) {
  using namespace nkd::train;
  const nkd::Device device = parse_device(a.device);
  Config config = load_config(a.config_path, a.overrides);
  const RunConfig cfg = parse_run_config(config, ConfigUse::kPredict);
  const std::vector<std::string> files = image_files(a.inputs);
  if (files.empty()) throw UsageError("no image files (.jpg, .jpeg, .png) in the paths given");
  if (device.is_cuda()) nkd::cuda::init(device);
  auto net = nkd::nets::build_net(cfg.student.net, cfg.student.options, cfg.seed);
  const std::string loaded = load_weights(a.checkpoint, *net, cfg.student.net, a.strict, "predict")
                                 .summary("student", a.checkpoint);
  (a.json ? std::cerr : std::cout) << loaded << std::endl;
  net->to(device);
  const int64_t classes = cfg.student.options.num_classes;
  const ImageFiles listed(files);
  const PredictOptions o{
      .batch_size = a.batch_size > 0 ? a.batch_size : cfg.data.val_batch_size > 0 ? cfg.data.val_batch_size
                                                                                  : cfg.data.batch_size,
      .workers = a.workers >= 0 ? a.workers : cfg.data.workers,
      .device = device,
      .fuse = a.fuse};
  const auto pipeline = make_pipeline(cfg.data, cfg.data.val, int(cfg.student.options.in_channels));
  const std::vector<ImagePrediction> predictions =
      predict_files(*net, pipeline, files, o, class_names(cfg.data, listed, classes));
  if (a.json) {
    std::cout << predictions_json(predictions).dump(2) << std::endl;
    std::cerr << predict_summary(predictions) << std::endl;
  } else {
    std::cout << predictions_text(predictions) << predict_summary(predictions) << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nkd_predict: top-5 classes and scores of a checkpoint's student for image files or folders"};
  PredictArgs a;
  bool no_strict = false;
  app.add_option("CONFIG", a.config_path, "TOML config (the student model and the val pipeline are used)")->required();
  app.add_option("CHECKPOINT", a.checkpoint,
                 "safetensors or .pth/.pt, whatever the name (nkd, mmcls or torchvision names)")->required();
  app.add_option("IMAGES", a.inputs, "image files (JPEG/PNG) and/or folders of them (searched recursively)")
      ->required();
  app.add_flag("--json", a.json, "write the predictions as one JSON object to stdout");
  app.add_option("--batch-size", a.batch_size, "images per batch (default: the config's val batch size)");
  app.add_option("--workers", a.workers, "loader threads (default: the config's data.workers)");
  app.add_option("--set", a.overrides, "override a config key (repeatable)")->take_all();
  app.add_option("--device", a.device, "cpu, cuda, cuda:N or auto");
  app.add_flag("--fuse,!--no-fuse", a.fuse,
               "run the net's inference form: batch norm folded, ReLU and residual fused (default on)");
  app.add_flag("--no-strict", no_strict, "accept checkpoint entries the net does not have (reported, ignored)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return nkd::train::usage_exit(app.exit(e));  // usage errors exit 2
  }
  a.strict = !no_strict;
  return nkd::train::run_main("nkd_predict", [&] { return run(a); });
}
