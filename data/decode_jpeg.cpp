// JPEG decoding with libjpeg-turbo. The error manager longjmps back to decode_jpeg (the default one
// calls exit()), and "premature end of file" counts as an error (a truncated file is bad input).
// Only the plan's crop window is decoded (jpeg_crop_scanline + jpeg_skip_scanlines), at a DCT
// scale 1/d when the crop is large enough for the requested output; CMYK/YCCK become RGB.
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
};

struct Work {
  const DecodeOptions* options;
  const PlanFn* plan;
  Decoded* out;
  std::vector<uint8_t> scratch;  // one CMYK row
  int orientation = 1;
};

// PIL's MULDIV255 and cmyk2rgb, so CMYK files decode as Pillow decodes them.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
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

int choose_scale(const DecodePlan& p, const DecodeOptions& o) {
  if (!o.dct_scaling || p.out_w <= 0 || p.out_h <= 0) return 1;
  for (int d : {8, 4, 2})
    if (p.crop.w >= o.dct_gap * d * p.out_w && p.crop.h >= o.dct_gap * d * p.out_h) return d;
  return 1;
}

// All libjpeg calls. Locals are trivially destructible: a longjmp out of libjpeg skips nothing.
void read_body(Session& s, const uint8_t* data, size_t size, Work& w) {
  jpeg_decompress_struct& ci = s.cinfo;
  jpeg_create_decompress(&ci);
  jpeg_mem_src(&ci, data, static_cast<unsigned long>(size));
  if (w.options->exif_orientation) jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&ci, TRUE);
  check_pixel_limit(ci.image_width, ci.image_height, *w.options);
  if (w.options->exif_orientation) w.orientation = read_orientation(ci);
  const bool swap = w.orientation >= 5;
  const int full_w = int(swap ? ci.image_height : ci.image_width);
  const int full_h = int(swap ? ci.image_width : ci.image_height);
  const DecodePlan p = resolve_plan(*w.plan, full_w, full_h);
  const int d = choose_scale(p, *w.options);
  const bool cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
  ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  ci.scale_num = 1;
  ci.scale_denom = static_cast<unsigned int>(d);
  jpeg_start_decompress(&ci);
  JDIMENSION x0 = 0, cw = ci.output_width, y0 = 0, y1 = ci.output_height;
  if (w.options->partial && w.orientation == 1) {
    // One pixel of margin: fancy upsampling replicates the edge of a cropped region, so the
    // crop's own border pixels must be interior to decode exactly as in a full decode.
    x0 = JDIMENSION(std::max(p.crop.x / d - 1, 0));
    cw = std::min<JDIMENSION>(JDIMENSION((p.crop.x + p.crop.w + d - 1) / d + 1), ci.output_width) - x0;
    y0 = JDIMENSION(std::max(p.crop.y / d - 1, 0));
    y1 = std::min<JDIMENSION>(JDIMENSION((p.crop.y + p.crop.h + d - 1) / d + 1), ci.output_height);
    if (cw < ci.output_width) jpeg_crop_scanline(&ci, &x0, &cw);
    if (y0 > 0 && jpeg_skip_scanlines(&ci, y0) != y0) ERREXIT(&ci, JERR_INPUT_EOF);
  }
  w.out->image = Image(int(cw), int(y1 - y0), 3);
  if (cmyk) w.scratch.resize(size_t(cw) * 4);
  for (JDIMENSION r = 0; r < y1 - y0; ++r) {
    JSAMPROW row = cmyk ? w.scratch.data() : w.out->image.row(int(r));
    if (jpeg_read_scanlines(&ci, &row, 1) != 1) ERREXIT(&ci, JERR_INPUT_EOF);
    if (cmyk) cmyk_to_rgb(row, w.out->image.row(int(r)), int(cw), ci.saw_Adobe_marker);
  }
  if (y1 == ci.output_height && cw == ci.output_width) {
    jpeg_finish_decompress(&ci);
  } else {
    jpeg_abort_decompress(&ci);
  }
  w.out->full_w = full_w;
  w.out->full_h = full_h;
  w.out->scale = 1.0 / d;
  w.out->off_x = int(x0);
  w.out->off_y = int(y0);
  w.out->crop = p.crop;
}

}  // namespace

Decoded decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options,
                    const PlanFn& plan) {
  auto session = std::make_unique<Session>();
  Decoded out;
  Work work{&options, &plan, &out, {}, 1};
  if (setjmp(session->err.jump) != 0) throw DecodeError(std::string("JPEG: ") + session->err.message);
  read_body(*session, data, size, work);
  if (session->err.truncated) throw DecodeError("JPEG: truncated file (premature end of data)");
  if (work.orientation != 1) apply_orientation(out.image, work.orientation);
  return out;
}

}  // namespace nkd::data
