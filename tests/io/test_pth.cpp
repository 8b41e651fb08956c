// .pth (torch.save zip) reading and writing: bit-exact round trips, both layouts, hand-made
// malformed archives and pickles (forbidden globals built by hand, never executed), and
// thousands of random mutations that must parse or throw nkd::Error, never crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "engine/factory.h"
#include "io/pickle_reader.h"
#include "io/pth.h"
#include "io/zip_reader.h"
#include "tests/io/io_test_util.h"

namespace nkd::io {
namespace {

using testing::expect_same;

NamedTensors sample() {
  Generator g(7);
  return {{"conv.weight", randn({2, 3, 3, 3}, g)},
          {"fc.bias", randn({4}, g, {DType::F64})},
          {"bn.num_batches_tracked", from_vector<int64_t>({12345678901LL}, {})},
          {"idx", from_vector<int32_t>({1, -2, 3}, {3})},
          {"mask", from_vector<uint8_t>({0, 255, 7}, {3})},
          {"transposed", randn({3, 5}, g).transpose(0, 1)},
          {"empty", zeros({0, 5})}};
}

PthCheckpoint parse(const std::string& file) {
  return parse_pth(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem");
}

// A literal with embedded NULs, whole.
template <size_t N>
std::string bin(const char (&s)[N]) {
  return std::string(s, N - 1);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// The pickle and storages of a valid file, for feeding read_torch_pickle directly.
struct Parts {
  std::string file, pickle;
  std::map<std::string, std::string> storages;
};
Parts parts_of(const NamedTensors& t) {
  Parts p;
  p.file = serialize_pth(t);
  const ZipReader zip(reinterpret_cast<const uint8_t*>(p.file.data()), p.file.size(), "mem");
  for (const ZipEntry& e : zip.entries()) {
    std::string bytes(reinterpret_cast<const char*>(zip.data(e)), e.size);
    if (e.name == "archive/data.pkl") p.pickle = bytes;
    if (e.name.rfind("archive/data/", 0) == 0) p.storages[e.name.substr(13)] = bytes;
  }
  return p;
}
TorchStateDict unpickle(const std::string& pickle, const std::map<std::string, std::string>& storages = {}) {
  const StorageSource src = [&](const std::string& key) {
    auto it = storages.find(key);
    if (it == storages.end()) throw Error("no storage " + key);
    return StorageBytes{reinterpret_cast<const uint8_t*>(it->second.data()), it->second.size()};
  };
  return read_torch_pickle(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(), src, "test");
}

TEST(Pth, RoundTripIsBitExactAndKeepsOrder) {
  const std::string file = serialize_pth(sample());
  expect_same(parse(file).tensors, sample());
  // Stored entries, data 64-byte aligned, version "3\n".
  const ZipReader zip(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem");
  ASSERT_NE(zip.find("archive/version"), nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(zip.data(*zip.find("archive/version"))), 2), "3\n");
  for (const ZipEntry& e : zip.entries())
    if (e.name.rfind("archive/data/", 0) == 0) {
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    }
}

TEST(Pth, MmclsLayoutAndModulePrefixAndFiles) {
  NamedTensors prefixed = sample();
  for (auto& [name, t] : prefixed) name.insert(0, "module.");
  PthWriteOptions opt;
  opt.mmcls_layout = true;
  opt.archive = "r18";
  const std::string path = (std::filesystem::temp_directory_path() / "nkd_test.pth").string();
  save_pth(path, prefixed, opt);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  expect_same(load_pth(path).tensors, sample());
  std::filesystem::remove(path);
  expect_error([&] { load_pth(path); }, "cannot open");
}

TEST(Pth, ReadsMetaAndParameterAndHalf) {
  // {'state_dict': {'w': _rebuild_parameter(_rebuild_tensor_v2(Half storage)...)}, 'meta': {...}}
  std::string pk = bin("\x80\x02}(X\x0a\x00\x00\x00state_dict}X\x01\x00\x00\x00w");
  pk += "ctorch._utils\n_rebuild_parameter\n(ctorch._utils\n_rebuild_tensor_v2\n";
  pk += bin("((X\x07\x00\x00\x00storage" "ctorch\nHalfStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x03tQ");
  pk += bin("K\x01K\x02\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)RtR\x88}tRs");
  pk += bin("X\x04\x00\x00\x00meta}(X\x05\x00\x00\x00" "epochK\x03X\x03\x00\x00\x00" "cfgX\x01\x00\x00\x00xu");
  pk += "u.";
  const std::string half = std::string("\x00\x00\x00\x3c\x00\xc0", 6);  // 0, 1, -2
  const TorchStateDict sd = unpickle(pk, {{"0", half}});
  ASSERT_EQ(sd.tensors.size(), 1u);
  EXPECT_EQ(to_vector<float>(sd.tensors[0].second), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(sd.metadata.at("epoch"), "3");
  EXPECT_EQ(sd.metadata.at("cfg"), "x");
}

TEST(Pth, MalformedZipsAreRejected) {
  const std::string file = serialize_pth(sample());
  // A pre-1.6 torch.save file is a bare pickle stream: refused with the conversion command.
  expect_error([&] { parse(std::string("\x80\x02\x8a\x0alegacy", 11)); }, "legacy (pre-1.6) torch.save format");
  expect_error([&] { parse(file.substr(0, file.size() / 2)); }, "no end of central directory");
  expect_error([&] { parse(file.substr(0, 10)); }, "too short");
  std::string bad = file;
  const size_t eocd = file.size() - 22;
  bad[eocd + 16] = '\x01';  // central directory offset low byte
  expect_error([&] { parse(bad); }, "bad central directory entry signature");
  bad = file;
  bad[eocd + 19] = '\x7f';  // far past the end
  expect_error([&] { parse(bad); }, "runs past the end");
  bad = file;
  bad[eocd + 10] = '\x7f';  // entry count larger than the directory
  expect_error([&] { parse(bad); }, "entries cannot fit");
  bad = file;
  const size_t cd = bad.find("PK\x01\x02");
  bad[cd + 10] = 8;  // deflate
  expect_error([&] { parse(bad); }, "compressed (method 8)");
  bad = file;
  bad[cd + 42] = '\x7f';  // local header offset
  expect_error([&] { parse(bad); }, "at byte");
  bad = file;
  {
    const ZipReader zip(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem");
    bad[zip.find("archive/data/0")->data_offset + 3] ^= 1;  // flip a byte of the first storage
  }
  expect_error([&] { parse(bad); }, "CRC-32 mismatch");
}

TEST(Pth, MalformedPicklesAreRejected) {
  Parts p = parts_of({{"w", from_vector<float>({1, 2, 3, 4}, {4})}});
  std::map<std::string, std::string> short_storage = p.storages;
  short_storage["0"].resize(8);
  expect_error([&] { unpickle(p.pickle, short_storage); }, "declares 4 elements of 4 bytes but its data holds 8");
  expect_error([&] { unpickle("\x80\x02}\xff."); }, "unknown or unsupported opcode 0xff");
  expect_error([&] { unpickle("\x80\x02}\xff."); }, "at byte 3");
  expect_error([&] { unpickle("\x80\x02}"); }, "without STOP");
  // Forbidden globals, hand-built: os.system('echo pwned') and friends are never called.
  for (const char* g : {"os\nsystem\n", "posix\nsystem\n", "builtins\neval\n", "torch\nload\n"}) {
    std::string pk = "\x80\x02" "c";
    pk += g;
    pk += bin("X\x0a\x00\x00\x00" "echo pwned\x85R.");
    std::string name = g;
    name[name.find('\n')] = '.';
    name.pop_back();
    expect_error([&] { unpickle(pk); }, "forbidden global '" + name + "'");
  }
  expect_error([&] { unpickle(std::string(100000, '(').insert(0, "\x80\x02")); }, "nested MARKs");
  std::string deep = "\x80\x02]";
  for (int i = 0; i < 5000; ++i) deep += "\x85";
  expect_error([&] { unpickle(deep + "."); }, "nesting deeper than");
  std::string memo = "\x80\x02N";  // a million memo entries
  for (uint32_t i = 0; i < (1u << 20) + 1; ++i) {
    memo += 'r';
    memo.append(reinterpret_cast<const char*>(&i), 4);
  }
  expect_error([&] { unpickle(memo); }, "memo exceeds");
  expect_error([&] { unpickle(bin("\x80\x02X\xff\xff\xff\xff")); }, "runs past the end");
  expect_error([&] { unpickle(bin("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff")); }, "runs past the end");
  // Huge declared tensor sizes: overflow and extent beyond the storage.
  std::string huge = p.pickle;
  const size_t at = huge.find(bin("(K\x04t"));  // the size tuple (4,)
  ASSERT_NE(at, std::string::npos);
  huge.replace(at, 8, bin("(\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40t(K\x01K\x01t"));
  expect_error([&] { unpickle(huge, p.storages); }, "runs past its storage");  // 2^62 x 2^62 overflows
  huge = p.pickle;
  huge.replace(at, 4, bin("(K\x04K\x04t"));
  expect_error([&] { unpickle(huge, p.storages); }, "_rebuild_tensor_v2 needs");  // 2-d size, 1-d stride
  huge = p.pickle;
  huge.replace(at, 4, bin("(\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40t"));
  expect_error([&] { unpickle(huge, p.storages); }, "runs past its storage '0' of 4 elements");
  huge = p.pickle;
  huge.replace(at, 4, bin("(K\x05t"));
  expect_error([&] { unpickle(huge, p.storages); }, "runs past its storage");
  huge = p.pickle;  // 2^40 elements over one through a zero stride
  huge.replace(at, 8, bin("(\x8a\x06\x00\x00\x00\x00\x00\x01t(K\x00t"));
  expect_error([&] { unpickle(huge, p.storages); }, "beyond the 2^28-element limit");
  expect_error([&] { unpickle("\x80\x02]."); }, "a list, not a state dict");
}

TEST(Pth, RandomMutationsParseOrThrow) {
  const Parts p = parts_of(sample());
  std::mt19937 rng(123);
  int rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const bool whole = iter % 3 == 0;
    std::string m = whole ? p.file : p.pickle;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const size_t pos = rng() % m.size();
      switch (rng() % 4) {
        case 0: m[pos] = static_cast<char>(rng()); break;
        case 1: m[pos] = static_cast<char>(m[pos] ^ (1 << (rng() % 8))); break;
        case 2: m.erase(pos, 1 + rng() % 8); break;
        default: m.resize(pos + 1); break;
      }
      if (m.empty()) m.push_back('x');
    }
    try {
      if (whole) parse(m); else unpickle(m, p.storages);
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 2000);
}

}  // namespace
}  // namespace nkd::io
