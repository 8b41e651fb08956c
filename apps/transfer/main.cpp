// nkd_transfer: exports the model weights of any checkpoint nkd reads, as cls_KD's
// pth_transfer.py (NKD_SPEC.md 7) does for distillation checkpoints: the input is recognised from
// its bytes (safetensors or a PyTorch .pth in every layout nkd loads: an nkd/mmcls distillation
// checkpoint, whose student.* weights are kept; a plain run's (CE, tf-NKD, a teacher), mmcls
// backbone./head. names; torchvision names), the optimizer state, the teacher and the loss
// parameters are dropped, and the weights are written as safetensors (mmcls names, the metadata
// kept), an mmcls .pth ({'state_dict': ..., 'meta': {}}) or a torchvision .pth (a plain state dict
// that torchvision's model of the same net loads with load_state_dict(strict=True)).
#include <iostream>

#include <CLI/CLI.hpp>

#include "train/cli.h"
#include "train/weights.h"
#include "engine/check.h"
#include "io/checkpoint.h"
#include "nets/swin_torchvision_names.h"
#include "nets/torchvision_names.h"

namespace {

struct TransferArgs {
  std::string input, output, format = "safetensors", net;
};

// The net the weights belong to: --net, else the checkpoint's student_net metadata ("" if neither).
std::string net_of(const TransferArgs& a, const nkd::io::Checkpoint& in) {
  if (!a.net.empty()) return a.net;
  const auto it = in.metadata.find("student_net");
  return it == in.metadata.end() ? "" : it->second;
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
                 "safetensors (default), pth (an mmcls torch.save checkpoint) or torchvision (a torch.save "
                 "state dict in torchvision names)")
      ->check(CLI::IsMember({"safetensors", "pth", "torchvision"}));
  app.add_option("--net", a.net, "the net (registry name) when the checkpoint does not say (torchvision names)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return nkd::train::usage_exit(app.exit(e));  // usage errors exit 2
  }
  return nkd::train::run_main("nkd_transfer", [&] { return transfer(a); });
}
