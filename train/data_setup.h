// Datasets, pipelines and loaders from a DataConfig (Fashion-MNIST IDX files or the ImageNet
// folder layout). Missing paths fail here, before any training starts.
#pragma once
#include <memory>

#include "train/run_config.h"
#include "data/loader.h"

namespace nkd::train {

std::shared_ptr<const data::Dataset> make_dataset(const DataConfig& config, bool train);
std::shared_ptr<data::Pipeline> make_pipeline(const DataConfig& config, const PipelineConfig& p, int channels);
std::unique_ptr<data::Loader> make_loader(const RunConfig& config, bool train, uint64_t seed);

}  // namespace nkd::train
