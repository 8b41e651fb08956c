// A read-only memory map of a whole file, for the checkpoint readers (safetensors, .pth and the
// load_checkpoint front): the file is never copied; an empty file maps to (nullptr, 0).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nkd::io {

class MappedFile {
 public:
  // Maps `path`; failures throw nkd::Error "<label>: cannot open <path>: <reason>" (or stat, map).
  MappedFile(const std::string& path, const std::string& label);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace nkd::io
