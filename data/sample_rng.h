// SampleRng: the random numbers of one sample's augmentation, keyed by (seed, epoch, sample index,
// attempt) on the engine's counter-based Philox, so a sample's augmentation never depends on which
// thread builds it or on how many threads there are. Batch-level draws use a separate stream space.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/random.h"

namespace nkd::data {

class SampleRng {
 public:
  // stream = epoch (24 bits) | index (40 bits); the attempt goes into the counter's upper half.
  SampleRng(uint64_t seed, uint64_t epoch, uint64_t index, uint64_t attempt = 0)
      : seed_(seed), stream_((epoch << 40) ^ (index & ((1ull << 40) - 1))), counter_(attempt << 32) {}
  static SampleRng for_batch(uint64_t seed, uint64_t epoch, uint64_t batch) {
    SampleRng r(seed, epoch, 0);
    r.stream_ = (1ull << 63) ^ (epoch << 40) ^ batch;
    return r;
  }
  double uniform() { return 1.0 - random_uniform(seed_, stream_, counter_++); }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (inclusive), like torch.randint(lo, hi + 1).
  int64_t randint(int64_t lo, int64_t hi) {
    const int64_t v = lo + static_cast<int64_t>(std::floor(uniform() * double(hi - lo + 1)));
    return v > hi ? hi : v;
  }
  bool bernoulli(double p) { return uniform() < p; }
  double normal() { return random_normal(seed_, stream_, counter_++); }
  double gamma(double alpha);  // Marsaglia-Tsang; alpha > 0
  double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }

 private:
  uint64_t seed_, stream_, counter_;
};

inline double SampleRng::gamma(double alpha) {
  if (alpha < 1.0) return gamma(alpha + 1.0) * std::pow(uniform() + 1e-300, 1.0 / alpha);
  const double d = alpha - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u + 1e-300) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

}  // namespace nkd::data
