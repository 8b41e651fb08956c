// safetensors checkpoints, read and written by nkd itself: 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, raw
// little-endian data. Reading validates everything before touching the data and names the
// problem and its byte offset; writing is atomic (temporary file + rename). nkd records the data
// section's CRC-32 in the metadata ("nkd.data_crc32") and checks it when reading, so a file damaged
// after it was written is rejected instead of loaded; files from other writers have no checksum.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "engine/tensor.h"

namespace nkd::io {

struct Safetensors {
  NamedTensors tensors;  // in file order; F16/BF16 tensors are converted to F32
  std::map<std::string, std::string> metadata;  // without nkd's checksum key
};

// Parses an in-memory file; `origin` names it in errors. Throws nkd::Error on malformed input.
Safetensors parse_safetensors(const uint8_t* data, size_t size, const std::string& origin);
// Memory-maps and parses a file.
Safetensors load_safetensors(const std::string& path);
// The serialised bytes (F32, F64, I64, I32, U8 tensors; any layout, written contiguous).
std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
// Writes path atomically: path + ".tmp", fsync, rename.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Writes `bytes` to `path` atomically (shared by every checkpoint writer).
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace nkd::io
