// The checkpoint front: format detection from the bytes, then the safetensors or .pth reader.
#include "io/checkpoint.h"

#include <cstdio>
#include <cstring>

#include "engine/check.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace nkd::io {
namespace {

// "50 4b 03 04 ..." for the first (up to 8) bytes; "an empty file" when there are none.
std::string first_bytes(const uint8_t* data, size_t size) {
  if (size == 0) return "an empty file";
  std::string s = std::to_string(size) + " bytes, starting";
  for (size_t i = 0; i < size && i < 8; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, " %02x", data[i]);
    s += hex;
  }
  return s;
}

}  // namespace

const char* format_name(CheckpointFormat format) {
  return format == CheckpointFormat::kPth ? "pth" : "safetensors";
}

CheckpointFormat detect_checkpoint_format(const uint8_t* data, size_t size, const std::string& origin) {
  // Zip: a local file header (PK\3\4), or the end record of an empty archive (PK\5\6).
  if (size >= 4 && (std::memcmp(data, "PK\x03\x04", 4) == 0 || std::memcmp(data, "PK\x05\x06", 4) == 0))
    return CheckpointFormat::kPth;
  if (size >= 9 && data[8] == '{') return CheckpointFormat::kSafetensors;
  // A bare pickle (PROTO first): torch.save before 1.6; the .pth reader says how to convert it.
  if (size >= 2 && data[0] == 0x80 && data[1] <= 5) return CheckpointFormat::kPth;
  NKD_FAIL("checkpoint ", origin, " (", first_bytes(data, size), ") is neither a safetensors file (an 8-byte ",
           "little-endian header length, then '{') nor a PyTorch .pth/.pt file (a torch.save zip archive, ",
           "starting with 'PK')");
}

Checkpoint parse_checkpoint(const uint8_t* data, size_t size, const std::string& origin) {
  Checkpoint out;
  out.format = detect_checkpoint_format(data, size, origin);
  if (out.format == CheckpointFormat::kPth) {
    PthCheckpoint f = parse_pth(data, size, origin);
    out.tensors = std::move(f.tensors);
    out.metadata = std::move(f.metadata);
  } else {
    Safetensors f = parse_safetensors(data, size, origin);
    out.tensors = std::move(f.tensors);
    out.metadata = std::move(f.metadata);
  }
  return out;
}

Checkpoint load_checkpoint(const std::string& path) {
  const MappedFile file(path, "checkpoint");
  return parse_checkpoint(file.data(), file.size(), path);
}

void save_checkpoint(const std::string& path, const NamedTensors& tensors, const CheckpointWriteOptions& options) {
  if (options.format == CheckpointFormat::kSafetensors) {
    save_safetensors(path, tensors, options.metadata);
    return;
  }
  NKD_CHECK(options.metadata.empty() || options.pth.mmcls_layout, "save_checkpoint ", path,
            ": a plain .pth state dict has no place for metadata (write the mmcls layout, whose 'meta' ",
            "dict holds it)");
  PthWriteOptions pth = options.pth;
  pth.meta = options.metadata;
  save_pth(path, tensors, pth);
}

}  // namespace nkd::io
