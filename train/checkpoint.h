// Training checkpoints: one safetensors file with the model state (student./teacher./
// distill_losses. names, or plain classifier names), the optimizer state under "optimizer.", and
// metadata (epoch, iteration, seed, RNG offsets, the resolved config). Written atomically; the
// `latest.safetensors` link in the work dir is replaced atomically too. Read through
// io::load_checkpoint, so the format comes from the bytes (a .pth must carry the same metadata).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"

namespace nkd::train {

struct CheckpointState {
  layers::NamedTensors model, optimizer;  // optimizer names without the "optimizer." prefix
  int64_t epoch = 0;          // completed epochs
  int64_t iter = 0;           // completed iterations (global)
  int64_t iter_in_epoch = 0;  // iterations done in epoch `epoch` (0 at an epoch boundary)
  uint64_t seed = 0;
  std::vector<uint64_t> rng_offsets;
  std::map<std::string, std::string> extra;  // config, nets, ...
};

void save_checkpoint(const std::string& path, const CheckpointState& state);
CheckpointState load_checkpoint(const std::string& path);
// Points work_dir/latest.safetensors at `file` (a name inside work_dir), atomically.
void update_latest(const std::string& work_dir, const std::string& file);
// The checkpoints of work_dir to resume from, best first: the one `latest.safetensors` points to,
// then every other epoch_N / iter_N checkpoint, the most recently written first (`--resume auto`
// falls back along this list when a file cannot be loaded). Empty when there is none.
std::vector<std::string> resume_candidates(const std::string& work_dir);
// Deletes all but the `keep` highest-numbered epoch_N checkpoints of work_dir, and the iter_N
// checkpoints (interruption points) with N below `iter`, which a later epoch file supersedes.
void prune_checkpoints(const std::string& work_dir, int64_t keep, int64_t iter);
// The files of work_dir whose names start with `prefix` and end with ".safetensors".
std::vector<std::string> checkpoints_named(const std::string& work_dir, const std::string& prefix);

}  // namespace nkd::train
