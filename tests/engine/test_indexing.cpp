// The index arithmetic the strided kernels share with the GPU (engine/ops/indexing.h), run on the
// CPU: FastDivmod against plain division, coalesce_copy's merged dims and CopyIndex32's offsets
// against the unmerged 64-bit StridedIndex, over permuted, sliced and broadcast layouts; and the
// GPU's index_select backward (IndexAddScanKernel) bit for bit against the CPU's column walk.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/cpu/parallel.h"
#include "engine/factory.h"
#include "engine/ops/detail/indexing.h"
#include "engine/ops/detail/shape_math.h"

namespace nkd::ops {
namespace {

TEST(FastDivmod, EqualsDivisionForEveryDivisorClass) {
  std::vector<uint32_t> divisors = {1, 2, 3, 5, 7, 10, 49, 56, 96, 224, 3136, 65535, 65536, 65537,
                                    (1u << 20) + 1, 1u << 30, (1u << 31) - 1};
  uint64_t state = 12345;
  const auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);  // 31 bits
  };
  for (int i = 0; i < 200; ++i) divisors.push_back(1 + next() % ((1u << 31) - 1));
  for (int i = 0; i < 200; ++i) divisors.push_back(1 + next() % 4096);
  for (const uint32_t d : divisors) {
    const FastDivmod f(d);
    std::vector<uint32_t> numerators = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, (1u << 31) - 1,
                                        (1u << 31) - 2, (1u << 31) - d};
    for (int i = 0; i < 300; ++i) numerators.push_back(next());
    for (const uint32_t n : numerators) {
      if (n >= (1u << 31)) continue;
      ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
    }
  }
}

// Every element's offsets through coalesce_copy + CopyIndex32 (and the merged StridedIndex) equal
// those of the full, unmerged layouts.
void expect_same_offsets(const Shape& shape, const Strides& dst, const Strides& src, int expect_dims) {
  StridedIndex full_dst, full_src;
  full_dst.ndim = full_src.ndim = static_cast<int>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    full_dst.size[d] = full_src.size[d] = shape[d];
    full_dst.stride[d] = dst[d];
    full_src.stride[d] = src[d];
  }
  const CopyDims c = coalesce_copy(shape, dst, src, "test");
  EXPECT_EQ(c.dst.ndim, expect_dims) << to_string(shape);
  const CopyIndex32 idx(c);
  for (int64_t i = 0; i < numel(shape); ++i) {
    int64_t d = -1, s = -1;
    idx.offsets(static_cast<uint32_t>(i), d, s);
    ASSERT_EQ(d, full_dst.offset(i)) << to_string(shape) << " element " << i;
    ASSERT_EQ(s, full_src.offset(i)) << to_string(shape) << " element " << i;
    ASSERT_EQ(c.dst.offset(i), d);
    ASSERT_EQ(c.src.offset(i), s);
  }
}

TEST(CopyIndex, MergedDimsGiveTheSameOffsets) {
  // Contiguous to contiguous: one dim.
  expect_same_offsets({2, 3, 4, 5}, {60, 20, 5, 1}, {60, 20, 5, 1}, 1);
  // A permuted source ([B, H, W, C] read from [B, C, H, W]): H and W merge, 3 dims.
  expect_same_offsets({2, 5, 6, 3}, {90, 18, 3, 1}, {90, 6, 1, 30}, 3);
  // Swin's window partition: [B, H/w, w, W/w, w, C] -> [B, H/w, W/w, w, w, C] (B and H/w merge,
  // and the last w with C).
  expect_same_offsets({2, 2, 2, 3, 3, 4}, {144, 72, 36, 12, 4, 1}, {144, 72, 12, 24, 4, 1}, 4);
  // A narrowed source (every row a slice) and size-1 dims.
  expect_same_offsets({3, 1, 4, 1}, {4, 4, 1, 1}, {10, 10, 2, 7}, 2);
  // A broadcast source (stride 0) along the rows.
  expect_same_offsets({5, 7}, {7, 1}, {0, 1}, 2);
  // One element, and a scalar.
  expect_same_offsets({1, 1}, {1, 1}, {1, 1}, 1);
  expect_same_offsets({}, {}, {}, 1);
  // Negative strides are kept as they are.
  expect_same_offsets({4, 3}, {3, 1}, {-3, 1}, 2);
}

TEST(CopyIndex, PermutedCopiesMatchElementByElement) {
  // The same through the public ops: permuted, sliced and broadcast sources copied contiguous.
  Generator gen(3);
  const Tensor x = randn({2, 3, 4, 5}, gen);
  const Tensor p = x.permute({0, 2, 3, 1}).contiguous();
  const std::vector<float> xv = to_vector<float>(x), pv = to_vector<float>(p);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 5; ++w)
          ASSERT_EQ(pv[static_cast<size_t>(((b * 4 + h) * 5 + w) * 3 + c)],
                    xv[static_cast<size_t>(((b * 3 + c) * 4 + h) * 5 + w)]);
}

// Swin's relative position bias backward shape ([169, heads] gathered by 2401 indices) and a
// small one with outer > 1, unused rows and repeated indices.
TEST(IndexAddScan, EqualsTheColumnWalkBitForBit) {
  Generator gen(9);
  for (const math::SelectGeometry geo : {math::SelectGeometry{1, 169, 2401, 3},
                                         math::SelectGeometry{2, 7, 20, 5}}) {
    const Tensor g = randn({geo.outer, geo.j, geo.inner}, gen);
    std::vector<int64_t> index(static_cast<size_t>(geo.j));
    for (int64_t j = 0; j < geo.j; ++j) index[static_cast<size_t>(j)] = (j * 37 + j / 5) % (geo.d - 1);
    const Tensor walk = zeros({geo.outer, geo.d, geo.inner}), scan = full({geo.outer, geo.d, geo.inner}, 7.0);
    cpu::launch(geo.outer * geo.inner, math::IndexAddKernel<float>{geo, g.data<float>(), index.data(), walk.data<float>()});
    cpu::launch(scan.numel(), math::IndexAddScanKernel<float>{geo, g.data<float>(), index.data(), scan.data<float>()});
    const std::vector<float> a = to_vector<float>(walk), b = to_vector<float>(scan);
    for (size_t e = 0; e < a.size(); ++e) ASSERT_EQ(std::memcmp(&a[e], &b[e], sizeof(float)), 0) << e;
    EXPECT_EQ(b.back(), 0.0f) << "row D - 1 is never indexed";
  }
}

}  // namespace
}  // namespace nkd::ops
