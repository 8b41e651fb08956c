// nkd_classify: the top-5 classes of one image by a trained nkd model, through the installed nkd
// library (docs/API.md): the net built by name from a config, any checkpoint nkd reads loaded into
// it, the image decoded by the config's test pipeline, the logits' top-5 with the class names.
// Usage: nkd_classify CONFIG CHECKPOINT IMAGE
#include <cstdio>
#include <exception>

#include "data/pipeline.h"
#include "engine/autograd/grad_mode.h"
#include "nets/classifier.h"
#include "train/class_metrics.h"
#include "train/cli.h"
#include "train/data_setup.h"
#include "train/predict.h"
#include "train/run_config.h"
#include "train/weights.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: nkd_classify CONFIG CHECKPOINT IMAGE\n");
    return 2;
  }
  try {
    using namespace nkd;
    train::Config config = train::load_config(argv[1], {});
    const train::RunConfig cfg = train::parse_run_config(config, train::ConfigUse::kPredict);
    // The net by its registry name ("resnet18", "mobilenet_v2", ...) and options, then the weights.
    auto net = nets::build_net(cfg.student.net, cfg.student.options, cfg.seed);
    train::load_weights(argv[2], *net, cfg.student.net, /*strict=*/true, "classify");
    net->eval();
    // The image as the pipeline gives it to the net: F32 [1, C, H, W].
    const auto pipeline = train::make_pipeline(cfg.data, cfg.data.val, int(cfg.student.options.in_channels));
    const Tensor image = train::image_tensor(*pipeline, argv[3]);
    NoGradGuard no_grad;
    const Tensor logits = net->forward(image);
    const int64_t classes = cfg.student.options.num_classes;
    const auto names = train::class_names(cfg.data, train::ImageFiles({argv[3]}), classes);
    const auto top = train::top_k(logits, 5, names)[0];
    std::printf("%s\n", argv[3]);
    for (size_t j = 0; j < top.size(); ++j)
      std::printf("  %zu. %4lld %-20s %.6f\n", j + 1, static_cast<long long>(top[j].cls), top[j].name.c_str(),
                  double(top[j].score));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nkd_classify: error: %s\n", e.what());
    return 1;
  }
}
