// Loading classifier weights from any checkpoint nkd meets: safetensors or PyTorch torch.save files
// (.pth / .pt), told apart by their bytes whatever the name (io/checkpoint.h); then by the names
// inside: nkd/mmcls distillation checkpoints (student.* / teacher.* / distill_losses.*: the student
// is taken), mmcls ImageClassifier names (backbone.*, head.*), or torchvision names (conv1.weight +
// fc.weight, features.*, stage2.*, ... : renamed through nets/torchvision_names.h or, for
// swin_tiny, nets/swin_torchvision_names.h). A "module." prefix (DataParallel) is stripped,
// "optimizer.*" entries of nkd training checkpoints are skipped, and Swin relative_position_index
// buffers (derived, not in nkd's state dict) are dropped.
#pragma once
#include <string>

#include "io/checkpoint.h"
#include "layers/module.h"

namespace nkd::train {

// Reads `path` in either format (nkd::Error when it is missing or neither).
io::Checkpoint read_weights_file(const std::string& path);

struct WeightsLoad {
  std::string format;  // "safetensors" or "pth"
  std::string layout;  // "mmcls", "distill (student)" or "torchvision"
  size_t loaded = 0;   // tensors copied into the net
  size_t skipped = 0;  // entries not offered to the net (teacher / loss / optimizer / index buffers)
  layers::LoadReport report;
  // "<what>: loaded <path> (pth, torchvision names): 122 tensors, 0 missing, 0 unexpected, 0 mismatched"
  std::string summary(const std::string& what, const std::string& path) const;
};

// The file's entries in mmcls ImageClassifier names, for a net of registry name `net` (which
// picks the torchvision map). `load` (optional) gets the format, layout and skipped count.
layers::NamedTensors classifier_state(const io::Checkpoint& file, const std::string& net, const std::string& path,
                                      WeightsLoad* load = nullptr);

// Loads `path` into `target` (an ImageClassifier built as registry net `net`). Shape mismatches
// and missing weights always fail; with `strict`, entries the net does not have fail too.
// Every error names `what` (the role: "student", "teacher", "eval"), the file and the first problem.
WeightsLoad load_weights(const std::string& path, layers::Module& target, const std::string& net, bool strict,
                         const std::string& what);

}  // namespace nkd::train
