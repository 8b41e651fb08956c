// Collectives across the processes of a data-parallel job: the Communicator interface (all_reduce
// sum/avg/max, broadcast, all_gather of small host values, barrier), the launch environment (mpirun,
// Slurm, torchrun variables, nkd's own --gpus spawner) and the factory that picks the backend: MPI
// for CPU tensors (mpi_communicator.cpp), NCCL for CUDA tensors (nccl_communicator.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace nkd::dist {

enum class ReduceOp { kSum, kAvg, kMax };

// A collective in flight. wait() orders what follows after it: MPI blocks the host until it is done
// (polling, with the timeout); NCCL makes the compute stream wait for it (no host synchronisation).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual const char* backend() const = 0;  // "mpi" or "nccl"
  virtual Device device() const = 0;        // where its tensors live

  // In place on every rank; t is contiguous and on device(). kAvg divides the sum by world_size().
  virtual std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) = 0;
  void all_reduce(const Tensor& t, ReduceOp op) { all_reduce_async(t, op)->wait(); }
  // t (contiguous, on device()) receives root's values on every rank.
  virtual void broadcast(const Tensor& t, int root) = 0;
  // SYNC: every rank's `mine` (the same length everywhere), concatenated in rank order.
  virtual std::vector<double> all_gather(const std::vector<double>& mine) = 0;
  virtual void barrier() = 0;  // SYNC
  // Tears the communicator down so that no rank blocks in it any more (after an error).
  virtual void abort() noexcept = 0;

  // SYNC: small host values reduced element-wise across ranks (built on all_gather).
  std::vector<double> all_reduce_values(const std::vector<double>& mine, ReduceOp op);
};

// How this process was started. world == 1 and launcher "" for a plain single-process run.
struct LaunchEnv {
  int rank = 0, world = 1, local_rank = 0, local_world = 1;
  std::string launcher;      // "mpirun", "slurm", "torchrun", "nkd --gpus" or ""
  bool mpi = false;          // started by an MPI launcher (OpenMPI's mpirun, or srun with PMIx)
  std::string master_addr;   // MASTER_ADDR (torchrun, Slurm), for NCCL_COMM_ID
  int master_port = 0;       // MASTER_PORT
  bool distributed() const { return world > 1 || !launcher.empty(); }
};

// Reads RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT (torchrun and `--gpus N`), then
// OMPI_COMM_WORLD_* (mpirun), then SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID (srun). Throws on
// malformed values (a rank outside the world).
LaunchEnv detect_launch_env();

bool built_with_mpi();
// Seconds a collective may wait for its peers before the run fails: NKD_DIST_TIMEOUT, default 600.
double timeout_seconds();

// The communicator for `device`: NCCL for a CUDA device, MPI for the CPU. Throws a clear error when
// the backend is missing from this build or cannot work with this launcher (a CPU run needs
// mpirun; NCCL needs a unique id: from MPI, from the --gpus spawner, or NCCL_COMM_ID/MASTER_ADDR).
std::unique_ptr<Communicator> make_communicator(const LaunchEnv& env, Device device);

// A fresh NCCL unique id as hex, handed to the workers of `--gpus N` in NKD_NCCL_UNIQUE_ID. NCCL's
// bootstrap root runs in the calling process, which must live until the workers have connected.
std::string new_nccl_unique_id();

// After an error: aborts every live communicator and, when MPI is initialised, MPI_Abort(code)
// (which ends all ranks of the job). Returns only when there is nothing to abort.
void abort_all(int code) noexcept;
// At a normal exit: MPI_Finalize when MPI was initialised (no-op otherwise).
void finalize();

}  // namespace nkd::dist
