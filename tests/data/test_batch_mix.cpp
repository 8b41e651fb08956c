// Mixup / CutMix: with constant images (image n filled with n) the mixed pixels reveal lam and the
// partner, which must agree with the soft labels.
#include <gtest/gtest.h>

#include "data/batch_mix.h"
#include "engine/factory.h"

namespace nkd::data {
namespace {

TEST(BatchMix, MixupAndCutMixAgreeWithTheirSoftLabels) {
  const int64_t N = 6, C = 2, H = 10, W = 12, K = 6;
  int cutmix_seen = 0, mixup_seen = 0;
  for (uint64_t b = 0; b < 40; ++b) {
    std::vector<float> px(size_t(N * C * H * W));
    for (int64_t n = 0; n < N; ++n) std::fill_n(px.begin() + n * C * H * W, C * H * W, float(n));
    Tensor images = from_vector(px, {N, C, H, W});
    std::vector<int64_t> labels(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) labels[size_t(n)] = n;
    SampleRng rng = SampleRng::for_batch(3, 0, b);
    const Tensor soft = mix_batch(images, labels, K, {}, rng);
    const auto s = to_vector<float>(soft);
    const auto x = to_vector<float>(images);
    for (int64_t n = 0; n < N; ++n) {
      const float* row = &s[size_t(n * K)];
      float lam = row[n];
      int64_t partner = n;
      for (int64_t k = 0; k < K; ++k)
        if (k != n && row[k] > 0) partner = k;
      if (partner == n) continue;  // paired with itself: nothing to check against
      const float* img = &x[size_t(n * C * H * W)];
      bool is_cut = true;
      int64_t partner_px = 0;
      for (int64_t i = 0; i < C * H * W; ++i) {
        if (img[i] == float(partner)) ++partner_px;
        else if (img[i] != float(n)) is_cut = false;
      }
      if (is_cut && partner_px > 0) {
        ++cutmix_seen;
        EXPECT_NEAR(1.0 - double(partner_px) / double(C * H * W), lam, 1e-6);
      } else {
        ++mixup_seen;
        EXPECT_NEAR(img[0], lam * n + (1 - lam) * partner, 1e-4);
      }
      EXPECT_NEAR(row[n] + row[partner], 1.0f, 1e-6f);
    }
  }
  EXPECT_GT(cutmix_seen, 10);
  EXPECT_GT(mixup_seen, 10);
}

}  // namespace
}  // namespace nkd::data
