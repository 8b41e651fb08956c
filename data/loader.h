// Loader: worker threads build whole batches into host tensors (F32 NCHW normalised, or U8 NHWC
// raw; each sample read by the Dataset, decoded and augmented by the Pipeline) ahead of the consumer, at most `prefetch` batches in flight. Augmentation randomness is
// keyed by (seed, epoch, sample index), so batches are identical whatever the thread count. A bad
// file is skipped with one warning line and counted; training replaces it by the next readable
// sample (replace_bad), evaluation leaves it out of its batch (Batch::skipped); strict = true makes
// it an error, max_bad_fraction bounds the unreadable share of an epoch.
// With a GPU, the batch images live in page-locked (pinned) host memory from a recycled pool, so the
// consumer's batch.images.to(cuda_device(i)) can be an asynchronous copy (see LoaderOptions::pinned).
#pragma once
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "data/batch_mix.h"
#include "data/dataset.h"
#include "data/pipeline.h"
#include "data/sampler.h"
#include "engine/tensor.h"

namespace nkd::data {

enum class Layout { kNCHWFloat, kNHWCUint8 };
enum class Pinning { kAuto, kOff, kOn };

class PinnedBatchPool;  // loader.cpp

struct LoaderOptions {
  int64_t batch_size = 32;
  int workers = 0;   // <= 0: std::thread::hardware_concurrency()
  int prefetch = 0;  // batches in flight; <= 0: 2 * workers
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  int rank = 0, world = 1;
  Layout layout = Layout::kNCHWFloat;
  bool strict = false;   // a bad file stops the run instead of being skipped
  // true: a bad sample is replaced by the next readable one (batches stay full: training); false:
  // it is left out, so a batch may be shorter or empty (Batch::skipped says why: evaluation).
  bool replace_bad = true;
  // >= 0: an epoch stops with an error once more than this fraction of its samples were unreadable
  // (distinct files); < 0: no limit.
  double max_bad_fraction = -1;
  std::optional<MixOptions> mix;  // Mixup/CutMix (F32 layout only)
  std::function<void(const std::string&)> warn;  // one line per skipped file; null: stderr
  // Batch images in pinned host memory (Batch::images.storage()->pinned()). kAuto: when nkd has
  // CUDA and a GPU is visible (cuda::is_available()), else ordinary memory; kOn: required (throws
  // "built without CUDA" / the reason otherwise); kOff: ordinary memory. A pinned buffer returns to
  // the loader's pool when the last tensor sharing it dies; before a worker rewrites it, the worker
  // calls cuda::synchronize(cuda_device(device)) unless a later synchronisation already covered
  // that release, so a copy the consumer queued from it on that device has finished.
  Pinning pinned = Pinning::kAuto;
  int device = 0;  // the CUDA device the consumer copies batches to
};

// An unreadable sample: its position in the epoch's order, its dataset index, how the dataset names
// it (the file) and why it was skipped (the decoder's message).
struct BadSample {
  int64_t position = 0, index = 0;
  std::string file, reason;
};

// The kind of a skip reason, for summaries: one of bad_sample_kinds().
std::string bad_sample_kind(const std::string& reason);
const std::vector<std::string>& bad_sample_kinds();

struct Batch {
  Tensor images;       // F32 [N, C, H, W] normalised, or U8 [N, H, W, C]; contiguous; pinned storage
                       // when Loader::pinned() (a last batch shorter than batch_size is a view of
                       // a full-size buffer, so its storage is larger than the tensor)
  Tensor labels;       // I64 [N]
  Tensor soft_labels;  // F32 [N, classes] when mixing; undefined otherwise
  std::vector<int64_t> indices;  // dataset index actually used per row
  std::vector<int64_t> positions;  // each row's position in the epoch's order (the rank's shard)
  std::vector<BadSample> skipped;  // replace_bad = false: the samples left out, in order
  int64_t epoch = 0, number = 0;
};

struct EpochStats {
  int64_t epoch = 0, batches = 0, samples = 0, skipped = 0;
  std::vector<std::string> skipped_files;  // with the reason, in the order first seen
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const Pipeline> pipeline,
         LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  void set_epoch(int64_t epoch);   // stops any epoch in progress and rewinds
  std::optional<Batch> next();     // nullopt after the last batch of the epoch
  void stop();  // joins the workers; safe any time; next() returns nullopt until set_epoch()
  int64_t num_batches() const;
  int64_t samples_per_epoch() const { return sampler_.num_samples(); }
  bool pinned() const { return pool_ != nullptr; }  // batch images in pinned host memory
  EpochStats stats() const;
  std::string summary() const;     // "epoch 3: 469 batches, 60000 samples, 2 bad files skipped"

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  void start();
  void worker();
  Batch build(int64_t number, std::vector<uint8_t>& scratch);
  // Writes sample `index` (or the replacement for a bad one) to `out`; returns the index used, or
  // -1 when it is bad and replace_bad is off (*reason then says why).
  int64_t load_sample(int64_t index, uint8_t* out, int64_t& label, std::string* reason);
  void write_sample(const uint8_t* hwc, float* nchw) const;
  void record_bad(int64_t index, const std::string& reason);
  Tensor alloc_images(int64_t n) const;

  std::shared_ptr<const Dataset> dataset_;
  std::shared_ptr<const Pipeline> pipeline_;
  LoaderOptions o_;
  DistributedSampler sampler_;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;

  mutable std::mutex mu_;
  std::condition_variable ready_cv_, space_cv_;
  std::vector<std::thread> threads_;
  std::map<int64_t, Slot> ready_;
  int64_t next_claim_ = 0, next_out_ = 0;
  bool started_ = false, stopping_ = false, halted_ = false;
  EpochStats stats_;
  std::set<int64_t> bad_seen_;
  std::shared_ptr<PinnedBatchPool> pool_;  // null: ordinary memory
};

}  // namespace nkd::data
