// nkd_transfer: exports the model weights of any checkpoint nkd reads, as cls_KD's
// pth_transfer.py (NKD_SPEC.md 7) does for distillation checkpoints: the input is recognised from
// its bytes (safetensors or a PyTorch .pth in every layout nkd loads: an nkd/mmcls distillation
// checkpoint, whose student.* weights are kept; a plain run's (CE, tf-NKD, a teacher), mmcls
// backbone./head. names; torchvision names), the optimizer state, the teacher and the loss
// parameters are dropped, and the weights are written as safetensors (mmcls names, the metadata
// kept), an mmcls .pth ({'state_dict': ..., 'meta': {}}) or a torchvision .pth (a plain state dict
// that torchvision's model of the same net loads with load_state_dict(strict=True)); or, with
// --format onnx, the net itself as an ONNX model (export/onnx_export.h): eval mode, batch norms
// folded, dynamic batch, the class count and input channels from the checkpoint.
#include <filesystem>
#include <iostream>
#include <optional>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "train/cli.h"
#include "train/run_config.h"
#include "train/weights.h"
#include "engine/check.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "nets/swin_torchvision_names.h"
#include "nets/torchvision_names.h"
#ifdef NKD_WITH_ONNX_EXPORT
#include "export/onnx_export.h"
#endif

namespace {

struct TransferArgs {
  std::string input, output, format = "safetensors", net;
  // --format onnx; unset: from the config a run's checkpoint carries, else 224, 1.0, false.
  std::optional<int64_t> input_size;
  std::optional<double> width;
  std::optional<bool> small_input;
};

// The net the weights belong to: --net, else the checkpoint's student_net metadata ("" if neither).
std::string net_of(const TransferArgs& a, const nkd::io::Checkpoint& in) {
  if (!a.net.empty()) return a.net;
  const auto it = in.metadata.find("student_net");
  return it == in.metadata.end() ? "" : it->second;
}

#ifdef NKD_WITH_ONNX_EXPORT
// The state entry `name`, or null.
const nkd::Tensor* find_entry(const nkd::NamedTensors& state, const std::string& name) {
  for (const auto& [n, t] : state)
    if (n == name) return &t;
  return nullptr;
}

// The student's net options and test input size from the resolved config a run's checkpoint carries
// (metadata "config"), read as nkd_predict reads a config; nullopt without one.
std::optional<nkd::train::RunConfig> run_config_of(const nkd::io::Checkpoint& in) {
  const auto it = in.metadata.find("config");
  if (it == in.metadata.end()) return std::nullopt;
  const auto path =
      std::filesystem::temp_directory_path() / ("nkd_transfer_config_" + std::to_string(::getpid()) + ".toml");
  nkd::io::write_file_atomic(path.string(), it->second);
  std::optional<nkd::train::RunConfig> cfg;
  std::string error;
  try {
    nkd::train::Config config = nkd::train::Config::load(path.string());
    cfg = nkd::train::parse_run_config(config, nkd::train::ConfigUse::kPredict);
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::filesystem::remove(path);
  if (!error.empty())
    throw nkd::Error("the config stored in the checkpoint cannot be read (" + error +
                     "); give --width, --small-input and --input-size");
  return cfg;
}

#endif

// --format onnx: the net built as the checkpoint says (classes from head.fc.weight, input channels
// from the stem convolution; width, small input and input size from the options, else from the
// checkpoint's config), the weights loaded strictly, exported.
int export_onnx(const TransferArgs& a, const nkd::io::Checkpoint& in, const std::string& net,
                const nkd::NamedTensors& state, const nkd::train::WeightsLoad& info) {
  using namespace nkd;
#ifdef NKD_WITH_ONNX_EXPORT
  if (net.empty())
    throw train::UsageError("--format onnx needs the net: the checkpoint has no student_net entry, give --net");
  const Tensor* fc = find_entry(state, "head.fc.weight");
  NKD_CHECK(fc && fc->ndim() == 2, "'", a.input, "' has no head.fc.weight: not a classifier checkpoint");
  const bool all_given = a.width && a.small_input && a.input_size;
  const std::optional<train::RunConfig> cfg = all_given ? std::nullopt : run_config_of(in);
  nets::NetOptions options{.num_classes = fc->size(0),
                           .width = a.width.value_or(cfg ? cfg->student.options.width : 1.0),
                           .small_input = a.small_input.value_or(cfg && cfg->student.options.small_input)};
  const int64_t size = a.input_size.value_or(cfg ? cfg->data.val.size : 224);
  auto model = nets::build_net(net, options);
  for (const auto& [name, t] : model->state_dict())
    if (t.ndim() == 4) {  // the stem convolution: its input channels
      const Tensor* w = find_entry(state, name);
      if (w && w->ndim() == 4 && w->size(1) != options.in_channels) {
        options.in_channels = w->size(1);
        model = nets::build_net(net, options);
      }
      break;
    }
  try {
    model->load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (a net of another --width or --small-input?)");
  }
  const exporter::OnnxOptions o{.channels = options.in_channels, .height = size, .width = size};
  const exporter::OnnxSummary s = exporter::save_onnx(*model, a.output, o);
  std::cout << "nkd_transfer: wrote " << a.output << ": ONNX opset " << exporter::kOnnxOpset << ", " << net << ", "
            << options.num_classes << " classes, input [batch, " << o.channels << ", " << o.height << ", " << o.width
            << "], " << s.nodes << " nodes (" << s.folded_batch_norms << " batch norms folded), " << s.bytes
            << " bytes (read " << info.format << ", " << info.layout << " names)" << std::endl;
  return 0;
#else
  (void)a, (void)in, (void)net, (void)state, (void)info;
  throw Error("--format onnx: this nkd was built without the ONNX export (apt-get install libonnx-dev "
              "libprotobuf-dev, or tools/install_deps.sh, then reconfigure and rebuild)");
#endif
}

int transfer(const TransferArgs& a) {
  using namespace nkd;
  const io::Checkpoint in = train::read_weights_file(a.input);
  const std::string net = net_of(a, in);
  train::WeightsLoad info;
  NamedTensors state;
  try {
    state = train::classifier_state(in, net, a.input, &info);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + (net.empty() ? " (name the net with --net, e.g. --net resnet18)" : ""));
  }
  NKD_CHECK(!state.empty(), "'", a.input, "' holds no model weights");
  if (a.format == "onnx") return export_onnx(a, in, net, state, info);
  io::CheckpointWriteOptions options;
  std::string names = info.layout;  // safetensors / mmcls .pth: the names as read (student. removed)
  if (a.format == "torchvision") {
    if (net.empty())
      throw train::UsageError("--format torchvision needs the net: the checkpoint has no student_net entry, give --net");
    NKD_CHECK(net == "swin_tiny" || nets::has_torchvision_names(net), "--format torchvision: net '", net,
              "' has no torchvision counterpart");
    state = net == "swin_tiny" ? nets::swin_to_torchvision(state) : nets::to_torchvision(net, state);
    options.format = io::CheckpointFormat::kPth;  // torch.save(model.state_dict()) layout
    names = "torchvision";
  } else if (a.format == "pth") {
    options.format = io::CheckpointFormat::kPth;
    options.pth.mmcls_layout = true;  // {'state_dict': ..., 'meta': {}}, as mmcls saves
  } else {
    options.metadata = in.metadata;
    options.metadata["kind"] = "classifier";
    options.metadata["transferred_from"] = a.input;
  }
  io::save_checkpoint(a.output, state, options);
  std::cout << "nkd_transfer: wrote " << a.output << ": " << state.size() << " student tensors kept, " << info.skipped
            << " teacher/loss/optimizer tensors dropped (read " << info.format << ", " << info.layout
            << " names; written " << (a.format == "safetensors" ? "safetensors" : "pth") << ", " << names
            << " names)" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nkd_transfer: export the model weights of any checkpoint (cls_KD pth_transfer.py)"};
  TransferArgs a;
  app.add_option("--dis-path,--input", a.input,
                 "checkpoint: nkd safetensors (distilled or plain), or a .pth in mmcls or torchvision names")
      ->required();
  app.add_option("--output-path", a.output, "where to write the model weights")->required();
  app.add_option("--format", a.format,
                 "safetensors (default), pth (an mmcls torch.save checkpoint), torchvision (a torch.save "
                 "state dict in torchvision names) or onnx (the net as an ONNX model, opset 17)")
      ->check(CLI::IsMember({"safetensors", "pth", "torchvision", "onnx"}));
  app.add_option("--net", a.net, "the net (registry name) when the checkpoint does not say (torchvision names)");
  app.add_option("--input-size", a.input_size,
                 "onnx: the input height and width (default: the checkpoint's config, data.val.size; else 224)")
      ->check(CLI::PositiveNumber);
  app.add_option("--width", a.width, "onnx: the net's channel multiplier (default: the checkpoint's config; else 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--small-input", a.small_input,
                 "onnx: true/false, the net's small-input stem (default: the checkpoint's config; else false)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return nkd::train::usage_exit(app.exit(e));  // usage errors exit 2
  }
  return nkd::train::run_main("nkd_transfer", [&] { return transfer(a); });
}
