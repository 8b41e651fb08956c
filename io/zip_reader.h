// A zip reader of our own for torch.save archives: EOCD (and the zip64 locator/record), central
// directory, local headers; STORED entries only. Every offset and size is bounds-checked against
// the buffer, so a malformed file throws nkd::Error naming the problem and its byte offset.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nkd::io {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // first byte of the stored data in the archive
  uint64_t size = 0;         // stored (= uncompressed) size
  uint32_t crc32 = 0;
};

class ZipReader {
 public:
  // Parses the directory of an in-memory archive (not copied: must outlive the reader).
  ZipReader(const uint8_t* data, size_t size, std::string origin);
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // The entry named `name`, or null.
  const ZipEntry* find(const std::string& name) const;
  // The entry's bytes, after checking its CRC-32 (checked once per entry).
  const uint8_t* data(const ZipEntry& entry) const;
  const std::string& origin() const { return origin_; }

 private:
  [[noreturn]] void fail(const std::string& what, uint64_t offset) const;
  void need(uint64_t offset, uint64_t len, const char* what) const;

  const uint8_t* data_;
  size_t size_;
  std::string origin_;
  std::vector<ZipEntry> entries_;
  mutable std::vector<bool> crc_checked_;
};

// CRC-32 (zip, gzip, PNG: zlib's) of data, continuing from crc (0 to start).
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace nkd::io
