// IDX reading through zlib's gzread (which also reads uncompressed files) and the dataset over it.
#include <algorithm>
#include <cstdio>
#include <utility>

#include <zlib.h>

#include "data/idx_dataset.h"

namespace nkd::data {
namespace {

std::vector<uint8_t> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  NKD_CHECK(f != nullptr, "IDX: cannot open ", path);
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int errnum = 0;
      const std::string msg = gzerror(f, &errnum);
      gzclose(f);
      NKD_FAIL("IDX: ", path, ": read error after ", bytes.size(), " bytes: ", msg);
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  gzclose(f);
  return bytes;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<uint8_t> b = read_gz(path);
  NKD_CHECK(b.size() >= 4, "IDX: ", path, ": ", b.size(), " bytes, too short for a header");
  NKD_CHECK(b[0] == 0 && b[1] == 0, "IDX: ", path, ": bad magic at byte 0");
  NKD_CHECK(b[2] == 0x08, "IDX: ", path, ": element type 0x", std::hex, int(b[2]),
            " at byte 2, only unsigned bytes (0x08) are supported");
  const int ndim = b[3];
  NKD_CHECK(ndim >= 1 && ndim <= 4, "IDX: ", path, ": ", ndim, " dimensions at byte 3");
  NKD_CHECK(b.size() >= 4 + 4 * size_t(ndim), "IDX: ", path, ": header truncated");
  IdxArray a;
  int64_t count = 1;
  for (int i = 0; i < ndim; ++i) {
    const uint8_t* p = b.data() + 4 + 4 * i;
    const int64_t d = (int64_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    NKD_CHECK(d > 0 && d < (int64_t(1) << 31), "IDX: ", path, ": dimension ", d, " at byte ", 4 + 4 * i);
    a.dims.push_back(d);
    count *= d;
  }
  const size_t header = 4 + 4 * size_t(ndim);
  NKD_CHECK(b.size() == header + size_t(count), "IDX: ", path, ": header declares ", count,
            " bytes of data, the file holds ", b.size() - header);
  a.data.assign(b.begin() + ptrdiff_t(header), b.end());
  return a;
}

void write_idx(const std::string& path, const std::vector<int64_t>& dims, const uint8_t* data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  NKD_CHECK(f != nullptr, "IDX: cannot create ", path);
  const uint8_t magic[4] = {0, 0, 0x08, uint8_t(dims.size())};
  std::fwrite(magic, 1, 4, f);
  int64_t count = 1;
  for (int64_t d : dims) {
    const uint8_t be[4] = {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)};
    std::fwrite(be, 1, 4, f);
    count *= d;
  }
  const size_t written = std::fwrite(data, 1, size_t(count), f);
  const bool ok = std::fclose(f) == 0 && written == size_t(count);
  NKD_CHECK(ok, "IDX: write to ", path, " failed");
}

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path)
    : path_(images_path) {
  IdxArray im = read_idx(images_path);
  IdxArray lb = read_idx(labels_path);
  NKD_CHECK(im.dims.size() == 3, "IDX: ", images_path, ": expected [N, H, W], got ", im.dims.size(), " dims");
  NKD_CHECK(lb.dims.size() == 1 && lb.dims[0] == im.dims[0], "IDX: ", labels_path, " holds ",
            lb.dims[0], " labels for ", im.dims[0], " images in ", images_path);
  n_ = im.dims[0];
  h_ = int(im.dims[1]);
  w_ = int(im.dims[2]);
  images_ = std::move(im.data);
  labels_ = std::move(lb.data);
  num_classes_ = *std::max_element(labels_.begin(), labels_.end()) + 1;
}

IdxDataset IdxDataset::fashion_mnist(const std::string& root, bool train) {
  const std::string p = root + "/" + (train ? "train" : "t10k");
  return IdxDataset(p + "-images-idx3-ubyte.gz", p + "-labels-idx1-ubyte.gz");
}

std::string IdxDataset::describe(int64_t index) const {
  return path_ + "[" + std::to_string(index) + "]";
}

Sample IdxDataset::load(int64_t index) const {
  NKD_CHECK(index >= 0 && index < n_, "IdxDataset: index ", index, " out of [0, ", n_, ")");
  Image pixels(w_, h_, 1);
  std::copy_n(image(index), size_t(w_) * h_, pixels.pixels.begin());
  return {std::move(pixels), label(index)};
}

}  // namespace nkd::data
