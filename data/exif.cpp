// EXIF orientation: reading tag 0x0112 from a JPEG APP1 segment (bounds-checked TIFF walk) and
// applying it to pixels with the same mapping as PIL's ImageOps.exif_transpose.
#include <cstring>

#include "data/decode.h"

namespace nkd::data {

int exif_orientation(const uint8_t* app1, size_t size) {
  if (size < 14 || std::memcmp(app1, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* t = app1 + 6;  // TIFF header
  const size_t n = size - 6;
  const bool le = t[0] == 'I' && t[1] == 'I';
  if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
  auto u16 = [&](size_t o) -> uint32_t { return le ? t[o] | (t[o + 1] << 8) : (t[o] << 8) | t[o + 1]; };
  auto u32 = [&](size_t o) -> uint32_t { return le ? u16(o) | (u16(o + 2) << 16) : (u16(o) << 16) | u16(o + 2); };
  const size_t ifd = u32(4);
  if (ifd + 2 > n) return 1;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > n) return 1;
    if (u16(e) == 0x0112 && u16(e + 2) == 3) {
      const uint32_t v = u16(e + 8);
      return v >= 1 && v <= 8 ? int(v) : 1;
    }
  }
  return 1;
}

void apply_orientation(Image& image, int orientation) {
  if (orientation < 2 || orientation > 8) return;
  const int W = image.width, H = image.height, C = image.channels;
  const bool swap = orientation >= 5;
  Image out(swap ? H : W, swap ? W : H, C);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = W - 1 - x; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        default: sx = W - 1 - y; sy = x; break;  // 8
      }
      std::memcpy(&out.at(y, x, 0), &image.at(sy, sx, 0), size_t(C));
    }
  }
  image = std::move(out);
}

}  // namespace nkd::data
