// Pinned batch buffers (label gpu; skipped without a GPU): batches land in page-locked memory
// with the same contents as ordinary ones, survive an asynchronous copy to the GPU when the host
// batch is dropped at once (the buffer is recycled only after a synchronisation), a short last
// batch is a view of a full-size buffer, and the pool stays bounded over many batches.
#include <gtest/gtest.h>

#include "data/idx_dataset.h"
#include "data/loader.h"
#include "engine/cuda/device.h"
#include "engine/factory.h"
#include "tests/data/fixtures.h"

namespace nkd::data {
namespace {

class LoaderGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda::is_available()) GTEST_SKIP() << cuda::unavailable_reason();
  }
};

TEST_F(LoaderGpu, PinnedBatchesMatchAndCopyAsynchronously) {
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 203);  // 203 = 12 x 16 + 11: a short last batch
  for (Layout layout : {Layout::kNCHWFloat, Layout::kNHWCUint8}) {
    LoaderOptions o{.batch_size = 16, .workers = 3, .seed = 9, .layout = layout};
    LoaderOptions po = o, oo = o;
    po.pinned = Pinning::kOn;
    oo.pinned = Pinning::kOff;
    Loader pinned(ds, fashion_mnist_train(), po), plain(ds, fashion_mnist_train(), oo);
    EXPECT_TRUE(pinned.pinned());
    EXPECT_FALSE(plain.pinned());
    Loader automatic(ds, fashion_mnist_train(), o);
    EXPECT_TRUE(automatic.pinned());  // kAuto with a GPU
    for (int64_t e = 0; e < 3; ++e) {
      pinned.set_epoch(e);
      plain.set_epoch(e);
      std::vector<Tensor> on_gpu;
      std::vector<Batch> expect;
      while (auto b = pinned.next()) {
        auto q = plain.next();
        ASSERT_TRUE(q.has_value());
        ASSERT_TRUE(b->images.storage()->pinned());
        ASSERT_FALSE(q->images.storage()->pinned());
        ASSERT_TRUE(b->images.is_contiguous());
        EXPECT_EQ(b->images.shape(), q->images.shape());
        on_gpu.push_back(b->images.to(cuda_device(0)));  // async from pinned memory
        expect.push_back(std::move(*q));
        // b dies here: its buffer goes back to the pool while the copy may still be queued.
      }
      ASSERT_FALSE(plain.next().has_value());
      ASSERT_EQ(on_gpu.size(), 13u);
      EXPECT_EQ(on_gpu.back().size(0), 11);
      for (size_t i = 0; i < on_gpu.size(); ++i) {
        const Tensor back = on_gpu[i].to(kCPU);
        if (layout == Layout::kNCHWFloat) {
          ASSERT_EQ(to_vector<float>(back), to_vector<float>(expect[i].images)) << "epoch " << e << " batch " << i;
        } else {
          ASSERT_EQ(to_vector<uint8_t>(back), to_vector<uint8_t>(expect[i].images)) << "epoch " << e << " batch " << i;
        }
      }
    }
  }
}

TEST_F(LoaderGpu, BatchesOutliveTheLoader) {
  testing::TempDir dir;
  auto ds = testing::idx_28x28(dir, 40);
  std::optional<Batch> kept;
  {
    Loader loader(ds, fashion_mnist_test(), {.batch_size = 8, .workers = 2, .shuffle = false, .pinned = Pinning::kOn});
    loader.set_epoch(0);
    kept = loader.next();
    (void)loader.next();
  }
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(kept->images.storage()->pinned());
  const Tensor g = kept->images.to(cuda_device(0));
  EXPECT_EQ(to_vector<float>(g.to(kCPU)), to_vector<float>(kept->images));
}

}  // namespace
}  // namespace nkd::data
