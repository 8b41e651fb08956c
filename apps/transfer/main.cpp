// nkd_transfer: turns a distillation checkpoint into a plain student checkpoint, as cls_KD's
// pth_transfer.py (NKD_SPEC.md 7): keeps the student.* weights with the prefix removed (the mmcls
// ImageClassifier names), drops the optimizer state, the teacher and the loss parameters, keeps
// the metadata. The input is an nkd safetensors checkpoint or a PyTorch .pth (cls_KD's, or any
// torch.save state dict with student.* names), told apart by its bytes (io/checkpoint.h).
// --format pth writes an mmcls checkpoint instead ({'state_dict': ..., 'meta': {}},
// torch.load(weights_only=True) reads it), to take the student back into PyTorch.
#include <iostream>

#include <CLI/CLI.hpp>

#include "train/cli.h"
#include "engine/check.h"
#include "io/checkpoint.h"

int main(int argc, char** argv) {
  CLI::App app{"nkd_transfer: keep only the student of a distillation checkpoint (cls_KD pth_transfer.py)"};
  std::string dis_path, output_path, format = "safetensors";
  app.add_option("--dis-path", dis_path,
                 "distillation checkpoint, safetensors or .pth (e.g. work_dirs/x/latest.safetensors)")
      ->required();
  app.add_option("--output-path", output_path, "where to write the student checkpoint")->required();
  app.add_option("--format", format, "safetensors (default) or pth (an mmcls torch.save checkpoint)")
      ->check(CLI::IsMember({"safetensors", "pth"}));
  CLI11_PARSE(app, argc, argv);
  return nkd::train::run_main("nkd_transfer", [&] {
    nkd::io::Checkpoint in = nkd::io::load_checkpoint(dis_path);
    nkd::NamedTensors student;
    size_t dropped = 0;
    for (const auto& [name, t] : in.tensors) {
      if (name.rfind("student.", 0) == 0) student.emplace_back(name.substr(8), t);
      else ++dropped;
    }
    NKD_CHECK(!student.empty(), "'", dis_path, "' holds no student.* weights (is it already a plain checkpoint?)");
    in.metadata["kind"] = "classifier";
    in.metadata["transferred_from"] = dis_path;
    nkd::io::CheckpointWriteOptions options;
    if (format == "pth") {
      options.format = nkd::io::CheckpointFormat::kPth;
      options.pth.mmcls_layout = true;  // {'state_dict': ..., 'meta': {}}, as mmcls saves
    } else {
      options.metadata = in.metadata;
    }
    nkd::io::save_checkpoint(output_path, student, options);
    std::cout << "nkd_transfer: wrote " << output_path << ": " << student.size() << " student tensors kept, "
              << dropped << " teacher/loss/optimizer tensors dropped" << std::endl;
    return 0;
  });
}
