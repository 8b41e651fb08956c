// JPEG decoding with libjpeg-turbo. The error manager longjmps back to the reader's method that
// called libjpeg (the default one calls exit()), and "premature end of file" counts as an error (a
// truncated file is bad input). open_jpeg reads the header (and the EXIF orientation); decode then
// reads only the requested window (jpeg_crop_scanline + jpeg_skip_scanlines) at the requested DCT
// scale; CMYK/YCCK become RGB. With EXIF orientation the window is mapped into the stored frame,
// decoded, then rotated/flipped.
#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "data/decode.h"

namespace nkd::data {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = true;
  cinfo->err->num_warnings++;
}

// Owns the libjpeg object; everything libjpeg may longjmp over lives here or in Work, never in
// an automatic object with a destructor inside read_body.
struct Session {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  Session() {
    std::memset(&cinfo, 0, sizeof(cinfo));
    std::memset(&err, 0, sizeof(err));
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
  }
  ~Session() { jpeg_destroy_decompress(&cinfo); }  // safe on a never-created (zeroed) object
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

struct Work {
  const DecodeOptions* options;
  Rect window;  // in the oriented full image
  int d;        // DCT scale denominator
  int orientation;
  Decoded* out;
  std::vector<uint8_t>* scratch;  // one CMYK row
};

// PIL's MULDIV255 and cmyk2rgb, so CMYK files decode as Pillow decodes them.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}
// OpenCV's icvCvt_CMYK2BGR (cv2.imdecode), on the values as stored.
void cmyk_to_rgb_opencv(const uint8_t* in, uint8_t* out, int width) {
  for (int x = 0; x < width; ++x, in += 4, out += 3) {
    const int k = in[3];
    for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(k - (((255 - in[c]) * k) >> 8));
  }
}
void cmyk_to_rgb(const uint8_t* in, uint8_t* out, int width, bool inverted) {
  for (int x = 0; x < width; ++x, in += 4, out += 3) {
    const int k = inverted ? 255 - in[3] : in[3];
    const int nk = 255 - k;
    for (int c = 0; c < 3; ++c) {
      const int v = inverted ? 255 - in[c] : in[c];
      out[c] = static_cast<uint8_t>(nk - muldiv255(v, nk));
    }
  }
}

int read_orientation(jpeg_decompress_struct& ci) {
  for (jpeg_saved_marker_ptr m = ci.marker_list; m != nullptr; m = m->next)
    if (m->marker == JPEG_APP0 + 1) return exif_orientation(m->data, m->data_length);
  return 1;
}

// EXIF orientation o as axes (apply_orientation's mapping): for o >= 5 the oriented x axis runs
// along the stored y axis and vice versa; flip_x / flip_y: the oriented axis runs backwards.
struct Axes {
  bool transpose, flip_x, flip_y;
};
Axes axes_of(int o) {
  return {o >= 5, o == 2 || o == 3 || o == 6 || o == 7, o == 3 || o == 4 || o == 7 || o == 8};
}
// The interval [a, a + n) of an axis of length len, seen from the other end when `flip`.
int flip_start(int a, int n, int len, bool flip) { return flip ? len - a - n : a; }

// An oriented-frame rectangle in the stored frame (stored size w x h).
Rect to_stored(Rect r, const Axes& a, int w, int h) {
  const int along_x = flip_start(r.x, r.w, a.transpose ? h : w, a.flip_x);
  const int along_y = flip_start(r.y, r.h, a.transpose ? w : h, a.flip_y);
  return a.transpose ? Rect{along_y, along_x, r.h, r.w} : Rect{along_x, along_y, r.w, r.h};
}

// The libjpeg calls of open_jpeg (trivially destructible locals only: a longjmp skips this frame).
void read_header(Session& s, const uint8_t* data, size_t size, const DecodeOptions& options, int& orientation) {
  jpeg_decompress_struct& ci = s.cinfo;
  jpeg_create_decompress(&ci);
  jpeg_mem_src(&ci, data, static_cast<unsigned long>(size));
  if (options.exif_orientation) jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&ci, TRUE);
  check_pixel_limit(ci.image_width, ci.image_height, options);
  if (options.exif_orientation) orientation = read_orientation(ci);
}

// The libjpeg calls of decode, likewise. The window is decoded in the stored frame; the reader
// orients the pixels afterwards.
void read_body(Session& s, Work& w) {
  jpeg_decompress_struct& ci = s.cinfo;
  const Axes axes = axes_of(w.orientation);
  const int stored_w = int(ci.image_width), stored_h = int(ci.image_height);
  const int full_w = axes.transpose ? stored_h : stored_w;
  const int full_h = axes.transpose ? stored_w : stored_h;
  const Rect sc = to_stored(w.window, axes, stored_w, stored_h);  // the window in the stored frame
  const int d = w.d;
  const bool cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
  ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  ci.scale_num = 1;
  ci.scale_denom = static_cast<unsigned int>(d);
  jpeg_start_decompress(&ci);
  const int out_w = int(ci.output_width), out_h = int(ci.output_height);  // jpeg_crop_scanline changes them
  // One pixel of margin: fancy upsampling replicates the edge of a cropped region, so the
  // window's own border pixels must be interior to decode exactly as in a full decode. A whole
  // window reads every column and row.
  JDIMENSION x0 = JDIMENSION(std::max(sc.x / d - 1, 0));
  JDIMENSION cw = std::min<JDIMENSION>(JDIMENSION((sc.x + sc.w + d - 1) / d + 1), ci.output_width) - x0;
  const JDIMENSION y0 = JDIMENSION(std::max(sc.y / d - 1, 0));
  const JDIMENSION y1 = std::min<JDIMENSION>(JDIMENSION((sc.y + sc.h + d - 1) / d + 1), ci.output_height);
  if (cw < ci.output_width) jpeg_crop_scanline(&ci, &x0, &cw);  // may widen to iMCU columns
  if (y0 > 0 && jpeg_skip_scanlines(&ci, y0) != y0) ERREXIT(&ci, JERR_INPUT_EOF);
  w.out->image = Image(int(cw), int(y1 - y0), 3);
  if (cmyk) w.scratch->resize(size_t(cw) * 4);
  for (JDIMENSION r = 0; r < y1 - y0; ++r) {
    JSAMPROW row = cmyk ? w.scratch->data() : w.out->image.row(int(r));
    if (jpeg_read_scanlines(&ci, &row, 1) != 1) ERREXIT(&ci, JERR_INPUT_EOF);
    if (cmyk && w.options->cmyk == CmykToRgb::kOpenCv) {
      cmyk_to_rgb_opencv(row, w.out->image.row(int(r)), int(cw));
    } else if (cmyk) {
      cmyk_to_rgb(row, w.out->image.row(int(r)), int(cw), ci.saw_Adobe_marker);
    }
  }
  if (int(y1) == out_h) {  // every row read (of a full or column-cropped window)
    jpeg_finish_decompress(&ci);
  } else {
    jpeg_abort_decompress(&ci);
  }
  // Where the decoded window sits in the oriented, scaled image.
  const int along_x[3] = {axes.transpose ? int(y0) : int(x0), axes.transpose ? int(y1 - y0) : int(cw),
                          axes.transpose ? out_h : out_w};
  const int along_y[3] = {axes.transpose ? int(x0) : int(y0), axes.transpose ? int(cw) : int(y1 - y0),
                          axes.transpose ? out_w : out_h};
  w.out->full_w = full_w;
  w.out->full_h = full_h;
  w.out->scale = 1.0 / d;
  w.out->off_x = flip_start(along_x[0], along_x[1], along_x[2], axes.flip_x);
  w.out->off_y = flip_start(along_y[0], along_y[1], along_y[2], axes.flip_y);
  w.out->sub_x = axes.flip_x ? double(along_x[2] * d - full_w) / d : 0.0;
  w.out->sub_y = axes.flip_y ? double(along_y[2] * d - full_h) / d : 0.0;
}

class JpegReader final : public ImageReader {
 public:
  JpegReader(const uint8_t* data, size_t size, const DecodeOptions& options) : options_(options) {
    if (setjmp(session_.err.jump) != 0) throw DecodeError(std::string("JPEG: ") + session_.err.message);
    read_header(session_, data, size, options_, orientation_);
    const bool transpose = axes_of(orientation_).transpose;
    width_ = int(transpose ? session_.cinfo.image_height : session_.cinfo.image_width);
    height_ = int(transpose ? session_.cinfo.image_width : session_.cinfo.image_height);
  }

  Decoded decode(const DecodeRequest& request) override {
    NKD_CHECK(!decoded_, "JPEG: decode() called twice on one reader");
    decoded_ = true;
    const int d = request.scale_denom;
    NKD_CHECK(d == 1 || d == 2 || d == 4 || d == 8, "JPEG: DCT scale 1/", d, " (1, 2, 4 or 8)");
    Decoded out;
    Work work{&options_, resolve_window(request.window, width_, height_), d, orientation_, &out, &scratch_};
    if (setjmp(session_.err.jump) != 0) throw DecodeError(std::string("JPEG: ") + session_.err.message);
    read_body(session_, work);
    if (session_.err.truncated) throw DecodeError("JPEG: truncated file (premature end of data)");
    if (orientation_ != 1) apply_orientation(out.image, orientation_);
    return out;
  }

 private:
  Session session_;
  const DecodeOptions options_;
  int orientation_ = 1;
  bool decoded_ = false;
  std::vector<uint8_t> scratch_;
};

}  // namespace

std::unique_ptr<ImageReader> open_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options) {
  return std::make_unique<JpegReader>(data, size, options);
}

}  // namespace nkd::data
