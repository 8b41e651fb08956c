// DistributedSampler with mmcls/torch semantics: one permutation per epoch (seeded by seed and
// epoch, the same on every rank), padded by repeating it from the start up to a multiple of the
// world size, then rank r takes positions r, r + world, r + 2 world, ...
#pragma once
#include <cstdint>
#include <vector>

namespace nkd::data {

struct SamplerOptions {
  bool shuffle = true;
  uint64_t seed = 0;
  int rank = 0, world = 1;
};

class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, SamplerOptions options = {});
  int64_t num_samples() const { return num_samples_; }  // per rank: ceil(size / world)
  int64_t total_size() const { return num_samples_ * options_.world; }
  // The dataset indices this rank visits in `epoch`, in order.
  std::vector<int64_t> indices(int64_t epoch) const;

 private:
  int64_t size_, num_samples_;
  SamplerOptions options_;
};

// A Fisher-Yates permutation of [0, n) from Philox(seed, stream = epoch).
std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t epoch);

}  // namespace nkd::data
