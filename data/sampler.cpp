// Per-epoch permutation and the rank/world sharding with round-up padding.
#include <algorithm>
#include <cmath>

#include "data/sampler.h"
#include "engine/check.h"
#include "engine/random.h"

namespace nkd::data {

std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> p(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  const uint64_t stream = (uint64_t(0x5A3D) << 48) ^ epoch;  // apart from the augmentation streams
  for (int64_t i = n - 1; i > 0; --i) {
    const double u = 1.0 - random_uniform(seed, stream, uint64_t(i));  // [0, 1)
    const int64_t j = std::min<int64_t>(int64_t(u * double(i + 1)), i);
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

DistributedSampler::DistributedSampler(int64_t dataset_size, SamplerOptions options)
    : size_(dataset_size), options_(options) {
  NKD_CHECK(dataset_size > 0, "DistributedSampler: empty dataset");
  NKD_CHECK(options.world >= 1 && options.rank >= 0 && options.rank < options.world,
            "DistributedSampler: rank ", options.rank, " of world ", options.world);
  num_samples_ = (size_ + options.world - 1) / options.world;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> order;
  if (options_.shuffle) {
    order = permutation(size_, options_.seed, uint64_t(epoch));
  } else {
    order.resize(size_t(size_));
    for (int64_t i = 0; i < size_; ++i) order[size_t(i)] = i;
  }
  const int64_t total = total_size();
  std::vector<int64_t> mine;
  mine.reserve(size_t(num_samples_));
  for (int64_t pos = options_.rank; pos < total; pos += options_.world)
    mine.push_back(order[size_t(pos % size_)]);
  return mine;
}

}  // namespace nkd::data
