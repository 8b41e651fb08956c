// EXIF orientation: reading tag 0x0112 from a JPEG APP1 segment (bounds-checked TIFF walk) and
// applying it to pixels with the same mapping as PIL's ImageOps.exif_transpose.
#include <cstddef>
#include <cstring>
#include <utility>

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
  // Source pixel of output (x, y): sx = ax x + bx y + cx, sy = ay x + by y + cy.
  int ax = 1, bx = 0, cx = 0, ay = 0, by = 1, cy = 0;
  switch (orientation) {
    case 2: ax = -1; cx = W - 1; break;
    case 3: ax = -1; cx = W - 1; by = -1; cy = H - 1; break;
    case 4: by = -1; cy = H - 1; break;
    case 5: ax = 0; bx = 1; ay = 1; by = 0; break;
    case 6: ax = 0; bx = 1; ay = -1; by = 0; cy = H - 1; break;
    case 7: ax = 0; bx = -1; cx = W - 1; ay = -1; by = 0; cy = H - 1; break;
    default: ax = 0; bx = -1; cx = W - 1; ay = 1; by = 0; break;  // 8
  }
  const ptrdiff_t step = ptrdiff_t(ay * W + ax) * C;  // per output x
  const ptrdiff_t row_step = ptrdiff_t(by * W + bx) * C;
  const uint8_t* base = image.pixels.data() + ptrdiff_t(cy * W + cx) * C;
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = base + row_step * y;
    uint8_t* dst = out.row(y);
    if (C == 3) {
      for (int x = 0; x < out.width; ++x, src += step, dst += 3) {
        dst[0] = src[0];
        dst[1] = src[1];
        dst[2] = src[2];
      }
    } else {
      for (int x = 0; x < out.width; ++x, src += step, dst += C) std::memcpy(dst, src, size_t(C));
    }
  }
  image = std::move(out);
}

}  // namespace nkd::data
