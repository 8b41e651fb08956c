// DistributedSampler: permutations, per-epoch seeding, and mmcls's rank/world sharding with
// round-up padding (hand-computed cases).
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "data/sampler.h"
#include "engine/check.h"

namespace nkd::data {
namespace {

TEST(Sampler, PermutationIsSeededPerEpoch) {
  const auto a = permutation(1000, 7, 0), b = permutation(1000, 7, 0), c = permutation(1000, 7, 1),
             d = permutation(1000, 8, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[size_t(i)], i);
  int fixed = 0;  // a uniform permutation has about one fixed point
  for (int64_t i = 0; i < 1000; ++i) fixed += a[size_t(i)] == i;
  EXPECT_LT(fixed, 8);
}

TEST(Sampler, UnshuffledShardsAreHandComputed) {
  // size 10, world 4: 3 per rank, total 12, positions 10, 11 wrap to 0, 1.
  const std::vector<std::vector<int64_t>> expect = {{0, 4, 8}, {1, 5, 9}, {2, 6, 0}, {3, 7, 1}};
  for (int r = 0; r < 4; ++r) {
    DistributedSampler s(10, {.shuffle = false, .seed = 0, .rank = r, .world = 4});
    EXPECT_EQ(s.num_samples(), 3);
    EXPECT_EQ(s.total_size(), 12);
    EXPECT_EQ(s.indices(5), expect[size_t(r)]) << "rank " << r;
  }
}

TEST(Sampler, ShuffledShardsPartitionThePaddedPermutation) {
  const int64_t n = 103;
  const int world = 4;
  const auto perm = permutation(n, 3, 2);
  std::multiset<int64_t> all;
  for (int r = 0; r < world; ++r) {
    DistributedSampler s(n, {.shuffle = true, .seed = 3, .rank = r, .world = world});
    const auto idx = s.indices(2);
    ASSERT_EQ(int64_t(idx.size()), 26);
    for (size_t k = 0; k < idx.size(); ++k) EXPECT_EQ(idx[k], perm[(r + k * world) % n]);
    all.insert(idx.begin(), idx.end());
  }
  EXPECT_EQ(all.size(), 104u);
  for (int64_t i = 0; i < n; ++i) EXPECT_GE(all.count(i), 1u);
  EXPECT_EQ(all.count(perm[0]), 2u);  // the one padded sample is the first of the permutation
  DistributedSampler s0(n, {.shuffle = true, .seed = 3, .rank = 0, .world = world});
  EXPECT_NE(s0.indices(2), s0.indices(3));
  EXPECT_THROW(DistributedSampler(n, {.rank = 4, .world = 4}), nkd::Error);
}

}  // namespace
}  // namespace nkd::data
