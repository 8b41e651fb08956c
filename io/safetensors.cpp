// safetensors reader and writer with full validation of untrusted files.
#include "io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/factory.h"
#include "io/half.h"
#include "io/mapped_file.h"
#include "io/zip_reader.h"

namespace nkd::io {
namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MB, as the reference implementation
// Metadata key of the data section's CRC-32 (8 hex digits), written by nkd and checked on reading.
constexpr const char* kCrcKey = "nkd.data_crc32";

std::string hex32(uint32_t v) {
  char s[9];
  std::snprintf(s, sizeof s, "%08x", v);
  return s;
}

struct FileDType {
  const char* name;
  size_t bytes;
  DType dtype;  // what the tensor becomes in memory
};
constexpr FileDType kDTypes[] = {{"F32", 4, DType::F32}, {"F64", 8, DType::F64},
                                 {"F16", 2, DType::F32}, {"BF16", 2, DType::F32},
                                 {"I64", 8, DType::I64}, {"I32", 4, DType::I32},
                                 {"U8", 1, DType::U8}};

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw Error("safetensors " + origin + ": " + what);
}

Tensor make_tensor(const FileDType& dt, const Shape& shape, const uint8_t* src) {
  const int64_t n = numel(shape);
  Tensor t = empty(shape, {dt.dtype, kCPU});
  if (std::strcmp(dt.name, "F16") == 0 || std::strcmp(dt.name, "BF16") == 0) {
    const bool bf16 = dt.name[0] == 'B';
    float* out = t.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = bf16 ? bf16_to_float(h) : half_to_float(h);
    }
  } else if (n > 0) {
    std::memcpy(t.raw_data(), src, static_cast<size_t>(n) * dt.bytes);
  }
  return t;
}

// Parses the header JSON, rejecting duplicate top-level names (nlohmann keeps the last one).
json parse_header(const uint8_t* p, size_t len, const std::string& origin) {
  std::set<std::string> seen;
  std::string duplicate;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth == 1 && ev == json::parse_event_t::key) {
      const std::string k = parsed.get<std::string>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json h;
  try {
    h = json::parse(p, p + len, cb);
  } catch (const json::parse_error& e) {
    fail(origin, "invalid JSON header at byte " + std::to_string(8 + e.byte - 1) + ": " + e.what());
  } catch (const json::exception& e) {  // e.g. out_of_range 406: a number literal that overflows
    fail(origin, std::string("invalid JSON header: ") + e.what());
  }
  if (!duplicate.empty()) fail(origin, "duplicate tensor name '" + duplicate + "' in the header");
  if (!h.is_object()) fail(origin, "header at byte 8 is not a JSON object");
  return h;
}

struct Entry {
  std::string name;
  const FileDType* dt;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const json& v, uint64_t data_size,
                  const std::string& origin) {
  const std::string where = "tensor '" + name + "'";
  if (name.empty()) fail(origin, "empty tensor name");
  if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
    fail(origin, where + ": needs dtype, shape and data_offsets");
  if (!v["dtype"].is_string()) fail(origin, where + ": dtype is not a string");
  const std::string dname = v["dtype"].get<std::string>();
  const FileDType* dt = nullptr;
  for (const FileDType& d : kDTypes)
    if (dname == d.name) dt = &d;
  if (dt == nullptr) fail(origin, where + ": unknown dtype '" + dname + "'");
  if (!v["shape"].is_array()) fail(origin, where + ": shape is not an array");
  Shape shape;
  uint64_t count = 1;
  for (const json& d : v["shape"]) {
    if (!d.is_number_unsigned()) fail(origin, where + ": shape entries must be non-negative integers");
    const uint64_t s = d.get<uint64_t>();
    if (s != 0 && count > (std::numeric_limits<uint64_t>::max() >> 4) / s)
      fail(origin, where + ": shape " + v["shape"].dump() + " overflows");
    count *= s;
    shape.push_back(static_cast<int64_t>(s));
  }
  const json& o = v["data_offsets"];
  if (!o.is_array() || o.size() != 2 || !o[0].is_number_unsigned() || !o[1].is_number_unsigned())
    fail(origin, where + ": data_offsets must be [begin, end]");
  const uint64_t b = o[0].get<uint64_t>(), e = o[1].get<uint64_t>();
  if (b > e || e > data_size)
    fail(origin, where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                     "] out of range of the " + std::to_string(data_size) + "-byte data section");
  if (e - b != count * dt->bytes)
    fail(origin, where + ": shape " + v["shape"].dump() + " of " + dname + " needs " +
                     std::to_string(count * dt->bytes) + " bytes, data_offsets give " +
                     std::to_string(e - b));
  return {name, dt, std::move(shape), b, e};
}

}  // namespace

Safetensors parse_safetensors(const uint8_t* data, size_t size, const std::string& origin) {
  if (size < 8) fail(origin, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | data[i];
  if (hlen > kMaxHeader) fail(origin, "header length " + std::to_string(hlen) + " at byte 0 exceeds the 100 MB limit");
  if (hlen > size - 8)
    fail(origin, "header length " + std::to_string(hlen) + " at byte 0 runs past the end of the " +
                     std::to_string(size) + "-byte file");
  const json h = parse_header(data + 8, hlen, origin);
  const uint64_t data_size = size - 8 - hlen;
  Safetensors out;
  std::vector<Entry> entries;
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) fail(origin, "__metadata__ is not an object");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) fail(origin, "__metadata__ value of '" + k + "' is not a string");
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(name, v, data_size, origin));
  }
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin || (a->begin == b->begin && a->end < b->end); });
  uint64_t covered = 0;
  for (const Entry* e : by_offset) {
    if (e->begin < covered)
      fail(origin, "tensor '" + e->name + "' data [" + std::to_string(e->begin) + ", " +
                       std::to_string(e->end) + ") overlaps the previous tensor (ends at " +
                       std::to_string(covered) + ")");
    if (e->begin > covered)
      fail(origin, "data section has a gap at byte " + std::to_string(8 + hlen + covered));
    covered = e->end;
  }
  if (covered != data_size)
    fail(origin, "data section has " + std::to_string(data_size - covered) +
                     " trailing bytes not covered by any tensor, at byte " + std::to_string(8 + hlen + covered));
  if (const auto it = out.metadata.find(kCrcKey); it != out.metadata.end()) {
    const std::string actual = hex32(crc32(data + 8 + hlen, data_size));
    if (actual != it->second)
      fail(origin, "the tensor data does not match its checksum (CRC-32 " + actual + ", the header says " +
                       it->second + "): the file was damaged after it was written");
    out.metadata.erase(it);  // the file's own, not the writer's metadata
  }
  // Keep the file's order of tensors as they appear in the data section.
  for (const Entry* e : by_offset)
    out.tensors.emplace_back(e->name, make_tensor(*e->dt, e->shape, data + 8 + hlen + e->begin));
  return out;
}

Safetensors load_safetensors(const std::string& path) {
  const MappedFile file(path, "safetensors");
  return parse_safetensors(file.data(), file.size(), path);
}

std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  std::vector<Tensor> host;
  uint64_t offset = 0;
  uint32_t crc = 0;
  for (const auto& [name, t] : tensors) {
    NKD_CHECK(!h.contains(name), "safetensors: duplicate tensor name '", name, "'");
    NKD_CHECK(name != "__metadata__", "safetensors: '__metadata__' cannot name a tensor");
    const Tensor c = t.detach().to(kCPU).contiguous();
    NKD_CHECK(c.dtype() != DType::F16 && c.dtype() != DType::BF16, "safetensors: writing ",
              nkd::name(c.dtype()), " is not supported");
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * size_of(c.dtype());
    h[name] = {{"dtype", nkd::name(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    crc = crc32(static_cast<const uint8_t*>(c.raw_data()), bytes, crc);
    host.push_back(c);
  }
  std::map<std::string, std::string> meta = metadata;
  meta[kCrcKey] = hex32(crc);
  h["__metadata__"] = meta;
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  out += header;
  out.reserve(out.size() + offset);
  for (const Tensor& c : host)
    out.append(static_cast<const char*>(c.raw_data()), c.numel() * size_of(c.dtype()));
  return out;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  NKD_CHECK(fd >= 0, "cannot write ", tmp, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      NKD_FAIL("writing ", tmp, " failed: ", std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  NKD_CHECK(synced, "fsync of ", tmp, " failed: ", std::strerror(errno));
  NKD_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "renaming ", tmp, " to ", path, " failed: ",
            std::strerror(errno));
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace nkd::io
