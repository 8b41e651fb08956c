// The error of a GPU launch in a build without CUDA, and the process-wide RowTeams (engine/launch.h).
#include "engine/launch.h"

#include <atomic>

namespace nkd {

void fail_without_cuda(const char* what, Device device) {
  NKD_FAIL(what, ": ", device.str(), " tensors need a CUDA build (nkd was built without CUDA)");
}

namespace {
std::atomic<int64_t> g_min_cols{RowTeams{}.min_cols};
std::atomic<int64_t> g_block_min_cols{RowTeams{}.block_min_cols};
std::atomic<int> g_cpu_lanes{RowTeams{}.cpu_lanes};
}  // namespace

RowTeams row_teams() {
  return {g_min_cols.load(std::memory_order_relaxed), g_block_min_cols.load(std::memory_order_relaxed),
          g_cpu_lanes.load(std::memory_order_relaxed)};
}

void set_row_teams(const RowTeams& teams) {
  NKD_CHECK(teams.cpu_lanes == 0 || teams.cpu_lanes == 32 || teams.cpu_lanes == 256,
            "set_row_teams: cpu_lanes must be 0, 32 or 256, got ", teams.cpu_lanes);
  g_min_cols.store(teams.min_cols, std::memory_order_relaxed);
  g_block_min_cols.store(teams.block_min_cols, std::memory_order_relaxed);
  g_cpu_lanes.store(teams.cpu_lanes, std::memory_order_relaxed);
}

}  // namespace nkd
