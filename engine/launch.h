// The one way to run an NKD_HD kernel functor f(i), i in [0, n), on either device: a plain loop
// (cpu::launch) on the host, the same functor as a CUDA kernel on the device's compute stream.
// Ops, losses and optimizers all launch through here. The GPU branch is compiled out by the
// language (if constexpr on kBuiltWithCuda), so a build without CUDA needs no definition of the
// gpu:: launchers; in a CUDA build each functor type a .cpp launches is instantiated once in a .cu
// file of its family with NKD_GPU_LAUNCHABLE or NKD_GPU_VEC_LAUNCHABLE
// (engine/cuda/launch_functor.cuh).
#pragma once
#include <algorithm>
#include <cstdint>

#include "engine/check.h"
#include "engine/config.h"
#include "engine/cpu/parallel.h"
#include "engine/device.h"
#include "engine/row_team.h"

namespace nkd {

namespace gpu {
// Queue f over [0, n) on `device`'s compute stream and return at once; check the launch.
// launch_flat: 256-thread blocks, grid-stride loop. launch_rows: 64-thread blocks, one thread per
// row (few, heavy indices spread over the SMs), or one team per row for a functor with a team form
// (RowTeams below). Declared here, defined in launch_functor.cuh.
template <typename F>
void launch_flat(Device device, int64_t n, const F& f);
template <typename F>
void launch_rows(Device device, int64_t n, int64_t cols, const F& f);
// f.template run<V>(i) over groups of V = kVecOf<T> elements (16-byte Packs) when `aligned`, else
// V = 1 (engine/cuda/launch.cuh, cuda::launch_vec).
template <typename T, typename F>
void launch_vec(Device device, int64_t n, const F& f, bool aligned);
}  // namespace gpu

// A row functor with a team form (engine/row_team.h): f.row(team, r).
template <typename F>
concept RowTeamFunctor = requires(const F& f, int64_t r) { f.row(SerialRow{}, r); };

// How launch_rows runs a functor with a team form over rows of `cols` columns. On a GPU: one thread
// per row below min_cols, a warp per row from min_cols, a 256-thread block per row from
// block_min_cols. On the CPU: one thread walks each row (SerialRow, the plain loop) unless
// cpu_lanes is 32 or 256: then each row runs LanesRow<cpu_lanes>, the GPU team's partition and
// combine order on the CPU (for tests; it never changes a run's arithmetic otherwise). Process-wide;
// row_teams() is read at each launch.
struct RowTeams {
  int64_t min_cols = 64;
  int64_t block_min_cols = 512;
  int cpu_lanes = 0;
};
RowTeams row_teams();
void set_row_teams(const RowTeams& teams);  // throws unless cpu_lanes is 0, 32 or 256

// Sets the row teams for a scope and restores the previous ones after it (tests, benchmarks).
class RowTeamsGuard {
 public:
  explicit RowTeamsGuard(const RowTeams& teams) : previous_(row_teams()) { set_row_teams(teams); }
  ~RowTeamsGuard() { set_row_teams(previous_); }
  RowTeamsGuard(const RowTeamsGuard&) = delete;
  RowTeamsGuard& operator=(const RowTeamsGuard&) = delete;

 private:
  RowTeams previous_;
};

// Throws "<what>: <device> tensors need a CUDA build (nkd was built without CUDA)".
[[noreturn]] void fail_without_cuda(const char* what, Device device);

// f(i) for i in [0, n) on `device`; on the CPU, chunks of at least `grain` indices per thread.
template <typename F>
void launch(Device device, int64_t n, const F& f, int64_t grain = cpu::kGrain) {
  if (device.is_cpu()) return cpu::launch(n, f, grain);
  if constexpr (kBuiltWithCuda) {
    gpu::launch_flat(device, n, f);
  } else {
    fail_without_cuda("kernel launch", device);
  }
}

// f(r) for r in [0, rows) on `device`, where each index walks a row of `cols` elements: on the
// CPU the grain is scaled so a thread gets about cpu::kGrain elements; on the GPU one thread a row,
// or, for a functor with a team form, one warp or block a row from RowTeams' sizes.
template <typename F>
void launch_rows(Device device, int64_t rows, int64_t cols, const F& f) {
  if (device.is_cpu()) {
    const int64_t grain = std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(cols, 1));
    if constexpr (RowTeamFunctor<F>) {
      const int lanes = row_teams().cpu_lanes;
      if (lanes == 32) return cpu::launch(rows, [&f](int64_t r) { f.row(LanesRow<32>{}, r); }, grain);
      if (lanes == 256) return cpu::launch(rows, [&f](int64_t r) { f.row(LanesRow<256>{}, r); }, grain);
    }
    return cpu::launch(rows, f, grain);
  }
  if constexpr (kBuiltWithCuda) {
    gpu::launch_rows(device, rows, cols, f);
  } else {
    fail_without_cuda("kernel launch", device);
  }
}

// A contiguous pointwise functor over [0, n) on `device`: f(i) on the CPU (cpu::launch); on the GPU
// f.template run<V>(i) writes elements [i, i + V) with one 16-byte Pack (engine/pack.h) per
// operand when `aligned` (every operand's pointer passes aligned16), one element at a time else.
template <typename T, typename F>
void launch_vec(Device device, int64_t n, const F& f, bool aligned) {
  if (device.is_cpu()) return cpu::launch(n, f);
  if constexpr (kBuiltWithCuda) {
    gpu::launch_vec<T>(device, n, f, aligned);
  } else {
    fail_without_cuda("kernel launch", device);
  }
}

}  // namespace nkd
