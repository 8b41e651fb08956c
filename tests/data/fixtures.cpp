// Test fixtures: temp folders, synthetic images, PNG encoding through libpng, header patching.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <png.h>
#include <zlib.h>

#include "tests/data/fixtures.h"
#include "engine/check.h"

namespace nkd::data::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "nkd_data_XXXXXX").string();
  NKD_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
  path = tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

Image test_image(int width, int height, int channels, uint32_t seed) {
  Image im(width, height, channels);
  uint32_t s = seed * 2654435761u + 12345u;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        s = s * 1664525u + 1013904223u;
        const double fx = double(x) / width, fy = double(y) / height;
        const double v = 110 + 70 * std::sin(6.0 * fx + 2.0 * c + seed) * std::cos(4.0 * fy - c) +
                         50 * std::exp(-30 * ((fx - 0.4) * (fx - 0.4) + (fy - 0.6) * (fy - 0.6))) +
                         double(s >> 28) - 8;
        im.at(y, x, c) = uint8_t(std::clamp(v, 0.0, 255.0));
      }
  return im;
}

namespace {
void write_mem(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}
void flush_mem(png_structp) {}
}  // namespace

std::vector<uint8_t> encode_png(int width, int height, int color_type, int bit_depth,
                                const std::vector<uint8_t>& packed,
                                const std::vector<uint8_t>& palette_rgb,
                                const std::vector<uint8_t>& trns, bool interlace) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    NKD_FAIL("encode_png failed");
  }
  png_set_write_fn(png, &out, write_mem, flush_mem);
  png_set_IHDR(png, info, png_uint_32(width), png_uint_32(height), bit_depth, color_type,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> pal;
  for (size_t i = 0; i + 2 < palette_rgb.size(); i += 3) pal.push_back({palette_rgb[i], palette_rgb[i + 1], palette_rgb[i + 2]});
  if (!pal.empty()) png_set_PLTE(png, info, pal.data(), int(pal.size()));
  if (!trns.empty()) png_set_tRNS(png, info, trns.data(), int(trns.size()), nullptr);
  png_write_info(png, info);
  const size_t rowbytes = packed.size() / size_t(height);
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) rows[size_t(y)] = const_cast<uint8_t*>(packed.data()) + rowbytes * y;
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::vector<uint8_t> encode_png(const Image& im) {
  const int type = im.channels == 1 ? PNG_COLOR_TYPE_GRAY
                   : im.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
  return encode_png(im.width, im.height, type, 8, im.pixels);
}

void patch_jpeg_size(std::vector<uint8_t>& j, int width, int height) {
  for (size_t i = 2; i + 9 < j.size(); ++i) {
    if (j[i] == 0xFF && j[i + 1] >= 0xC0 && j[i + 1] <= 0xC2) {
      j[i + 5] = uint8_t(height >> 8); j[i + 6] = uint8_t(height);
      j[i + 7] = uint8_t(width >> 8); j[i + 8] = uint8_t(width);
      return;
    }
  }
  NKD_FAIL("patch_jpeg_size: no SOF marker");
}

void patch_png_size(std::vector<uint8_t>& p, int width, int height) {
  // IHDR data starts at byte 16 (8 signature + 4 length + 4 type); CRC over type + data at 29.
  const uint8_t be[8] = {uint8_t(width >> 24), uint8_t(width >> 16), uint8_t(width >> 8), uint8_t(width),
                         uint8_t(height >> 24), uint8_t(height >> 16), uint8_t(height >> 8), uint8_t(height)};
  std::memcpy(&p[16], be, 8);
  const uLong crc = crc32(0, &p[12], 17);
  p[29] = uint8_t(crc >> 24); p[30] = uint8_t(crc >> 16); p[31] = uint8_t(crc >> 8); p[32] = uint8_t(crc);
}

std::vector<uint8_t> with_exif_orientation(const std::vector<uint8_t>& jpeg, int orientation, bool be) {
  std::vector<uint8_t> tiff = be ? std::vector<uint8_t>{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
                                                        0, uint8_t(orientation), 0, 0, 0, 0, 0, 0}
                                 : std::vector<uint8_t>{'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                                                        uint8_t(orientation), 0, 0, 0, 0, 0, 0, 0};
  const size_t len = 2 + 6 + tiff.size();
  std::vector<uint8_t> out;
  out.reserve(jpeg.size() + len + 2);
  const int head[] = {0xFF, 0xD8, 0xFF, 0xE1, int(len >> 8), int(len & 0xFF), 'E', 'x', 'i', 'f', 0, 0};
  for (int b : head) out.push_back(uint8_t(b));
  for (uint8_t b : tiff) out.push_back(b);
  for (size_t i = 2; i < jpeg.size(); ++i) out.push_back(jpeg[i]);
  return out;
}

int max_abs_diff(const Image& a, const Image& b) {
  NKD_CHECK(a.width == b.width && a.height == b.height && a.channels == b.channels, "max_abs_diff: ",
            a.width, "x", a.height, "x", a.channels, " vs ", b.width, "x", b.height, "x", b.channels);
  int m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return m;
}

std::shared_ptr<IdxDataset> idx_28x28(TempDir& dir, int64_t n) {
  std::vector<uint8_t> px(static_cast<size_t>(n) * 28 * 28), lb(static_cast<size_t>(n));
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 2654435761u) >> 13);
  for (int64_t i = 0; i < n; ++i) lb[size_t(i)] = uint8_t(i % 10);
  write_idx(dir / "im", {n, 28, 28}, px.data());
  write_idx(dir / "lb", {n}, lb.data());
  return std::make_shared<IdxDataset>(dir / "im", dir / "lb");
}

}  // namespace nkd::data::testing
