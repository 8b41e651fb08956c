// Counter-based random numbers (Philox-4x32-10). A number depends only on (seed, stream, counter),
// never on thread count or device: the CPU loops and CUDA kernels call the same NKD_HD functions.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/host_device.h"

namespace nkd {

struct Philox4 {
  uint32_t x[4];
};

// Philox-4x32 with 10 rounds (Salmon et al., SC'11), key = seed, counter = (index, stream).
NKD_HD Philox4 philox4x32(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform in (0, 1] with 53 random bits from two words.
NKD_HD double philox_uniform(uint32_t a, uint32_t b) {
  const uint64_t bits = (static_cast<uint64_t>(a) << 21) ^ static_cast<uint64_t>(b >> 11);
  return (static_cast<double>(bits & ((1ull << 53) - 1)) + 1.0) * (1.0 / 9007199254740992.0);
}

// Element `index` of a uniform draw: U(0, 1].
NKD_HD double random_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  const Philox4 r = philox4x32(seed, stream, index);
  return philox_uniform(r.x[0], r.x[1]);
}

// Element `index` of a standard normal draw (Box-Muller on one Philox block).
NKD_HD double random_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  const Philox4 r = philox4x32(seed, stream, index);
  const double u1 = philox_uniform(r.x[0], r.x[1]);
  const double u2 = philox_uniform(r.x[2], r.x[3]);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// A (seed, stream) pair and a running offset: each draw of n numbers takes indices
// [offset, offset + n) and advances the offset, so consecutive draws differ.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t stream = 0) : seed_(seed), stream_(stream) {}
  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }
  // Reserves n indices and returns the first.
  uint64_t take(uint64_t n) {
    const uint64_t first = offset_;
    offset_ += n;
    return first;
  }

 private:
  uint64_t seed_, stream_, offset_ = 0;
};

}  // namespace nkd
