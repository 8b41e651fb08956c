// A restricted unpickler for torch.save state dicts (protocol 2): only the opcodes a state dict
// uses and only the globals OrderedDict, _rebuild_tensor_v2/_rebuild_parameter and the storage
// types; nothing is ever executed. Tensors come out contiguous with offsets and strides applied.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "engine/tensor.h"

namespace nkd::io {

// The raw bytes of the storage with key `key` (zip entry "<prefix>/data/<key>"); throws if absent.
struct StorageBytes {
  const uint8_t* data;
  size_t size;
};
using StorageSource = std::function<StorageBytes(const std::string& key)>;

struct PickleLimits {
  size_t max_depth = 1000;        // nesting of containers and MARKs
  size_t max_memo = 1u << 20;     // memo entries
  size_t max_stack = 1u << 22;    // values on the stack
};

struct TorchStateDict {
  NamedTensors tensors;  // in pickle order; F16/BF16 become F32
  std::map<std::string, std::string> metadata;  // mmcls 'meta' entries with str/int/float values
};

// Unpickles `data` and extracts the state dict: a plain (Ordered)dict of tensors, or
// {'state_dict': ..., 'meta': ...} as mmcls saves; a common "module." prefix is stripped.
// `origin` names the file in errors. Throws nkd::Error on anything malformed or not allowed.
TorchStateDict read_torch_pickle(const uint8_t* data, size_t size, const StorageSource& storages,
                                 const std::string& origin, const PickleLimits& limits = {});

}  // namespace nkd::io
