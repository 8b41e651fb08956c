// nkd_bench_data: images/s of the ImageNet train pipeline (decode + RandomResizedCrop 224 + flip +
// normalise into F32 NCHW batches) and test pipeline (decode + resize 256 + centre crop 224) over
// an ImageNet-layout folder, with 1 worker thread and with all cores. Peer: tools/bench_pil.py.
// Usage: nkd_bench_data ROOT [EPOCHS=2] [BACKEND=pillow|cv2] [DECODE=partial|full]
// (ROOT/train/<class>/*.JPEG; see tools/bench_data.sh). cv2: the mmcls cv2-backend pipelines
// (EXIF orientation on, cv2 INTER_LINEAR). full: no crop-window decoding (what images with an EXIF
// orientation got before crop decoding was combined with orientation).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>

#include "data/image_folder.h"
#include "data/loader.h"

namespace {

using namespace nkd::data;

void run(const std::shared_ptr<ImageFolder>& ds, const char* name, std::shared_ptr<Pipeline> pipe,
         int threads, int epochs) {
  Loader loader(ds, std::move(pipe), {.batch_size = 32, .workers = threads, .seed = 1});
  int64_t n = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    loader.set_epoch(e);
    while (auto b = loader.next()) n += b->images.size(0);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("nkd %-5s threads %d images %lld seconds %.3f images/s %.1f per-core %.1f\n", name, threads,
              static_cast<long long>(n), secs, double(n) / secs, double(n) / secs / threads);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nkd_bench_data ROOT [EPOCHS=2] [pillow|cv2] [partial|full]\n");
    return 2;
  }
  try {
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 2;
    const std::string backend = argc > 3 ? argv[3] : "pillow", decode = argc > 4 ? argv[4] : "partial";
    if ((backend != "pillow" && backend != "cv2") || (decode != "partial" && decode != "full")) {
      std::fprintf(stderr, "nkd_bench_data: backend pillow|cv2, decode partial|full\n");
      return 2;
    }
    const ResizeBackend b = backend == "cv2" ? ResizeBackend::kCv2 : ResizeBackend::kPillow;
    auto train = [&] {
      auto p = std::make_shared<ImagenetTrain>(ImagenetTrainOptions{.backend = b});
      p->shortcuts.partial = decode == "partial";
      return p;
    };
    auto test = [&] {
      auto p = std::make_shared<ImagenetTest>(ImagenetTestOptions{.backend = b});
      p->shortcuts.partial = decode == "partial";
      return p;
    };
    std::printf("backend %s, decode %s\n", backend.c_str(), decode.c_str());
    auto ds = std::make_shared<ImageFolder>(ImageFolder::imagenet(argv[1], "train"));
    const int all = int(std::max(1u, std::thread::hardware_concurrency()));
    run(ds, "warm", test(), all, 1);
    for (int threads : std::set<int>{1, all}) run(ds, "train", train(), threads, epochs);
    for (int threads : std::set<int>{1, all}) run(ds, "test", test(), threads, epochs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nkd_bench_data: %s\n", e.what());
    return 1;
  }
  return 0;
}
