// PyTorch checkpoints (torch.save zip format, torch >= 1.6): read with our own zip reader and
// restricted unpickler (nothing in the file is ever executed), and written so that
// torch.load(path, weights_only=True) accepts them. Writing is atomic.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "engine/tensor.h"

namespace nkd::io {

struct PthCheckpoint {
  NamedTensors tensors;                         // in file order; F16/BF16 become F32
  std::map<std::string, std::string> metadata;  // simple values of mmcls' 'meta' dict
};

// Parses an in-memory .pth file; `origin` names it in errors. Throws nkd::Error when malformed.
PthCheckpoint parse_pth(const uint8_t* data, size_t size, const std::string& origin);
PthCheckpoint load_pth(const std::string& path);

struct PthWriteOptions {
  bool mmcls_layout = false;        // {'state_dict': ..., 'meta': {}} instead of a plain state dict
  std::string archive = "archive";  // the zip's top-level folder
  std::map<std::string, std::string> meta;  // mmcls layout: the 'meta' dict's str entries
};
// The serialised bytes (F32, F64, I64, I32, U8 tensors; any layout, written contiguous).
std::string serialize_pth(const NamedTensors& tensors, const PthWriteOptions& options = {});
void save_pth(const std::string& path, const NamedTensors& tensors, const PthWriteOptions& options = {});

}  // namespace nkd::io
