// Mixup and CutMix on an F32 NCHW host batch.
#include <algorithm>
#include <cmath>

#include "data/batch_mix.h"
#include "engine/factory.h"

namespace nkd::data {
namespace {

std::vector<int64_t> random_permutation(int64_t n, SampleRng& rng) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(rng.randint(0, i))]);
  return p;
}

// Pastes the box [y0, y1) x [x0, x1) of each partner image into the batch.
void paste_boxes(float* x, const std::vector<int64_t>& perm, int64_t C, int64_t H, int64_t W,
                 int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  const int64_t N = int64_t(perm.size()), plane = H * W;
  std::vector<float> copy(x, x + N * C * plane);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = y0; y < y1; ++y) {
        const float* src = copy.data() + (perm[size_t(n)] * C + c) * plane + y * W;
        std::copy(src + x0, src + x1, x + (n * C + c) * plane + y * W + x0);
      }
}

}  // namespace

Tensor mix_batch(Tensor& images, const std::vector<int64_t>& labels, int64_t num_classes,
                 const MixOptions& o, SampleRng& rng) {
  NKD_CHECK(images.dtype() == DType::F32 && images.ndim() == 4 && images.is_contiguous() &&
                !images.is_cuda(),
            "mix_batch: expects a contiguous F32 NCHW host batch, got ", describe(images));
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  NKD_CHECK(int64_t(labels.size()) == N, "mix_batch: ", labels.size(), " labels for ", N, " images");
  const bool cutmix = rng.bernoulli(o.cutmix_prob);
  double lam = rng.beta(cutmix ? o.cutmix_alpha : o.mixup_alpha, cutmix ? o.cutmix_alpha : o.mixup_alpha);
  const std::vector<int64_t> perm = random_permutation(N, rng);
  float* x = images.data<float>();
  if (cutmix) {
    const double r = std::sqrt(1.0 - lam);
    const int64_t ch = int64_t(H * r), cw = int64_t(W * r);
    const int64_t cy = rng.randint(0, H - 1), cx = rng.randint(0, W - 1);
    const int64_t y0 = std::clamp<int64_t>(cy - ch / 2, 0, H), y1 = std::clamp<int64_t>(cy + ch / 2, 0, H);
    const int64_t x0 = std::clamp<int64_t>(cx - cw / 2, 0, W), x1 = std::clamp<int64_t>(cx + cw / 2, 0, W);
    paste_boxes(x, perm, C, H, W, y0, y1, x0, x1);
    lam = 1.0 - double((y1 - y0) * (x1 - x0)) / double(H * W);
  } else {
    const int64_t per = C * H * W;
    std::vector<float> copy(x, x + N * per);
    const float l = float(lam);
    for (int64_t n = 0; n < N; ++n) {
      const float* other = copy.data() + perm[size_t(n)] * per;
      float* own = x + n * per;
      for (int64_t i = 0; i < per; ++i) own[i] = l * own[i] + (1.0f - l) * other[i];
    }
  }
  Tensor soft = zeros({N, num_classes});
  float* s = soft.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t a = labels[size_t(n)], b = labels[size_t(perm[size_t(n)])];
    NKD_CHECK(a >= 0 && a < num_classes && b >= 0 && b < num_classes, "mix_batch: label out of range");
    s[n * num_classes + a] += float(lam);
    s[n * num_classes + b] += float(1.0 - lam);
  }
  return soft;
}

}  // namespace nkd::data
