// The RandAugment policy: timm's RandAugment with the "increasing" op list and level functions.
#include <algorithm>
#include <cstring>

#include "data/rand_augment.h"
#include "engine/check.h"

namespace nkd::data {

const char* ra_op_name(RaOp op) {
  static const char* const names[kRaOpCount] = {
      "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
      "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY"};
  return names[int(op)];
}

double ra_level_to_arg(RaOp op, double level, bool negate, const RandAugmentOptions& o) {
  const double f = level / 10.0;  // timm's _LEVEL_DENOM
  const double s = negate ? -1.0 : 1.0;
  switch (op) {
    case RaOp::kRotate: return s * f * 30.0;
    case RaOp::kPosterize: return 4 - int(f * 4);
    case RaOp::kSolarize: return 256 - int(f * 256);
    case RaOp::kSolarizeAdd: return std::min(128, int(f * 110));
    case RaOp::kColor:
    case RaOp::kContrast:
    case RaOp::kBrightness:
    case RaOp::kSharpness: return std::max(0.1, 1.0 + s * f * 0.9);
    case RaOp::kShearX:
    case RaOp::kShearY: return s * f * 0.3;
    case RaOp::kTranslateX:
    case RaOp::kTranslateY: return s * f * o.translate_pct;
    default: return 0.0;
  }
}

void ra_apply(Image& im, RaOp op, double arg, const RandAugmentOptions& o) {
  switch (op) {
    case RaOp::kAutoContrast: return auto_contrast(im);
    case RaOp::kEqualize: return equalize(im);
    case RaOp::kInvert: return invert(im);
    case RaOp::kRotate: return rotate(im, arg, o.fill);
    case RaOp::kPosterize: return posterize(im, int(arg));
    case RaOp::kSolarize: return solarize(im, int(arg));
    case RaOp::kSolarizeAdd: return solarize_add(im, int(arg), 128);
    case RaOp::kColor: return enhance_color(im, arg);
    case RaOp::kContrast: return enhance_contrast(im, arg);
    case RaOp::kBrightness: return enhance_brightness(im, arg);
    case RaOp::kSharpness: return enhance_sharpness(im, arg);
    case RaOp::kShearX: return affine_bicubic(im, {1, arg, 0, 0, 1, 0}, o.fill);
    case RaOp::kShearY: return affine_bicubic(im, {1, 0, 0, arg, 1, 0}, o.fill);
    case RaOp::kTranslateX: return affine_bicubic(im, {1, 0, arg * im.width, 0, 1, 0}, o.fill);
    case RaOp::kTranslateY: return affine_bicubic(im, {1, 0, 0, 0, 1, arg * im.height}, o.fill);
  }
}

std::vector<RaStep> rand_augment(Image& image, SampleRng& rng, const RandAugmentOptions& o) {
  std::vector<RaStep> steps(std::max(0, o.num_ops));
  for (RaStep& s : steps) s.op = RaOp(rng.randint(0, kRaOpCount - 1));  // with replacement
  for (RaStep& s : steps) {
    if (!rng.bernoulli(o.prob)) continue;
    s.applied = true;
    double m = o.magnitude;
    if (o.magnitude_std > 0) m += o.magnitude_std * rng.normal();
    s.magnitude = std::clamp(m, 0.0, o.magnitude_max);
    const bool negate = rng.uniform() > 0.5;  // timm _randomly_negate
    s.arg = ra_level_to_arg(s.op, s.magnitude, negate, o);
    ra_apply(image, s.op, s.arg, o);
  }
  return steps;
}

void rand_augment(uint8_t* hwc, int width, int height, int channels, SampleRng& rng,
                  const RandAugmentOptions& o) {
  Image im(width, height, channels);
  std::memcpy(im.pixels.data(), hwc, im.pixels.size());
  rand_augment(im, rng, o);
  NKD_CHECK(im.width == width && im.height == height, "rand_augment changed the size");
  std::memcpy(hwc, im.pixels.data(), im.pixels.size());
}

}  // namespace nkd::data
