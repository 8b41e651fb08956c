// Datasets, pipelines and loaders from a DataConfig (Fashion-MNIST IDX files, the ImageNet
// folder layout, or an mmcls ann_file list). Missing paths fail here, before any training starts.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "train/run_config.h"
#include "data/loader.h"

namespace nkd::train {

std::shared_ptr<const data::Dataset> make_dataset(const DataConfig& config, bool train);
std::shared_ptr<data::Pipeline> make_pipeline(const DataConfig& config, const PipelineConfig& p, int channels);
// Training loaders replace an unreadable sample (up to data.max_bad_fraction of an epoch), val
// loaders leave it out; `warn` gets each skipped file's line (null: stderr).
std::unique_ptr<data::Loader> make_loader(const RunConfig& config, bool train, uint64_t seed,
                                          std::function<void(const std::string&)> warn = nullptr);

}  // namespace nkd::train
