// Checkpoint files (see checkpoint.h).
#include "train/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <utility>

#include "engine/check.h"
#include "io/checkpoint.h"

namespace nkd::train {
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
  io::CheckpointWriteOptions options;
  options.metadata = std::move(meta);
  io::save_checkpoint(path, all, options);
}

CheckpointState load_checkpoint(const std::string& path) {
  NKD_CHECK(fs::exists(path), "checkpoint '", path, "' does not exist");
  io::Checkpoint f = io::load_checkpoint(path);  // safetensors (CRC-checked) or .pth
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

std::vector<std::string> resume_candidates(const std::string& work_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path link = fs::path(work_dir) / "latest.safetensors";
  fs::path target;
  if (fs::exists(link, ec)) {
    out.push_back(link.string());
    target = fs::canonical(link, ec);
  }
  std::vector<std::pair<fs::file_time_type, std::string>> others;
  for (const char* prefix : {"epoch_", "iter_"})
    for (const std::string& p : checkpoints_named(work_dir, prefix))
      if (!fs::equivalent(p, target, ec)) others.emplace_back(fs::last_write_time(p, ec), p);
  std::sort(others.begin(), others.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second > b.second;
  });
  for (const auto& [time, path] : others) out.push_back(path);
  return out;
}

std::vector<std::string> checkpoints_named(const std::string& work_dir, const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(work_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(prefix) && name.ends_with(".safetensors") && e.is_regular_file(ec))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
// N of "<prefix>N.safetensors", or -1.
int64_t number_in(const std::string& path, const std::string& prefix) {
  const std::string name = fs::path(path).filename().string();
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - std::strlen(".safetensors"));
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}
}  // namespace

void prune_checkpoints(const std::string& work_dir, int64_t keep, int64_t iter) {
  std::vector<std::pair<int64_t, std::string>> epochs;
  for (const std::string& p : checkpoints_named(work_dir, "epoch_"))
    if (const int64_t n = number_in(p, "epoch_"); n >= 0) epochs.emplace_back(n, p);
  std::sort(epochs.rbegin(), epochs.rend());
  std::error_code ec;
  for (size_t i = static_cast<size_t>(std::max<int64_t>(keep, 0)); i < epochs.size(); ++i)
    fs::remove(epochs[i].second, ec);
  for (const std::string& p : checkpoints_named(work_dir, "iter_"))
    if (const int64_t n = number_in(p, "iter_"); n >= 0 && n < iter) fs::remove(p, ec);
}

}  // namespace nkd::train
