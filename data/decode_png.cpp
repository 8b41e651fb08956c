// PNG decoding with libpng (classic API, errors longjmp back to the reader's method that called
// libpng and become DecodeError). open_png reads the header; decode reads every row (PNG has no
// partial decoding) and keeps the window. Every PNG becomes 8-bit RGB: palette and gray are expanded, 16-bit samples are scaled
// (png_set_scale_16: v * 255 / 65535, rounded; not clipped as PIL's mode "I" is), alpha is dropped.
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <png.h>

#include "data/decode.h"

namespace nkd::data {
namespace {

struct Source {
  const uint8_t* data;
  size_t size, pos;
  char message[256];
};

void on_error(png_structp png, png_const_charp msg) {
  auto* src = static_cast<Source*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof(src->message), "%s", msg);
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<Source*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "truncated file (premature end of data)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

struct Session {
  png_structp png = nullptr;
  png_infop info = nullptr;
  Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

struct Work {
  std::vector<uint8_t> pixels;  // as libpng delivers them (3 or 4 channels)
  std::vector<png_bytep> rows;
};

// The libpng calls of open_png; trivially destructible locals only (a longjmp may skip this frame).
void read_header(Session& s, const DecodeOptions& options) {
  png_set_read_fn(s.png, png_get_error_ptr(s.png), on_read);
  png_set_user_limits(s.png, 0x7fffffff, 0x7fffffff);
  png_read_info(s.png, s.info);
  check_pixel_limit(png_get_image_width(s.png, s.info), png_get_image_height(s.png, s.info), options);
}

// The libpng calls of decode, likewise.
void read_body(Session& s, Work& w) {
  const png_uint_32 width = png_get_image_width(s.png, s.info);
  const png_uint_32 height = png_get_image_height(s.png, s.info);
  const int color = png_get_color_type(s.png, s.info);
  const int depth = png_get_bit_depth(s.png, s.info);
  if (depth == 16) png_set_scale_16(s.png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s.png);
  if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(s.png);
  if ((color & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(s.png);
  png_set_interlace_handling(s.png);
  png_read_update_info(s.png, s.info);
  const int channels = png_get_channels(s.png, s.info);
  const size_t rowbytes = png_get_rowbytes(s.png, s.info);
  if ((channels != 3 && channels != 4) || rowbytes != size_t(width) * channels)
    png_error(s.png, "unsupported pixel layout after expansion");
  w.pixels.resize(rowbytes * height);
  w.rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) w.rows[y] = w.pixels.data() + rowbytes * y;
  png_read_image(s.png, w.rows.data());
}

class PngReader final : public ImageReader {
 public:
  PngReader(const uint8_t* data, size_t size, const DecodeOptions& options) : source_{data, size, 0, {}} {
    session_.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source_, on_error, on_warning);
    if (session_.png == nullptr) throw DecodeError("PNG: cannot create the decoder");
    session_.info = png_create_info_struct(session_.png);
    if (session_.info == nullptr) throw DecodeError("PNG: cannot create the decoder");
    if (setjmp(png_jmpbuf(session_.png)) != 0) throw DecodeError(std::string("PNG: ") + source_.message);
    read_header(session_, options);
    width_ = int(png_get_image_width(session_.png, session_.info));
    height_ = int(png_get_image_height(session_.png, session_.info));
  }

  Decoded decode(const DecodeRequest& request) override;

 private:
  Source source_;
  Session session_;
  bool decoded_ = false;
};

// Decodes every row, then keeps the window's pixels and drops alpha.
Decoded PngReader::decode(const DecodeRequest& request) {
  NKD_CHECK(!decoded_, "PNG: decode() called twice on one reader");
  decoded_ = true;
  const Rect r = resolve_window(request.window, width_, height_);
  Work work;
  if (setjmp(png_jmpbuf(session_.png)) != 0) throw DecodeError(std::string("PNG: ") + source_.message);
  read_body(session_, work);
  Decoded out;
  out.full_w = width_;
  out.full_h = height_;
  const int channels = int(work.pixels.size() / (size_t(width_) * height_));
  out.image = Image(r.w, r.h, 3);
  for (int y = 0; y < r.h; ++y) {
    const uint8_t* in = work.pixels.data() + (size_t(r.y + y) * width_ + r.x) * channels;
    uint8_t* o = out.image.row(y);
    for (int x = 0; x < r.w; ++x, in += channels, o += 3) std::memcpy(o, in, 3);
  }
  out.off_x = r.x;
  out.off_y = r.y;
  return out;
}

}  // namespace

std::unique_ptr<ImageReader> open_png(const uint8_t* data, size_t size, const DecodeOptions& options) {
  return std::make_unique<PngReader>(data, size, options);
}

}  // namespace nkd::data
