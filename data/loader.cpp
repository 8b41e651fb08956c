// Loader: epoch start/stop, the worker loop, batch assembly (the dataset's sample through the
// pipeline), the bad-input policy and the pinned batch-buffer pool.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <utility>

#include "data/loader.h"
#include "engine/cuda/allocator.h"
#include "engine/cuda/device.h"
#include "engine/factory.h"

namespace nkd::data {

// Full-batch pinned buffers, recycled. A buffer comes back (release) when the last tensor over it
// dies; the consumer may have queued an asynchronous copy from it on the GPU just before, so a
// recycled buffer is handed out only after a cuda::synchronize that began after its release.
// Releases are numbered: one synchronisation covers every release made before it started.
class PinnedBatchPool : public std::enable_shared_from_this<PinnedBatchPool> {
 public:
  PinnedBatchPool(size_t bytes, Device device) : bytes_(bytes), device_(device) {}

  std::shared_ptr<Storage> acquire() {
    cuda::PinnedBuffer buf;
    uint64_t stamp = 0, released = 0;
    bool recycled = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        buf = std::move(free_.front().first);
        stamp = free_.front().second;
        free_.pop_front();
        recycled = true;
        released = releases_;
      }
    }
    if (!recycled) {
      buf = cuda::PinnedBuffer(bytes_);
    } else if (stamp > fenced()) {
      cuda::synchronize(device_);  // SYNC (worker thread): copies queued before the release are done
      std::lock_guard<std::mutex> lock(mu_);
      fenced_ = std::max(fenced_, released);
    }
    void* data = buf.data();
    auto held = std::make_shared<cuda::PinnedBuffer>(std::move(buf));
    return std::make_shared<Storage>(
        data, bytes_, kCPU, [self = shared_from_this(), held](void*) { self->release(std::move(*held)); },
        true);
  }

 private:
  uint64_t fenced() {
    std::lock_guard<std::mutex> lock(mu_);
    return fenced_;
  }
  void release(cuda::PinnedBuffer buf) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.emplace_back(std::move(buf), ++releases_);
  }

  const size_t bytes_;
  const Device device_;
  std::mutex mu_;
  std::deque<std::pair<cuda::PinnedBuffer, uint64_t>> free_;  // oldest release first
  uint64_t releases_ = 0, fenced_ = 0;
};

Loader::Loader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const Pipeline> pipeline,
               LoaderOptions options)
    : dataset_(std::move(dataset)),
      pipeline_(std::move(pipeline)),
      o_(std::move(options)),
      sampler_(dataset_->size(), {o_.shuffle, o_.seed, o_.rank, o_.world}) {
  NKD_CHECK(o_.batch_size > 0, "Loader: batch_size ", o_.batch_size);
  if (o_.workers <= 0) o_.workers = int(std::max(1u, std::thread::hardware_concurrency()));
  if (o_.prefetch <= 0) o_.prefetch = 2 * o_.workers;
  NKD_CHECK(!o_.mix || o_.layout == Layout::kNCHWFloat, "Loader: Mixup/CutMix needs the F32 layout");
  const Normalization& nm = pipeline_->normalization;
  NKD_CHECK(o_.layout != Layout::kNCHWFloat ||
                (int(nm.mean.size()) == pipeline_->channels() && int(nm.std.size()) == pipeline_->channels()),
            "Loader: normalisation has ", nm.mean.size(), " channels, the pipeline ", pipeline_->channels());
  const bool pin = o_.pinned == Pinning::kOn || (o_.pinned == Pinning::kAuto && cuda::is_available());
  if (pin) {
    NKD_CHECK(o_.pinned != Pinning::kOn || cuda::is_available(), "Loader: pinned batches need a GPU: ",
              cuda::unavailable_reason());
    const int64_t per = int64_t(pipeline_->channels()) * pipeline_->height() * pipeline_->width();
    const size_t elem = o_.layout == Layout::kNCHWFloat ? sizeof(float) : 1;
    pool_ = std::make_shared<PinnedBatchPool>(size_t(o_.batch_size * per) * elem, cuda_device(o_.device));
  }
}

Loader::~Loader() { stop(); }

int64_t Loader::num_batches() const {
  const int64_t n = sampler_.num_samples();
  return o_.drop_last ? n / o_.batch_size : (n + o_.batch_size - 1) / o_.batch_size;
}

void Loader::set_epoch(int64_t epoch) {
  stop();
  std::lock_guard<std::mutex> lock(mu_);
  epoch_ = epoch;
  started_ = false;
  halted_ = false;
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  space_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  ready_.clear();
  stopping_ = false;
  halted_ = started_;
}

void Loader::start() {
  order_ = sampler_.indices(epoch_);
  next_claim_ = next_out_ = 0;
  stats_ = EpochStats{};
  stats_.epoch = epoch_;
  bad_seen_.clear();
  started_ = true;
  for (int i = 0; i < o_.workers; ++i) threads_.emplace_back([this] { worker(); });
}

void Loader::worker() {
  std::vector<uint8_t> scratch;
  const int64_t nb = num_batches();
  for (;;) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_cv_.wait(lock, [&] { return stopping_ || next_claim_ >= nb || next_claim_ < next_out_ + o_.prefetch; });
      if (stopping_ || next_claim_ >= nb) return;
      b = next_claim_++;
    }
    Slot slot;
    try {
      slot.batch = build(b, scratch);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_[b] = std::move(slot);
    }
    ready_cv_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!started_) start();
  if (halted_ || next_out_ >= num_batches()) return std::nullopt;
  ready_cv_.wait(lock, [&] { return ready_.count(next_out_) > 0; });
  Slot slot = std::move(ready_[next_out_]);
  ready_.erase(next_out_);
  ++next_out_;
  lock.unlock();
  space_cv_.notify_all();
  if (slot.error) {
    stop();
    std::rethrow_exception(slot.error);
  }
  lock.lock();
  stats_.batches++;
  stats_.samples += slot.batch.labels.numel();
  return std::move(slot.batch);
}

Batch Loader::build(int64_t number, std::vector<uint8_t>& scratch) {
  const Pipeline& p = *pipeline_;
  const int64_t first = number * o_.batch_size;
  const int64_t n = std::min<int64_t>(o_.batch_size, int64_t(order_.size()) - first);
  const int64_t C = p.channels(), H = p.height(), W = p.width(), per = C * H * W;
  Batch batch;
  batch.epoch = epoch_;
  batch.number = number;
  const bool f32 = o_.layout == Layout::kNCHWFloat;
  batch.images = alloc_images(n);
  scratch.resize(size_t(per));
  std::vector<int64_t> labels;
  for (int64_t i = 0, rows = 0; i < n; ++i) {
    uint8_t* hwc = f32 ? scratch.data() : batch.images.data<uint8_t>() + rows * per;
    const int64_t position = first + i, index = order_[size_t(position)];
    int64_t label = 0;
    std::string reason;
    const int64_t used = load_sample(index, hwc, label, &reason);
    if (used < 0) {
      batch.skipped.push_back({position, index, dataset_->describe(index), reason});
      continue;
    }
    if (f32) write_sample(hwc, batch.images.data<float>() + rows * per);
    batch.indices.push_back(used);
    batch.positions.push_back(position);
    labels.push_back(label);
    ++rows;
  }
  const int64_t rows = int64_t(labels.size());
  if (rows < n) batch.images = batch.images.narrow(0, 0, rows);
  if (o_.mix) {
    SampleRng rng = SampleRng::for_batch(o_.seed, uint64_t(epoch_), uint64_t(number));
    batch.soft_labels = mix_batch(batch.images, labels, dataset_->num_classes(), *o_.mix, rng);
  }
  batch.labels = from_vector(labels, {rows});
  return batch;
}

Tensor Loader::alloc_images(int64_t n) const {
  const Pipeline& p = *pipeline_;
  const int64_t C = p.channels(), H = p.height(), W = p.width();
  const bool f32 = o_.layout == Layout::kNCHWFloat;
  const Shape shape = f32 ? Shape{n, C, H, W} : Shape{n, H, W, C};
  const DType dtype = f32 ? DType::F32 : DType::U8;
  if (!pool_) return empty(shape, {dtype, kCPU});
  return make_view(pool_->acquire(), 0, shape, contiguous_strides(shape), dtype);
}

// Fused normalisation and HWC -> CHW: out[c][i] = (in[i][c] - mean[c]) / std[c].
void Loader::write_sample(const uint8_t* hwc, float* nchw) const {
  const Pipeline& p = *pipeline_;
  const int C = p.channels();
  const int64_t plane = int64_t(p.height()) * p.width();
  for (int c = 0; c < C; ++c) {
    const float mean = p.normalization.mean[size_t(c)], sd = p.normalization.std[size_t(c)];
    float* out = nchw + c * plane;
    const uint8_t* in = hwc + c;
    for (int64_t i = 0; i < plane; ++i) out[i] = (float(in[i * C]) - mean) / sd;
  }
}

// Without replacement a bad sample is reported (-1). With it, the next samples in dataset order
// are tried until one reads: no limit on consecutive bad files, only max_bad_fraction's.
int64_t Loader::load_sample(int64_t index, uint8_t* out, int64_t& label, std::string* reason) {
  const int64_t size = dataset_->size();
  for (int64_t attempt = 0; attempt < size; ++attempt) {
    const int64_t candidate = (index + attempt) % size;
    SampleRng rng(o_.seed, uint64_t(epoch_), uint64_t(index), uint64_t(attempt));
    try {
      Sample sample = dataset_->load(candidate);
      label = sample.label;
      pipeline_->run(std::move(sample), rng, out);
      return candidate;
    } catch (const DecodeError& e) {
      if (o_.strict) throw DecodeError(dataset_->describe(candidate) + ": " + e.what());
      record_bad(candidate, e.what());
      if (!o_.replace_bad) {
        *reason = e.what();
        return -1;
      }
    }
  }
  NKD_FAIL("Loader: none of the dataset's ", size, " samples can be read (from index ", index, ")");
}

void Loader::record_bad(int64_t index, const std::string& reason) {
  std::string line;
  size_t distinct = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.skipped++;
    if (!bad_seen_.insert(index).second) return;
    line = "warning: skipping " + dataset_->describe(index) + ": " + reason;
    stats_.skipped_files.push_back(dataset_->describe(index) + ": " + reason);
    distinct = bad_seen_.size();
  }
  if (o_.warn) {
    o_.warn(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  const int64_t total = sampler_.num_samples();
  NKD_CHECK(o_.max_bad_fraction < 0 || double(distinct) <= o_.max_bad_fraction * double(total),
            "more than a fraction ", o_.max_bad_fraction, " (data.max_bad_fraction) of epoch ", epoch_ + 1, "'s ",
            total, " samples are unreadable: ", distinct, " files so far, the last ", dataset_->describe(index),
            ": ", reason);
}

std::string bad_sample_kind(const std::string& reason) {
  const auto has = [&](const char* s) { return reason.find(s) != std::string::npos; };
  if (has("cannot open") || has("read error")) return "unreadable file";
  if (has("empty file")) return "empty file";
  if (has("truncated") || has("premature end")) return "truncated";
  if (has("not an image")) return "not an image";
  if (has("image is ") || has("invalid image size")) return "bad image size";
  return "corrupt image";
}

const std::vector<std::string>& bad_sample_kinds() {
  static const std::vector<std::string> kinds = {"unreadable file", "empty file", "truncated", "not an image",
                                                 "bad image size", "corrupt image"};
  return kinds;
}

EpochStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::string Loader::summary() const {
  const EpochStats s = stats();
  return "epoch " + std::to_string(s.epoch) + ": " + std::to_string(s.batches) + " batches, " +
         std::to_string(s.samples) + " samples, " + std::to_string(s.skipped) + " bad files skipped";
}

}  // namespace nkd::data
