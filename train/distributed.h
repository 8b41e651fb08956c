// Data-parallel runs of the apps: the process group of this run (set up from the launcher's
// environment: mpirun, srun, torchrun variables, or nkd's own `--gpus N` spawner), the device of
// this rank, the gradient reducer for the trainer, and the helpers that make logging, checkpoints
// and evaluation rank-aware. In a single-process run every helper is a cheap no-op.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "train/evaluate.h"
#include "engine/dist/communicator.h"
#include "engine/dist/reducer.h"

namespace nkd::train {

// Sets up the process group when a launcher started this process and returns the device this rank
// uses: `device_flag` as --device gives it, except that "auto" and "cuda" mean cuda:LOCAL_RANK in a
// distributed run (and "auto" means the CPU, over MPI, when there is no GPU). Prints one line on
// rank 0 ("distributed: 8 ranks (mpirun), backend nccl, rank 0 on cuda:0").
Device init_distributed(const std::string& device_flag);
dist::Communicator* communicator();  // null in a single-process run
int dist_rank();
int dist_world();
bool is_main_rank();  // rank 0 (always true in a single-process run): logs, checkpoints, result.json
// At a normal exit: tears the process group down (MPI_Finalize).
void shutdown_distributed();

// `nkd_distill --gpus N ...`: runs N copies of this program (the same arguments without --gpus)
// with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE and NKD_NCCL_UNIQUE_ID set, waits for them,
// and returns the first non-zero exit code; when a worker fails, the others get SIGTERM and, after
// 30 s, SIGKILL. Needs N CUDA devices.
int spawn_workers(int n, int argc, char** argv);
// Removes "--gpus N" / "--gpus=N" from argv (in place) and returns N (0 when absent).
int take_gpus_flag(int& argc, char** argv);

// The trainer's data-parallel step: broadcasts `state` (parameters and buffers) from rank 0, then
// reduces the gradients of `params` in buckets during backward.
class DataParallel {
 public:
  DataParallel(dist::Communicator& comm, std::vector<Tensor> params, const std::vector<Tensor>& state);
  ~DataParallel();
  void after_backward() { reducer_.finalize(); }  // before clipping and the optimizer step
  // SYNC: per-rank host values averaged over ranks (the logged losses, the NaN check).
  std::vector<double> average(const std::vector<double>& values) {
    return comm_.all_reduce_values(values, dist::ReduceOp::kAvg);
  }
  // Once per step on every rank: queues an all-reduce (max) of this step's local stop flag and
  // returns the previous step's result (false at the first call). Reading one step late lets the
  // host read a collective the device finished while it runs the current step, instead of waiting
  // for the current step itself; every rank gets the same answer at the same step.
  bool stop_agreed(bool local_stop);
  std::string summary() const;  // "data parallel: 2 ranks (mpirun, mpi), 3 gradient buckets: 1.0, 25.0, 19.7 MB"

 private:
  dist::Communicator& comm_;
  dist::Reducer reducer_;
  Tensor stop_flag_;  // the last step's flag, its all-reduce in flight
  std::unique_ptr<dist::Work> stop_work_;
};

// For evaluation over the ranks: the number of this rank's images that are real (the sampler pads
// every rank to ceil(size / world) by repeating the first images), and the sum of the per-rank
// counts. `counts` = {images, correct top-k...}; returns the totals over all ranks.
int64_t real_images_of_rank(int64_t dataset_size);
std::vector<int64_t> sum_over_ranks(const std::vector<int64_t>& counts);
// Sums images, skipped and correct counts of a per-rank evaluation over the ranks (the skipped
// samples list stays per rank); recomputes the accuracy.
void combine_over_ranks(EvalResult& r);

}  // namespace nkd::train
