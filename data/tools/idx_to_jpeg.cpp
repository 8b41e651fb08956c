// nkd_idx_to_jpeg: exports an IDX dataset (MNIST/Fashion-MNIST) to the ImageNet layout as JPEG
// files, <out>/<split>/<class:03d>/<split>_<index:05d>.JPEG, plus <out>/meta/<split>.txt, so the
// whole file + JPEG path can be exercised on real images. Usage in main() below.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include "data/encode.h"
#include "data/idx_dataset.h"
#include "data/transforms.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: nkd_idx_to_jpeg IMAGES LABELS OUT SPLIT [--quality Q] [--limit N] [--rgb]\n"
               "  writes OUT/SPLIT/<class>/SPLIT_<i>.JPEG and OUT/meta/SPLIT.txt\n");
  return 2;
}

int run(int argc, char** argv) {
  if (argc < 5) return usage();
  int quality = 90;
  int64_t limit = -1;
  bool rgb = false;
  for (int i = 5; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quality" && i + 1 < argc) quality = std::atoi(argv[++i]);
    else if (a == "--limit" && i + 1 < argc) limit = std::atoll(argv[++i]);
    else if (a == "--rgb") rgb = true;
    else return usage();
  }
  namespace fs = std::filesystem;
  using namespace nkd::data;
  const IdxDataset ds(argv[1], argv[2]);
  const std::string out = argv[3], split = argv[4];
  fs::create_directories(out + "/meta");
  std::ofstream list(out + "/meta/" + split + ".txt");
  const int64_t n = limit < 0 ? ds.size() : std::min(limit, ds.size());
  for (int64_t i = 0; i < n; ++i) {
    char cls[16], name[64];
    std::snprintf(cls, sizeof(cls), "%03lld", static_cast<long long>(ds.label(i)));
    std::snprintf(name, sizeof(name), "%s_%05lld.JPEG", split.c_str(), static_cast<long long>(i));
    fs::create_directories(out + "/" + split + "/" + cls);
    Image image = std::get<Image>(ds.load(i).content);
    if (rgb) convert_channels(image, 3);
    write_file(out + "/" + split + "/" + cls + "/" + name, encode_jpeg(image, {.quality = quality}));
    list << cls << "/" << name << " " << ds.label(i) << "\n";
  }
  std::printf("wrote %lld images to %s/%s\n", static_cast<long long>(n), out.c_str(), split.c_str());
  return list.good() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nkd_idx_to_jpeg: %s\n", e.what());
    return 1;
  }
}
