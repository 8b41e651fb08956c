// JPEG encoding into memory with jpeg_mem_dest; errors longjmp back and become nkd::Error.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <jpeglib.h>

#include "data/encode.h"
#include "engine/check.h"

namespace nkd::data {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};
void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

struct Session {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  Session() {
    std::memset(&cinfo, 0, sizeof(cinfo));
    std::memset(&err, 0, sizeof(err));
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
  }
  ~Session() {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
  }
};

void compress(Session& s, const Image& im, const JpegEncodeOptions& o) {
  jpeg_compress_struct& ci = s.cinfo;
  jpeg_create_compress(&ci);
  jpeg_mem_dest(&ci, &s.buffer, &s.size);
  ci.image_width = JDIMENSION(im.width);
  ci.image_height = JDIMENSION(im.height);
  ci.input_components = im.channels;
  ci.in_color_space = im.channels == 1 ? JCS_GRAYSCALE : (im.channels == 4 ? JCS_CMYK : JCS_RGB);
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, o.quality, TRUE);
  if (o.progressive) jpeg_simple_progression(&ci);
  ci.arith_code = o.arithmetic ? TRUE : FALSE;
  if (!o.subsample && im.channels == 3) ci.comp_info[0].h_samp_factor = ci.comp_info[0].v_samp_factor = 1;
  jpeg_start_compress(&ci, TRUE);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(im.row(int(ci.next_scanline)));
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
}

}  // namespace

std::vector<uint8_t> encode_jpeg(const Image& image, const JpegEncodeOptions& options) {
  NKD_CHECK(image.channels == 1 || image.channels == 3 || image.channels == 4,
            "encode_jpeg: ", image.channels, " channels");
  NKD_CHECK(image.width > 0 && image.height > 0, "encode_jpeg: empty image");
  auto s = std::make_unique<Session>();
  if (setjmp(s->err.jump) != 0) NKD_FAIL("encode_jpeg: ", s->err.message);
  compress(*s, image, options);
  return std::vector<uint8_t>(s->buffer, s->buffer + s->size);
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  NKD_CHECK(f != nullptr, "write_file: cannot create ", path);
  const size_t n = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);  // data() may be null
  const bool ok = std::fclose(f) == 0 && n == bytes.size();
  NKD_CHECK(ok, "write_file: writing ", path, " failed");
}

}  // namespace nkd::data
