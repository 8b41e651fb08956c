// Checkpoint files (see checkpoint.h).
#include "apps/common/checkpoint.h"

#include <filesystem>
#include <sstream>

#include "engine/check.h"
#include "layers/safetensors.h"

namespace nkd::apps {
namespace fs = std::filesystem;

namespace {

int64_t meta_int(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  const auto it = meta.find(key);
  NKD_CHECK(it != meta.end(), "checkpoint '", path, "' has no '", key, "' metadata (not an nkd training checkpoint)");
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    NKD_FAIL("checkpoint '", path, "': metadata '", key, "' is not an integer: '", it->second, "'");
  }
}

}  // namespace

void save_checkpoint(const std::string& path, const CheckpointState& s) {
  layers::NamedTensors all = s.model;
  for (const auto& [k, v] : s.optimizer) all.emplace_back("optimizer." + k, v);
  std::map<std::string, std::string> meta = s.extra;
  meta["format"] = "nkd-train-checkpoint-1";
  meta["epoch"] = std::to_string(s.epoch);
  meta["iter"] = std::to_string(s.iter);
  meta["iter_in_epoch"] = std::to_string(s.iter_in_epoch);
  meta["seed"] = std::to_string(s.seed);
  std::string offsets;
  for (uint64_t o : s.rng_offsets) {
    if (!offsets.empty()) offsets += ',';
    offsets += std::to_string(o);
  }
  meta["rng_offsets"] = offsets;
  layers::save_safetensors(path, all, meta);
}

CheckpointState load_checkpoint(const std::string& path) {
  NKD_CHECK(fs::exists(path), "checkpoint '", path, "' does not exist");
  layers::Safetensors f = layers::load_safetensors(path);
  CheckpointState s;
  for (auto& [k, v] : f.tensors) {
    if (k.rfind("optimizer.", 0) == 0) s.optimizer.emplace_back(k.substr(10), v);
    else s.model.emplace_back(k, v);
  }
  s.epoch = meta_int(f.metadata, "epoch", path);
  s.iter = meta_int(f.metadata, "iter", path);
  s.iter_in_epoch = meta_int(f.metadata, "iter_in_epoch", path);
  s.seed = uint64_t(meta_int(f.metadata, "seed", path));
  std::stringstream ss(f.metadata["rng_offsets"]);
  for (std::string o; std::getline(ss, o, ',');) s.rng_offsets.push_back(std::stoull(o));
  s.extra = f.metadata;
  return s;
}

void update_latest(const std::string& work_dir, const std::string& file) {
  const fs::path link = fs::path(work_dir) / "latest.safetensors";
  const fs::path tmp = fs::path(work_dir) / "latest.safetensors.tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(file, tmp);
  fs::rename(tmp, link);  // atomic replace
}

std::string find_latest(const std::string& work_dir) {
  const fs::path link = fs::path(work_dir) / "latest.safetensors";
  std::error_code ec;
  if (!fs::exists(link, ec)) return "";
  return link.string();
}

}  // namespace nkd::apps
