// libFuzzer target for the image decoders (JPEG through libjpeg-turbo with our crop/EXIF/DCT-scale
// logic, PNG through libpng), the readers of untrusted files in every training run, driven as a
// pipeline drives them (SampleDecoder: header, then a planned window and scale). The first two
// input bytes pick the options (EXIF orientation, partial decoding, DCT scaling, CMYK formula) and a
// crop window as fractions of the image; the rest is the file. Decoding may throw nkd::Error
// (DecodeError) on malformed input; anything else (a crash, a sanitizer report, another exception)
// is a finding. The pixel limit is kept small so a huge declared size is refused, not allocated.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/sample_decoder.h"
#include "engine/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0], window = data[1];
  nkd::data::DecodeOptions o;
  o.max_pixels = 1 << 22;
  o.exif_orientation = flags & 1;
  o.cmyk = flags & 8 ? nkd::data::CmykToRgb::kOpenCv : nkd::data::CmykToRgb::kPillow;
  nkd::data::DecodeShortcuts shortcuts;
  shortcuts.partial = flags & 2;
  shortcuts.dct_scaling = flags & 4;
  const bool crop = flags & 16;
  try {
    nkd::data::SampleDecoder source({std::vector<uint8_t>(data + 2, data + size)}, o, shortcuts);
    const int w = source.width(), h = source.height();
    nkd::data::DecodePlan p;
    if (crop) {
      // A window from the low/high nibbles of `window`: origin and size in sixteenths of the image.
      const int x = w * (window & 15) / 16, y = h * (window >> 4) / 16;
      p.crop = {x, y, std::max(1, (w - x) / 2), std::max(1, (h - y) / 2)};
      p.out_w = std::max(1, p.crop.w / (1 + (flags >> 5)));
      p.out_h = std::max(1, p.crop.h / (1 + (flags >> 5)));
    }
    (void)source.decode(p);
  } catch (const nkd::Error&) {
  }
  return 0;
}
