// Geometric transforms with torchvision / mmcls semantics (NKD_SPEC.md 5.1): RandomResizedCrop
// parameters, short-side resize size, centre-crop offsets (Python's round-half-even), flips, pad +
// random crop, and mapping a full-image crop onto a (possibly scaled, partial) decoded image.
#pragma once
#include <utility>
#include <vector>

#include "data/decode.h"
#include "data/resample.h"
#include "data/sample_rng.h"

namespace nkd::data {

struct RandomResizedCropOptions {
  double scale_lo = 0.08, scale_hi = 1.0;
  double ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
  int attempts = 10;
};
// torchvision RandomResizedCrop.get_params: area ~ U(scale) * W*H, log-uniform ratio,
// w = round(sqrt(A r)), h = round(sqrt(A / r)), accepted if 0 < w <= W and 0 < h <= H, offsets
// uniform inclusive; after `attempts` failures the centre crop clamped to the ratio range.
Rect random_resized_crop_params(int width, int height, SampleRng& rng,
                                const RandomResizedCropOptions& options = {});

// torchvision Resize(size) on the short side: (new_w, new_h); long = int(size * long / short).
std::pair<int, int> short_side_size(int width, int height, int size);
// torchvision/mmcls CenterCrop offsets: top = round((H - h) / 2) with Python's round.
Rect center_crop_rect(int width, int height, int crop_w, int crop_h);

double round_half_even(double x);
void hflip(uint8_t* hwc, int width, int height, int channels);

// The view and box of `decoded` that hold the full-image rectangle `r` (exact when scale == 1).
std::pair<ImageView, Box> locate(const Decoded& decoded, Rect r);

// mmcls RandomErasing (mode "rand"): with probability `prob`, a box of area U(min, max) x H x W and
// log-uniform aspect in [aspect_lo, aspect_hi] (h = min(round(sqrt(A r)), H), w likewise with A / r;
// offsets uniform, exclusive upper bound as np.random.randint) is filled with per-pixel normal
// noise N(mean, std) truncated to int and clipped to 0-255; no std: uniform [0, 256).
struct RandomErasingOptions {
  double prob = 0.25, min_area = 0.02, max_area = 1.0 / 3.0;
  double aspect_lo = 0.3, aspect_hi = 1.0 / 0.3;
  std::vector<float> mean, std;  // per channel, 0-255 units
};
// Returns the erased box (empty when the coin said no).
Rect random_erasing(uint8_t* hwc, int width, int height, int channels, SampleRng& rng,
                    const RandomErasingOptions& options);

// Converts between 1 and 3 channels in place: gray -> RGB replicates, RGB -> gray uses PIL's
// ITU-R 601-2 luma L = (R*299 + G*587 + B*114) / 1000 (rounded as PIL's L24 does).
void convert_channels(Image& image, int channels);

}  // namespace nkd::data
