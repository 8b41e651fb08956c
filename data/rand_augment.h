// RandAugment as the Swin/DeiT recipe uses it (NKD_SPEC.md 5.1; timm "rand-m9-mstd0.5-inc1", which
// mmcls's rand_increasing_policies reproduce): `num_ops` ops drawn with replacement from the
// 15-op "increasing" list, each applied with probability `prob` at magnitude N(9, 0.5) clipped to
// [0, 10] and mapped as timm's level functions do (with a random sign for the signed ops).
// The ops reproduce Pillow 9.4 arithmetic (ImageOps, ImageEnhance, Image.transform/rotate with
// BICUBIC and a fill colour) on uint8 HWC images with 1 or 3 channels. Every draw comes from the
// sample's counter-based SampleRng, so the result does not depend on threads.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/image.h"
#include "data/sample_rng.h"

namespace nkd::data {

enum class RaOp {
  kAutoContrast, kEqualize, kInvert, kRotate, kPosterize, kSolarize, kSolarizeAdd, kColor,
  kContrast, kBrightness, kSharpness, kShearX, kShearY, kTranslateX, kTranslateY,
};
inline constexpr int kRaOpCount = 15;
const char* ra_op_name(RaOp op);

struct RandAugmentOptions {
  int num_ops = 2;
  double magnitude = 9.0, magnitude_std = 0.5, magnitude_max = 10.0;
  double prob = 0.5;
  double translate_pct = 0.45;
  std::array<uint8_t, 3> fill{124, 116, 104};  // the rounded ImageNet mean (RGB)
};

// One drawn op: `applied` false when its coin said no (then magnitude/arg are 0).
struct RaStep {
  RaOp op = RaOp::kAutoContrast;
  bool applied = false;
  double magnitude = 0.0;  // level in [0, magnitude_max]
  double arg = 0.0;        // the op's argument (degrees, bits, threshold, factor, shear, pixels)
};

// timm's level -> argument for op at `level` (negate: the random sign, for the signed ops).
// Rotate: +-level/10*30 deg; Posterize: 4 - int(level/10*4); Solarize: 256 - int(level/10*256);
// SolarizeAdd: min(128, int(level/10*110)); enhance: max(0.1, 1 +- level/10*0.9);
// Shear: +-level/10*0.3; Translate: +-level/10*translate_pct (fraction of the size).
double ra_level_to_arg(RaOp op, double level, bool negate, const RandAugmentOptions& o = {});
// Applies one op with its argument (translate args are fractions of the width/height).
void ra_apply(Image& image, RaOp op, double arg, const RandAugmentOptions& o = {});

// The policy: draws the ops, then for each the coin, magnitude and sign, and applies it.
std::vector<RaStep> rand_augment(Image& image, SampleRng& rng, const RandAugmentOptions& o = {});
void rand_augment(uint8_t* hwc, int width, int height, int channels, SampleRng& rng,
                  const RandAugmentOptions& o = {});

// --- the ops (Pillow 9.4 semantics) ---
void auto_contrast(Image& im);  // ImageOps.autocontrast(cutoff 0), per band
void equalize(Image& im);       // ImageOps.equalize, per band
void invert(Image& im);
void posterize(Image& im, int bits);            // keeps the top `bits` bits (0: all zero)
void solarize(Image& im, int threshold);        // v < thr ? v : 255 - v
void solarize_add(Image& im, int add, int threshold = 128);  // v < thr ? min(255, v + add) : v
// ImageEnhance: Image.blend(degenerate, image, factor) with a float factor.
void enhance_color(Image& im, double factor);       // degenerate = L (ITU-R 601-2) as RGB
void enhance_contrast(Image& im, double factor);    // degenerate = int(mean of L + 0.5)
void enhance_brightness(Image& im, double factor);  // degenerate = black
void enhance_sharpness(Image& im, double factor);   // degenerate = ImageFilter.SMOOTH
// Image.transform(size, AFFINE, m, BICUBIC, fillcolor): out(x, y) samples the input at
// (m0 (x+.5) + m1 (y+.5) + m2, m3 (x+.5) + m4 (y+.5) + m5); outside the input -> fill.
void affine_bicubic(Image& im, const std::array<double, 6>& m, const std::array<uint8_t, 3>& fill);
// Image.rotate(degrees, BICUBIC, fillcolor): counter-clockwise about the centre, same size
// (0, 180 and, for square images, 90/270 are exact transposes as in Pillow).
void rotate(Image& im, double degrees, const std::array<uint8_t, 3>& fill);

}  // namespace nkd::data
