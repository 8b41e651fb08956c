// Loader: epoch coverage, labels, fused normalisation, determinism across thread counts,
// epochs that differ, the U8 NHWC layout, drop_last, Mixup soft labels, early shutdown and the
// pinned-memory option without a GPU (tests/data/test_loader_gpu.cpp covers it with one).
#include <set>

#include <gtest/gtest.h>

#include "data/idx_dataset.h"
#include "data/loader.h"
#include "engine/cuda/device.h"
#include "engine/factory.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

std::vector<Batch> epoch(Loader& loader, int64_t e) {
  loader.set_epoch(e);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

TEST(Loader, TestPipelineCoversTheEpochWithNormalisedPixels) {
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 37);
  Loader loader(ds, fashion_mnist_test(), {.batch_size = 8, .workers = 3, .shuffle = false});
  const auto batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches.back().images.size(0), 5);
  std::set<int64_t> seen;
  for (const Batch& b : batches) {
    ASSERT_EQ(b.images.shape(), (Shape{b.images.size(0), 1, 28, 28}));
    const auto px = to_vector<float>(b.images);
    const auto lb = to_vector<int64_t>(b.labels);
    for (int64_t i = 0; i < b.images.size(0); ++i) {
      const int64_t idx = b.indices[size_t(i)];
      seen.insert(idx);
      EXPECT_EQ(lb[size_t(i)], idx % 10);
      for (int p : {0, 100, 783}) {
        const float expect = (ds->image(idx)[p] / 255.0f - 0.2860f) / 0.3530f;
        EXPECT_NEAR(px[size_t(i * 784 + p)], expect, 1e-5f);
      }
    }
  }
  EXPECT_EQ(seen.size(), 37u);
  EXPECT_EQ(loader.stats().samples, 37);
  EXPECT_EQ(loader.summary(), "epoch 0: 5 batches, 37 samples, 0 bad files skipped");
}

TEST(Loader, SameBatchesWhateverTheThreadCount) {
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 50);
  Loader one(ds, fashion_mnist_train(), {.batch_size = 16, .workers = 1, .seed = 11});
  Loader four(ds, fashion_mnist_train(), {.batch_size = 16, .workers = 4, .prefetch = 2, .seed = 11});
  for (int64_t e : {0, 1}) {
    const auto a = epoch(one, e), b = epoch(four, e);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].indices, b[i].indices);
      EXPECT_EQ(to_vector<float>(a[i].images), to_vector<float>(b[i].images)) << "epoch " << e;
    }
  }
  const auto e0 = epoch(one, 0), e1 = epoch(one, 1);
  EXPECT_NE(e0[0].indices, e1[0].indices);
  // Augmentation is random: the same sample in two epochs is (almost surely) cropped differently.
  Loader fixed(ds, fashion_mnist_train(), {.batch_size = 50, .workers = 2, .shuffle = false, .seed = 11});
  EXPECT_NE(to_vector<float>(epoch(fixed, 0)[0].images), to_vector<float>(epoch(fixed, 1)[0].images));
}

TEST(Loader, Uint8LayoutDropLastAndDistributedShards) {
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 21);
  Loader loader(ds, fashion_mnist_test(),
                {.batch_size = 4, .workers = 2, .shuffle = false, .drop_last = true, .rank = 1,
                 .world = 2, .layout = Layout::kNHWCUint8});
  EXPECT_EQ(loader.samples_per_epoch(), 11);
  const auto batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].images.dtype(), DType::U8);
  EXPECT_EQ(batches[0].images.shape(), (Shape{4, 28, 28, 1}));
  EXPECT_EQ(batches[0].indices, (std::vector<int64_t>{1, 3, 5, 7}));
  const auto px = to_vector<uint8_t>(batches[1].images);
  EXPECT_EQ(px[300], ds->image(9)[300]);
}

TEST(Loader, MixupGivesSoftLabels) {
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 16);
  Loader loader(ds, fashion_mnist_train(), {.batch_size = 8, .workers = 2, .mix = MixOptions{}});
  const auto batches = epoch(loader, 0);
  ASSERT_TRUE(batches[0].soft_labels.defined());
  EXPECT_EQ(batches[0].soft_labels.shape(), (Shape{8, 10}));
  const auto s = to_vector<float>(batches[0].soft_labels);
  for (int r = 0; r < 8; ++r) {
    float sum = 0;
    for (int c = 0; c < 10; ++c) sum += s[size_t(r * 10 + c)];
    EXPECT_NEAR(sum, 1.0f, 1e-5f);
  }
}

TEST(Loader, StoppingEarlyDoesNotHang) {
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 200);
  for (int rep = 0; rep < 5; ++rep) {
    Loader loader(ds, fashion_mnist_train(), {.batch_size = 4, .workers = 4, .prefetch = 3});
    loader.set_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
    if (rep % 2 == 0) loader.stop();
    EXPECT_FALSE(rep % 2 == 0 && loader.next().has_value());
  }  // destructors join the workers
  Loader never_started(ds, fashion_mnist_train(), {.batch_size = 4});
}

TEST(Loader, PinnedMemoryFallsBackWithoutAGpu) {
  if (cuda::is_available()) GTEST_SKIP() << "a GPU is present: test_data_gpu covers pinned batches";
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 20);
  Loader automatic(ds, fashion_mnist_test(), {.batch_size = 8, .workers = 1, .shuffle = false});
  EXPECT_FALSE(automatic.pinned());
  automatic.set_epoch(0);
  const auto b = automatic.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->images.storage()->pinned());
  EXPECT_THROW(Loader(ds, fashion_mnist_test(), {.batch_size = 8, .workers = 1, .pinned = Pinning::kOn}), Error);
}

}  // namespace
}  // namespace nkd::data
