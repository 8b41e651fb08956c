// JPEG encoding (libjpeg-turbo), used by the IDX -> JPEG export tool and by tests that build
// fixtures: 1 channel = grayscale, 3 = RGB, 4 = CMYK (libjpeg writes the Adobe marker, inverted).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace nkd::data {

struct JpegEncodeOptions {
  int quality = 90;
  bool progressive = false;
  bool arithmetic = false;
  bool subsample = true;  // 4:2:0 chroma (libjpeg's default); false = 4:4:4
};
std::vector<uint8_t> encode_jpeg(const Image& image, const JpegEncodeOptions& options = {});
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace nkd::data
