// One front for the checkpoint files nkd reads and writes: the format is recognised from the file's
// bytes, never its name (a zip archive: PyTorch torch.save .pth/.pt; an 8-byte little-endian header
// length followed by '{': safetensors), and every format comes back as the same structure.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "engine/tensor.h"
#include "io/pth.h"

namespace nkd::io {

enum class CheckpointFormat { kSafetensors, kPth };
const char* format_name(CheckpointFormat format);  // "safetensors", "pth"

struct Checkpoint {
  NamedTensors tensors;  // in file order; F16/BF16 become F32
  // safetensors: the __metadata__ strings (nkd's CRC-32 key checked and removed; nkd's training
  // metadata: epoch, iter, seed, config, ...); .pth: the simple values of mmcls' 'meta' dict.
  std::map<std::string, std::string> metadata;
  CheckpointFormat format = CheckpointFormat::kSafetensors;
};

// The format of a file whose first bytes are data[0, size) (9 bytes suffice). Throws nkd::Error
// naming `origin`, its first bytes and the formats nkd reads when it is neither.
CheckpointFormat detect_checkpoint_format(const uint8_t* data, size_t size, const std::string& origin);
// Detects the format and parses an in-memory file with that format's validating reader.
Checkpoint parse_checkpoint(const uint8_t* data, size_t size, const std::string& origin);
// Memory-maps `path` and parses it (whatever its extension).
Checkpoint load_checkpoint(const std::string& path);

struct CheckpointWriteOptions {
  CheckpointFormat format = CheckpointFormat::kSafetensors;
  // safetensors: __metadata__; .pth: the 'meta' dict's entries, which needs pth.mmcls_layout.
  std::map<std::string, std::string> metadata;
  PthWriteOptions pth;  // .pth only (its meta is taken from `metadata`)
};
// Writes `tensors` to `path` atomically in options.format (F32, F64, I64, I32, U8 tensors).
void save_checkpoint(const std::string& path, const NamedTensors& tensors, const CheckpointWriteOptions& options = {});

}  // namespace nkd::io
