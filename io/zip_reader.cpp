// Zip directory parsing with explicit bounds checks (no third-party zip library involved).
#include "io/zip_reader.h"

#include <zlib.h>

#include <unordered_set>

#include "engine/check.h"

namespace nkd::io {
namespace {

using detail::cat;
constexpr uint32_t kEocdSig = 0x06054b50, kLoc64Sig = 0x07064b50, kEocd64Sig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;
constexpr size_t kEocdSize = 22, kCentralSize = 46, kLocalSize = 30;

uint64_t rd(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  if (size == 0) return crc;  // zlib returns its initial value for a null buffer
  return static_cast<uint32_t>(::crc32_z(crc, data, size));
}

void ZipReader::fail(const std::string& what, uint64_t offset) const {
  std::string msg = "zip ";
  msg += origin_;
  msg += ": ";
  msg += what;
  msg += " (at byte ";
  msg += std::to_string(offset);
  msg += ")";
  throw Error(msg);
}

void ZipReader::need(uint64_t offset, uint64_t len, const char* what) const {
  if (offset > size_ || len > size_ - offset) {
    std::string msg = what;
    msg += " (";
    msg += std::to_string(len);
    msg += " bytes) runs past the end of the ";
    msg += std::to_string(size_);
    msg += "-byte file";
    fail(msg, offset);
  }
}

ZipReader::ZipReader(const uint8_t* data, size_t size, std::string origin)
    : data_(data), size_(size), origin_(std::move(origin)) {
  if (size_ < kEocdSize) fail("file too short for an end of central directory record", 0);
  // The EOCD is the last record; only a comment (< 64 KiB) may follow it.
  uint64_t eocd = size_;
  const uint64_t lowest = size_ >= kEocdSize + 0xffff ? size_ - kEocdSize - 0xffff : 0;
  for (uint64_t p = size_ - kEocdSize + 1; p-- > lowest;) {
    if (rd(data_ + p, 4) == kEocdSig && p + kEocdSize + rd(data_ + p + 20, 2) == size_) {
      eocd = p;
      break;
    }
  }
  if (eocd == size_) fail("no end of central directory record found", size_);
  uint64_t count = rd(data_ + eocd + 10, 2), cd_size = rd(data_ + eocd + 12, 4);
  uint64_t cd_offset = rd(data_ + eocd + 16, 4);
  if (rd(data_ + eocd + 4, 2) != 0 || rd(data_ + eocd + 6, 2) != 0)
    fail("multi-disk archives are not supported", eocd + 4);
  if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    if (eocd < 20 || rd(data_ + eocd - 20, 4) != kLoc64Sig)
      fail("zip64 values without a zip64 end of central directory locator", eocd);
    const uint64_t rec = rd(data_ + eocd - 20 + 8, 8);
    need(rec, 56, "zip64 end of central directory record");
    if (rd(data_ + rec, 4) != kEocd64Sig) fail("bad zip64 end of central directory signature", rec);
    count = rd(data_ + rec + 32, 8);
    cd_size = rd(data_ + rec + 40, 8);
    cd_offset = rd(data_ + rec + 48, 8);
  }
  need(cd_offset, cd_size, "central directory");
  if (count > cd_size / kCentralSize)
    fail(cat(std::to_string(count), " entries cannot fit a ", std::to_string(cd_size), "-byte central directory"), eocd);
  entries_.reserve(count);
  std::unordered_set<std::string> names;
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (p > cd_end || cd_end - p < kCentralSize) fail("central directory entry past its end", p);
    if (rd(data_ + p, 4) != kCentralSig) fail("bad central directory entry signature", p);
    const uint64_t flags = rd(data_ + p + 8, 2), method = rd(data_ + p + 10, 2);
    const uint64_t name_len = rd(data_ + p + 28, 2), extra_len = rd(data_ + p + 30, 2);
    const uint64_t comment_len = rd(data_ + p + 32, 2);
    if (cd_end - p - kCentralSize < name_len + extra_len + comment_len)
      fail("central directory entry's name/extra/comment past the directory's end", p);
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(data_ + p + kCentralSize), name_len);
    if (method != 0)
      fail(cat("entry '", e.name, "' is compressed (method ", std::to_string(method), "); only stored entries are supported"), p + 10);
    if (flags & 1) fail(cat("entry '", e.name, "' is encrypted"), p + 8);
    e.crc32 = static_cast<uint32_t>(rd(data_ + p + 16, 4));
    uint64_t csize = rd(data_ + p + 20, 4), usize = rd(data_ + p + 24, 4);
    uint64_t local = rd(data_ + p + 42, 4);
    // Zip64 extended information: the 0xffffffff fields, in order usize, csize, offset.
    for (uint64_t x = p + kCentralSize + name_len, xe = x + extra_len; x + 4 <= xe;) {
      const uint64_t id = rd(data_ + x, 2), len = rd(data_ + x + 2, 2);
      if (len > xe - x - 4) fail(cat("extra field past its end in entry '", e.name, "'"), x);
      if (id == 1) {
        uint64_t q = x + 4;
        for (uint64_t* f : {&usize, &csize, &local}) {
          if (*f != 0xffffffff) continue;
          if (q + 8 > x + 4 + len) fail(cat("short zip64 extra field in entry '", e.name, "'"), x);
          *f = rd(data_ + q, 8);
          q += 8;
        }
      }
      x += 4 + len;
    }
    if (csize != usize)
      fail(cat("stored entry '", e.name, "' has compressed size ", std::to_string(csize), " != size ", std::to_string(usize)), p + 20);
    need(local, kLocalSize, "local header");
    if (rd(data_ + local, 4) != kLocalSig) fail(cat("bad local header signature for '", e.name, "'"), local);
    const uint64_t lname = rd(data_ + local + 26, 2), lextra = rd(data_ + local + 28, 2);
    e.data_offset = local + kLocalSize + lname + lextra;
    e.size = usize;
    need(e.data_offset, e.size, cat("data of entry '", e.name, "'").c_str());
    if (!names.insert(e.name).second) fail(cat("duplicate entry '", e.name, "'"), p);
    entries_.push_back(std::move(e));
    p += kCentralSize + name_len + extra_len + comment_len;
  }
  crc_checked_.assign(entries_.size(), false);
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  for (const ZipEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

const uint8_t* ZipReader::data(const ZipEntry& entry) const {
  const size_t i = static_cast<size_t>(&entry - entries_.data());
  NKD_ASSERT(i < entries_.size(), "ZipReader::data: entry of another reader");
  if (!crc_checked_[i]) {
    if (crc32(data_ + entry.data_offset, entry.size) != entry.crc32)
      fail(cat("CRC-32 mismatch in entry '", entry.name, "'"), entry.data_offset);
    crc_checked_[i] = true;
  }
  return data_ + entry.data_offset;
}

}  // namespace nkd::io
