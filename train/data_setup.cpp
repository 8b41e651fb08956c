// Builds datasets, pipelines and loaders from the config (see data_setup.h).
#include "train/data_setup.h"

#include <filesystem>

#include "train/distributed.h"
#include "data/idx_dataset.h"
#include "data/image_folder.h"
#include "data/pipeline.h"
#include "engine/check.h"

namespace nkd::train {
namespace {

// The first `n` samples of another dataset (data.train_limit / data.val_limit).
class Subset final : public data::Dataset {
 public:
  Subset(std::shared_ptr<const data::Dataset> inner, int64_t n) : inner_(std::move(inner)), n_(n) {}
  int64_t size() const override { return n_; }
  int64_t label(int64_t i) const override { return inner_->label(i); }
  int64_t num_classes() const override { return inner_->num_classes(); }
  std::string describe(int64_t i) const override { return inner_->describe(i); }
  data::Sample load(int64_t i) const override { return inner_->load(i); }

 private:
  std::shared_ptr<const data::Dataset> inner_;
  int64_t n_;
};

// A split without ann_file needs the ImageNet layout: root/<split>/ (class folders, or the images of
// root/meta/<split>.txt); the error says so and names the mmcls keys for a list elsewhere.
std::shared_ptr<const data::Dataset> imagenet_split(const DataConfig& d, bool train) {
  const std::string split = train ? d.train_split : d.val_split;
  if (std::filesystem::is_directory(d.root + "/" + split))
    return std::make_shared<data::ImageFolder>(data::ImageFolder::imagenet(d.root, split));
  const char* key = train ? "train" : "val";
  NKD_FAIL("data.", key, "_split '", split, "' fits no dataset layout under data.root '", d.root,
           "': the ImageNet layout expects the folder ", d.root, "/", split, "/ (class folders, or the images of ",
           d.root, "/meta/", split, ".txt); for a list file elsewhere set data.", key,
           ".ann_file (its `path label` lines) and data.", key, ".data_prefix (the folder those paths start from), "
           "as in mmcls");
}

}  // namespace

std::shared_ptr<const data::Dataset> make_dataset(const DataConfig& config, bool train) {
  std::shared_ptr<const data::Dataset> ds;
  if (config.type == "fashion_mnist")
    ds = std::make_shared<data::IdxDataset>(data::IdxDataset::fashion_mnist(config.root, train));
  else if (const SplitFiles& f = train ? config.train_files : config.val_files; !f.ann_file.empty())
    ds = std::make_shared<data::ImageFolder>(data::ImageFolder::from_list(f.data_prefix, f.ann_file));
  else
    ds = imagenet_split(config, train);
  const int64_t limit = train ? config.train_limit : config.val_limit;
  if (limit > 0 && limit < ds->size()) ds = std::make_shared<Subset>(ds, limit);
  return ds;
}

std::shared_ptr<data::Pipeline> make_pipeline(const DataConfig& config, const PipelineConfig& p, int channels) {
  using namespace data;
  const Filter filter = p.filter == "bicubic" ? Filter::kBicubic : Filter::kBilinear;
  const ResizeBackend backend = p.backend == "cv2" ? ResizeBackend::kCv2 : ResizeBackend::kPillow;
  std::shared_ptr<Pipeline> out;
  if (p.type == "pad_crop_flip" || p.type == "center") {
    out = std::make_shared<PadCropFlip>(PadCropOptions{
        .size = p.size, .pad = p.pad, .channels = channels, .flip = p.flip, .random = p.type == "pad_crop_flip"});
  } else if (p.type == "random_resized_crop") {
    ImagenetTrainOptions o;
    o.size = p.size;
    o.filter = filter;
    o.backend = backend;
    o.crop.scale_lo = p.scale_lo;
    o.crop.scale_hi = p.scale_hi;
    o.flip = p.flip;
    out = std::make_shared<ImagenetTrain>(o);
  } else if (p.type == "swin") {
    out = swin_train();
  } else {
    out = std::make_shared<ImagenetTest>(
        ImagenetTestOptions{.resize = p.resize, .size = p.size, .filter = filter, .backend = backend});
  }
  out->decode.exif_orientation = p.exif_orientation;
  NKD_CHECK(out->channels() == channels, "data pipeline '", p.type, "' gives ", out->channels(),
            " channels, the model expects in_channels = ", channels);
  if (!config.mean.empty()) {
    NKD_CHECK(int(config.mean.size()) == channels, "data.mean has ", config.mean.size(),
              " entries, the images have ", channels, " channels");
    out->normalization.mean.assign(config.mean.begin(), config.mean.end());
    out->normalization.std.assign(config.std.begin(), config.std.end());
  }
  return out;
}

std::unique_ptr<data::Loader> make_loader(const RunConfig& config, bool train, uint64_t seed,
                                          std::function<void(const std::string&)> warn) {
  const DataConfig& d = config.data;
  auto dataset = make_dataset(d, train);
  NKD_CHECK(dataset->size() > 0, "dataset '", d.root, "' (", train ? "train" : "val", ") holds no images");
  NKD_CHECK(dataset->num_classes() <= config.student.options.num_classes, "dataset '", d.root, "' has ",
            dataset->num_classes(), " classes, the model only ", config.student.options.num_classes);
  const int channels = int(config.student.options.in_channels);
  auto pipeline = make_pipeline(d, train ? d.train : d.val, channels);
  data::LoaderOptions o;
  o.batch_size = train || d.val_batch_size == 0 ? d.batch_size : d.val_batch_size;
  o.workers = d.workers;
  o.shuffle = train;
  o.drop_last = false;
  o.replace_bad = train;  // evaluation scores only what it read
  o.max_bad_fraction = train ? d.max_bad_fraction : -1.0;
  o.warn = std::move(warn);
  o.seed = seed;
  o.rank = dist_rank();  // data parallel: this rank's shard (padded to a multiple of the world)
  o.world = dist_world();
  if (train && d.mix)
    o.mix = data::MixOptions{
        .mixup_alpha = d.mixup_alpha, .cutmix_alpha = d.cutmix_alpha, .cutmix_prob = d.cutmix_prob};
  return std::make_unique<data::Loader>(dataset, pipeline, o);
}

}  // namespace nkd::train
