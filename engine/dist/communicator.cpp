// Launch-environment detection, the backend choice and the error teardown (see communicator.h).
#include "engine/dist/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "engine/check.h"
#include "engine/dist/backends.h"

namespace nkd::dist {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  NKD_CHECK(end && *end == '\0' && x >= 0 && x < (1 << 24), "environment variable ", name, "='", v,
            "' is not a non-negative integer");
  return int(x);
}

std::mutex g_live_mu;
std::vector<Communicator*>& live() {
  static std::vector<Communicator*> v;
  return v;
}

}  // namespace

std::vector<double> Communicator::all_reduce_values(const std::vector<double>& mine, ReduceOp op) {
  const std::vector<double> all = all_gather(mine);
  std::vector<double> out(mine.size(), op == ReduceOp::kMax ? -1e308 : 0.0);
  for (int r = 0; r < world_size(); ++r)
    for (size_t i = 0; i < mine.size(); ++i) {
      const double v = all[size_t(r) * mine.size() + i];
      out[i] = op == ReduceOp::kMax ? std::max(out[i], v) : out[i] + v;
    }
  if (op == ReduceOp::kAvg)
    for (double& v : out) v /= double(world_size());
  return out;
}

LaunchEnv detect_launch_env() {
  LaunchEnv e;
  if (env("WORLD_SIZE") && env("RANK")) {  // torchrun, or nkd's own --gpus spawner
    e.launcher = env("NKD_LAUNCHER") ? env("NKD_LAUNCHER") : "torchrun";
    e.rank = env_int("RANK", 0);
    e.world = env_int("WORLD_SIZE", 1);
    e.local_rank = env_int("LOCAL_RANK", e.rank);
    e.local_world = env_int("LOCAL_WORLD_SIZE", e.world);
  } else if (env("OMPI_COMM_WORLD_SIZE")) {
    e.launcher = "mpirun";
    e.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    e.world = env_int("OMPI_COMM_WORLD_SIZE", 1);
    e.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    e.local_world = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (env("SLURM_PROCID") && env("SLURM_NTASKS") && env("SLURM_STEP_ID")) {  // inside srun
    e.launcher = "slurm";
    e.rank = env_int("SLURM_PROCID", 0);
    e.world = env_int("SLURM_NTASKS", 1);
    e.local_rank = env_int("SLURM_LOCALID", 0);
    e.local_world = env_int("SLURM_NTASKS_PER_NODE", 1);
  }
  e.mpi = env("OMPI_COMM_WORLD_SIZE") != nullptr || env("PMIX_RANK") != nullptr;
  if (env("MASTER_ADDR")) e.master_addr = env("MASTER_ADDR");
  e.master_port = env_int("MASTER_PORT", 29500);
  NKD_CHECK(e.world >= 1 && e.rank < e.world && e.local_rank < std::max(e.world, 1), "launch environment (",
            e.launcher, "): rank ", e.rank, " / local rank ", e.local_rank, " outside a world of ", e.world);
  return e;
}

double timeout_seconds() {
  const char* v = env("NKD_DIST_TIMEOUT");
  if (!v) return 600.0;
  char* end = nullptr;
  const double t = std::strtod(v, &end);
  NKD_CHECK(end && *end == '\0' && t > 0, "NKD_DIST_TIMEOUT='", v, "' must be a positive number of seconds");
  return t;
}

std::unique_ptr<Communicator> make_communicator(const LaunchEnv& e, Device device) {
  if (device.is_cuda()) return detail::make_nccl(e, device);
  NKD_CHECK(e.mpi, "a CPU data-parallel run communicates through MPI: start it with mpirun -np N (",
            e.launcher.empty() ? "no launcher" : e.launcher, " was detected); --gpus N and torchrun need CUDA devices");
  return detail::make_mpi(e);
}

void abort_all(int code) noexcept {
  std::vector<Communicator*> copy;
  {
    std::lock_guard<std::mutex> lock(g_live_mu);
    copy = live();
  }
  for (Communicator* c : copy) c->abort();
  detail::mpi_abort(code);
}

void finalize() { detail::mpi_finalize(); }

std::string new_nccl_unique_id() { return detail::nccl_unique_id_hex(); }

namespace detail {
void register_live(Communicator* c) {
  std::lock_guard<std::mutex> lock(g_live_mu);
  live().push_back(c);
}
void unregister_live(Communicator* c) {
  std::lock_guard<std::mutex> lock(g_live_mu);
  auto& v = live();
  v.erase(std::remove(v.begin(), v.end(), c), v.end());
}
}  // namespace detail

}  // namespace nkd::dist
