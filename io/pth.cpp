// .pth reading (zip_reader + pickle_reader) and writing: a protocol-2 pickle of an OrderedDict of
// _rebuild_tensor_v2 calls with persistent storage ids, in a stored zip whose data entries are
// 64-byte aligned, as torch.save lays them out.
#include "io/pth.h"

#include "io/mapped_file.h"
#include "io/pickle_reader.h"
#include "io/safetensors.h"
#include "io/torch_storage.h"
#include "io/zip_reader.h"

namespace nkd::io {
namespace {

using detail::cat;

// `bytes` little-endian bytes of v; bytes past the 8th are zero (a run of zero fields at once).
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>(i < 8 ? (v >> (8 * i)) & 0xff : 0);
}

class PickleWriter {
 public:
  std::string out = std::string("\x80\x02", 2);
  void op(char c) { out += c; }
  void str(const std::string& s) {
    out += 'X';
    put_le(out, s.size(), 4);
    out += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out += 'K';
      put_le(out, static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      out += 'M';
      put_le(out, static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out += 'J';
      put_le(out, static_cast<uint64_t>(v), 4);
    } else {
      out += "\x8a\x08";
      put_le(out, static_cast<uint64_t>(v), 8);
    }
  }
  void global(const char* module, const char* name) {
    out += 'c';
    out += module;
    out += '\n';
    out += name;
    out += '\n';
  }
  void ordered_dict() {
    global("collections", "OrderedDict");
    out += ")R";
  }
  void tuple(const std::vector<int64_t>& v) {
    out += '(';
    for (int64_t x : v) integer(x);
    out += 't';
  }
};

class ZipWriter {
 public:
  void add(const std::string& name, const std::string& data) {
    const uint32_t crc = crc32(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    NKD_CHECK(data.size() < 0xffffffffu && out_.size() < 0xffffffffu, "save_pth: checkpoints of 4 GB "
              "and more need zip64, which the writer does not produce");
    const size_t local = out_.size();
    // Pad with an extra field (id 'FB', as PyTorch) so that the data starts 64-byte aligned.
    const size_t header = local + 30 + name.size();
    const size_t pad = (64 - (header + 4) % 64) % 64;
    header_fields(out_, 0x04034b50, crc, data.size(), name.size(), 4 + pad);
    out_ += name;
    put_le(out_, 0x4246, 2);
    put_le(out_, pad, 2);
    out_.append(pad, 'Z');
    out_ += data;
    header_fields(central_, 0x02014b50, crc, data.size(), name.size(), 0);
    put_le(central_, 0, 2 + 2 + 2 + 4);  // comment length, disk, internal and external attributes
    put_le(central_, local, 4);
    central_ += name;
    ++count_;
  }
  std::string finish() {
    const size_t cd_offset = out_.size();
    out_ += central_;
    NKD_CHECK(out_.size() < 0xffffffffu && count_ < 0xffff, "save_pth: too large for a zip without zip64");
    put_le(out_, 0x06054b50, 4);
    put_le(out_, 0, 4);
    put_le(out_, count_, 2);
    put_le(out_, count_, 2);
    put_le(out_, central_.size(), 4);
    put_le(out_, cd_offset, 4);
    put_le(out_, 0, 2);
    return std::move(out_);
  }

 private:
  // The fields local and central headers share, from the signature to the extra-field length.
  static void header_fields(std::string& s, uint32_t sig, uint32_t crc, size_t size, size_t name_len,
                            size_t extra_len) {
    put_le(s, sig, 4);
    if (sig == 0x02014b50) put_le(s, 20, 2);  // version made by
    put_le(s, 20, 2);                         // version needed
    put_le(s, 0, 2 + 2 + 2);                  // flags, method (stored), time
    put_le(s, 0x21, 2);                       // date: 1980-01-01
    put_le(s, crc, 4);
    put_le(s, size, 4);
    put_le(s, size, 4);
    put_le(s, name_len, 2);
    put_le(s, extra_len, 2);
  }
  std::string out_, central_;
  size_t count_ = 0;
};

}  // namespace

PthCheckpoint parse_pth(const uint8_t* data, size_t size, const std::string& origin) {
  // torch.save before 1.6 wrote a bare pickle stream (PROTO opcode 0x80 first), not a zip.
  if (size >= 2 && data[0] == 0x80 && data[1] <= 5) {
    throw Error(cat("pth ", origin, ": legacy (pre-1.6) torch.save format, which nkd does not read; ",
                    "convert it with PyTorch >= 1.6: python3 -c \"import torch; ",
                    "torch.save(torch.load('in.pth', map_location='cpu'), 'out.pth')\""));
  }
  const ZipReader zip(data, size, origin);
  const ZipEntry* pkl = nullptr;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      if (pkl) throw Error(cat("pth ", origin, ": more than one data.pkl entry"));
      pkl = &e;
    }
  }
  if (!pkl) {
    throw Error(cat("pth ", origin, ": no '<archive>/data.pkl' entry (not a torch.save zip checkpoint; "
                    "legacy non-zip .pth files are not supported)"));
  }
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);  // "<archive>/"
  const StorageSource storages = [&](const std::string& key) {
    const ZipEntry* e = zip.find(prefix + "data/" + key);
    if (!e) throw Error(cat("pth ", origin, ": storage '", key, "' has no entry ", prefix, "data/", key));
    return StorageBytes{zip.data(*e), static_cast<size_t>(e->size)};
  };
  TorchStateDict sd = read_torch_pickle(zip.data(*pkl), static_cast<size_t>(pkl->size), storages,
                                        origin + " (" + pkl->name + ")");
  return {std::move(sd.tensors), std::move(sd.metadata)};
}

PthCheckpoint load_pth(const std::string& path) {
  const MappedFile file(path, "pth");
  return parse_pth(file.data(), file.size(), path);
}

std::string serialize_pth(const NamedTensors& tensors, const PthWriteOptions& options) {
  NKD_CHECK(!options.archive.empty() && options.archive.find('/') == std::string::npos,
            "save_pth: bad archive name '", options.archive, "'");
  PickleWriter p;
  if (options.mmcls_layout) {
    p.op('}');
    p.op('(');
    p.str("state_dict");
  }
  p.ordered_dict();
  std::vector<std::string> data;
  if (!tensors.empty()) p.op('(');
  for (const auto& [name, tensor] : tensors) {
    const TorchStorageType& type = torch_storage_type(tensor.dtype());
    const Tensor c = tensor.to(kCPU).contiguous();
    const std::string key = std::to_string(data.size());
    data.emplace_back(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * type.bytes);
    p.str(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');  // persistent id ('storage', torch.<T>Storage, key, 'cpu', numel)
    p.str("storage");
    p.global("torch", type.name);
    p.str(key);
    p.str("cpu");
    p.integer(c.numel());
    p.op('t');
    p.op('Q');
    p.integer(0);
    p.tuple(c.shape());
    std::vector<int64_t> strides(c.shape().size(), 1);  // contiguous, whatever c reports for 1-dims
    for (size_t d = strides.size(); d-- > 1;) strides[d - 1] = strides[d] * c.shape()[d];
    p.tuple(strides);
    p.op('\x89');  // requires_grad False
    p.ordered_dict();
    p.op('t');
    p.op('R');
  }
  if (!tensors.empty()) p.op('u');
  NKD_CHECK(options.mmcls_layout || options.meta.empty(), "save_pth: 'meta' entries need the mmcls layout");
  if (options.mmcls_layout) {
    p.str("meta");
    p.op('}');
    if (!options.meta.empty()) p.op('(');
    for (const auto& [key, value] : options.meta) {
      p.str(key);
      p.str(value);
    }
    if (!options.meta.empty()) p.op('u');
    p.op('u');
  }
  p.op('.');
  const std::string dir = options.archive + "/";
  ZipWriter zip;
  zip.add(dir + "data.pkl", p.out);
  for (size_t i = 0; i < data.size(); ++i) zip.add(dir + "data/" + std::to_string(i), data[i]);
  zip.add(dir + "version", "3\n");
  return zip.finish();
}

void save_pth(const std::string& path, const NamedTensors& tensors, const PthWriteOptions& options) {
  write_file_atomic(path, serialize_pth(tensors, options));
}

}  // namespace nkd::io
