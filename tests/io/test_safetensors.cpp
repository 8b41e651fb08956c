// safetensors: bit-exact round trips, metadata, and rejection of malformed files with a message
// naming the problem (hand-made cases plus thousands of random mutations that must never crash).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "engine/factory.h"
#include "io/safetensors.h"

namespace nkd::io {
namespace {

NamedTensors sample() {
  Generator g(5);
  return {{"a.weight", randn({3, 4}, g)},
          {"a.bias", randn({4}, g, {DType::F64})},
          {"bn.num_batches_tracked", from_vector<int64_t>({7}, {})},
          {"idx", from_vector<int32_t>({1, -2, 3}, {3})},
          {"mask", from_vector<uint8_t>({0, 255}, {2})},
          {"empty", zeros({0, 5})}};
}

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.numel() * size_of(c.dtype()));
}

TEST(Safetensors, RoundTripIsBitExactAndKeepsOrderAndMetadata) {
  const NamedTensors in = sample();
  const std::string file = serialize_safetensors(in, {{"config", "x = 1"}, {"epoch", "3"}});
  const Safetensors out = parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem");
  ASSERT_EQ(out.tensors.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out.tensors[i].first, in[i].first);
    EXPECT_EQ(out.tensors[i].second.dtype(), in[i].second.dtype());
    EXPECT_EQ(out.tensors[i].second.shape(), in[i].second.shape());
    EXPECT_EQ(bytes_of(out.tensors[i].second), bytes_of(in[i].second)) << in[i].first;
  }
  EXPECT_EQ(out.metadata.at("config"), "x = 1");
  EXPECT_EQ(out.metadata.at("epoch"), "3");
  // Header length is a multiple of 8 so the data section is aligned.
  uint64_t hlen;
  std::memcpy(&hlen, file.data(), 8);
  EXPECT_EQ(hlen % 8, 0u);
}

TEST(Safetensors, FileRoundTripIsAtomicAndMemoryMapped) {
  const std::string path = (std::filesystem::temp_directory_path() / "nkd_test.safetensors").string();
  save_safetensors(path, sample(), {{"k", "v"}});
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const Safetensors s = load_safetensors(path);
  EXPECT_EQ(s.tensors.size(), 6u);
  EXPECT_EQ(bytes_of(s.tensors[0].second), bytes_of(sample()[0].second));
  std::filesystem::remove(path);
  EXPECT_THROW(load_safetensors(path), Error);
}

TEST(Safetensors, ReadsHalfPrecisionAsF32) {
  // F16 1.0 = 0x3C00, -2.0 = 0xC000; BF16 1.0 = 0x3F80, 0.5 = 0x3F00.
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})";
  std::string file(8, '\0');
  file[0] = static_cast<char>(header.size());
  file += header;
  const uint8_t data[] = {0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x00, 0x3F};
  file.append(reinterpret_cast<const char*>(data), 8);
  const Safetensors s = parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem");
  EXPECT_EQ(to_vector<float>(s.tensors[0].second), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(to_vector<float>(s.tensors[1].second), (std::vector<float>{1.0f, 0.5f}));
}

std::string with_header(const std::string& header, size_t data_bytes, int64_t declared = -1) {
  std::string file(8, '\0');
  const uint64_t n = declared < 0 ? header.size() : static_cast<uint64_t>(declared);
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return file + header + std::string(data_bytes, '\x01');
}

void expect_rejected(const std::string& file, const std::string& needle) {
  try {
    parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "case");
    ADD_FAILURE() << "accepted a malformed file; expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RejectsMalformedFilesWithAClearMessage) {
  const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expect_rejected("", "shorter than the 8-byte header length");
  expect_rejected(std::string(5, 'x'), "shorter than the 8-byte header length");
  expect_rejected(with_header(ok, 8, 1000), "runs past the end");
  expect_rejected(with_header(ok, 8, int64_t{1} << 40), "exceeds the 100 MB limit");
  expect_rejected(with_header(R"({"t":{"dtype":"F32",)", 8), "invalid JSON header at byte");
  expect_rejected(with_header("[1, 2]", 0), "not a JSON object");
  // Found by libFuzzer: a number literal that overflows threw nlohmann's out_of_range past the reader.
  expect_rejected(with_header(R"({"t":6666666666.6666666E69910})", 0), "invalid JSON header");
  expect_rejected(with_header(R"({"t":{"dtype":"Q8","shape":[2],"data_offsets":[0,8]}})", 8), "unknown dtype 'Q8'");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12 bytes");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "out of range");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "non-negative");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "out of range");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                  "overlaps");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16),
                  "duplicate tensor name 't'");
  expect_rejected(with_header(ok, 12), "trailing bytes");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "gap at byte");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8), "overflows");
  expect_rejected(with_header(R"({"__metadata__":{"a":1}})", 0), "is not a string");
  expect_rejected(with_header(R"({"t":{"dtype":"F32","shape":[2]}})", 8), "needs dtype, shape and data_offsets");
}

// nkd's files carry the data section's CRC-32: a flipped data bit is rejected with a message that
// says so; the checksum key is not part of the metadata handed back; files without one still load.
TEST(Safetensors, DamagedDataIsRejectedByTheChecksum) {
  const std::string good = serialize_safetensors(sample(), {{"epoch", "3"}});
  const Safetensors ok = parse_safetensors(reinterpret_cast<const uint8_t*>(good.data()), good.size(), "mem");
  EXPECT_EQ(ok.metadata, (std::map<std::string, std::string>{{"epoch", "3"}}));
  EXPECT_NE(good.find("\"nkd.data_crc32\""), std::string::npos);
  for (const size_t from_end : {size_t{1}, size_t{9}, size_t{40}}) {
    std::string bad = good;
    bad[bad.size() - from_end] ^= 0x10;  // one bit of the data section
    try {
      parse_safetensors(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), "damaged.safetensors");
      ADD_FAILURE() << "a damaged data section was accepted (byte " << from_end << " from the end)";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("damaged.safetensors: the tensor data does not match its checksum"),
                std::string::npos) << e.what();
    }
  }
  // Another writer's file (no checksum key) loads as before.
  const std::string plain = with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  EXPECT_EQ(parse_safetensors(reinterpret_cast<const uint8_t*>(plain.data()), plain.size(), "plain").tensors.size(), 1u);
}

TEST(Safetensors, RandomMutationsNeverCrash) {
  // 5000 files: random byte flips, truncations and header-length edits of a valid file. Each must
  // parse or throw nkd::Error; ASan/UBSan builds check for out-of-bounds reads.
  const std::string good = serialize_safetensors(sample(), {{"m", "v"}});
  Generator gen(123);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string f = good;
    const std::vector<double> r = to_vector<double>(uniform({8}, 0, 1, gen, {DType::F64}));
    const int kind = static_cast<int>(r[0] * 4);
    const size_t pos = static_cast<size_t>(r[1] * f.size());
    if (kind == 0) {
      for (int k = 0; k < 1 + static_cast<int>(r[2] * 4); ++k)
        f[static_cast<size_t>(r[3 + k] * f.size())] ^= static_cast<char>(1 + r[2] * 254);
    } else if (kind == 1) {
      f.resize(pos);
    } else if (kind == 2) {
      f[static_cast<size_t>(r[2] * 8)] = static_cast<char>(r[3] * 256);
    } else {
      f[pos] = "{}[],:\"0-9"[static_cast<int>(r[2] * 10)];
    }
    try {
      parse_safetensors(reinterpret_cast<const uint8_t*>(f.data()), f.size(), "fuzz");
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 2500);
  std::cout << "[ fuzz     ] 5000 mutated files: " << parsed << " parsed, " << rejected << " rejected\n";
}

}  // namespace
}  // namespace nkd::io
