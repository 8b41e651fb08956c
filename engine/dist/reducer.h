// Data-parallel gradient reduction (the DDP reducer): the parameters' gradients are copied into
// contiguous flat buckets (about 25 MB; the first, which backward fills first, small), and each
// bucket is all-reduced (averaged over ranks) as soon as backward has produced all of its
// gradients, so communication overlaps the rest of the backward. Plus the start-of-run broadcast
// of parameters and buffers from rank 0.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/dist/communicator.h"

namespace nkd::dist {

struct ReducerOptions {
  int64_t bucket_bytes = int64_t(25) << 20;       // PyTorch DDP's bucket_cap_mb = 25
  int64_t first_bucket_bytes = int64_t(1) << 20;  // DDP's first bucket: 1 MB, so the first all-reduce starts early
};

struct BucketInfo {
  int64_t params = 0, bytes = 0;
};

// The bucket layout for parameters of these sizes and dtypes (PyTorch DDP's rule): filled in reverse
// order (the order backward produces gradients); a bucket closes as soon as it holds at least its
// cap (first_bucket_bytes for the first, bucket_bytes after), or when the dtype changes. Returns,
// per bucket, the parameter indices in the order they are laid out.
std::vector<std::vector<size_t>> plan_buckets(const std::vector<int64_t>& param_bytes,
                                              const std::vector<DType>& dtypes, const ReducerOptions& options);
// The same rule over an explicit parameter order (the order gradients became ready).
std::vector<std::vector<size_t>> plan_buckets_in_order(const std::vector<size_t>& order,
                                                       const std::vector<int64_t>& param_bytes,
                                                       const std::vector<DType>& dtypes, const ReducerOptions& options);

class Reducer {
 public:
  // params: leaves that require grad, all on comm.device(), in registration order. Installs a
  // post-accumulate hook on each; the hooks are removed in the destructor.
  Reducer(Communicator& comm, std::vector<Tensor> params, ReducerOptions options = {});
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Call after each backward, before the optimizer: launches the buckets not launched yet (a
  // gradient this rank did not produce counts as zeros), waits for every bucket (NCCL: the compute
  // stream waits; MPI: the host) and sets each parameter's .grad to its averaged gradient, a view
  // into its bucket. After the first step the buckets are rebuilt in the order rank 0's gradients
  // became ready (parameters without a gradient last), as DDP does; a collective, on every rank.
  void finalize();

  std::vector<BucketInfo> buckets() const;
  // Called with the bucket index just before each bucket's all-reduce is launched (profiling).
  void set_launch_observer(std::function<void(size_t bucket)> observer) { observer_ = std::move(observer); }
  int64_t launched_during_backward() const { return early_last_; }  // buckets, in the last step

 private:
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;  // elements into the bucket
    bool ready = false;
  };
  struct Bucket {
    Tensor flat;  // [numel of its params], the parameters' dtype, on the device
    std::vector<size_t> params;
    size_t pending = 0;
    std::unique_ptr<Work> work;
  };
  void build(const std::vector<std::vector<size_t>>& plan);
  void rebuild_from_first_step();
  void on_grad(size_t param, const Tensor& grad);
  void launch_ready();
  void launch(Bucket& b);

  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<Slot> slots_;
  ReducerOptions options_;
  std::vector<int64_t> bytes_;
  std::vector<DType> dtypes_;
  std::vector<size_t> ready_order_;  // first step: parameter indices in the order their gradients came
  bool rebuilt_ = false;
  std::vector<Bucket> buckets_;
  std::vector<size_t> hook_handles_;
  size_t next_launch_ = 0;
  bool in_finalize_ = false;
  int64_t launched_early_ = 0, early_last_ = 0;
  std::function<void(size_t)> observer_;
};

// Every rank receives root's values of `tensors` (parameters and buffers, at the start of a run).
void broadcast_tensors(Communicator& comm, const std::vector<Tensor>& tensors, int root = 0);

}  // namespace nkd::dist
