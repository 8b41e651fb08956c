// Batch-level Mixup / CutMix with soft labels (mmcls master RandomBatchAugment: one of the two per
// batch, each with probability 0.5). Works on a normalised F32 NCHW batch: mixing commutes with
// the per-channel affine normalisation, so mixing after it equals mixing before.
#pragma once
#include <cstdint>
#include <vector>

#include "data/sample_rng.h"
#include "engine/tensor.h"

namespace nkd::data {

struct MixOptions {
  double mixup_alpha = 0.8, cutmix_alpha = 1.0;
  double cutmix_prob = 0.5;  // probability that a batch uses CutMix rather than Mixup
};

// Mixup: lam ~ Beta(a, a), partner = a random permutation; x = lam x + (1 - lam) x[perm].
// CutMix: box side sqrt(1 - lam) * size, centre uniform, clipped; lam = 1 - box area / image area.
// Returns soft labels F32 [N, num_classes] = lam onehot(y) + (1 - lam) onehot(y[perm]).
Tensor mix_batch(Tensor& images, const std::vector<int64_t>& labels, int64_t num_classes,
                 const MixOptions& options, SampleRng& rng);

}  // namespace nkd::data
