// The NCCL backend for CUDA tensors. Collectives run on the communicator's own stream, ordered
// against the device's compute stream with events in both directions (no host synchronisation).
// The communicator is non-blocking (ncclConfig_t.blocking = 0): initialisation and enqueueing are
// polled with the timeout, and a watchdog thread polls ncclCommGetAsyncError and the completion
// event of every collective in flight; on an NCCL error or a collective older than
// NKD_DIST_TIMEOUT seconds it prints the reason, aborts the communicator and ends the process
// (exit 1), so no rank hangs when a peer died. Unique id: from the --gpus spawner
// (NKD_NCCL_UNIQUE_ID), broadcast over MPI (mpirun), or NCCL_COMM_ID = MASTER_ADDR:MASTER_PORT.
#include <nccl.h>

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "engine/cuda/check.h"
#include "engine/cuda/context.h"
#include "engine/cuda/device.h"
#include "engine/dist/backends.h"

namespace nkd::dist {
namespace {

using Clock = std::chrono::steady_clock;

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::F16: return ncclFloat16;
    case DType::BF16: return ncclBfloat16;
    case DType::I64: return ncclInt64;
    case DType::I32: return ncclInt32;
    case DType::U8: return ncclUint8;
  }
  NKD_FAIL("nccl: unsupported dtype");
}

std::string to_hex(const ncclUniqueId& id) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < sizeof(id.internal); ++i) {
    const auto b = static_cast<unsigned char>(id.internal[i]);
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

ncclUniqueId from_hex(const std::string& s) {
  ncclUniqueId id;
  NKD_CHECK(s.size() == 2 * sizeof(id.internal), "NKD_NCCL_UNIQUE_ID has ", s.size(), " hex digits, expected ",
            2 * sizeof(id.internal));
  for (size_t i = 0; i < sizeof(id.internal); ++i) id.internal[i] = char(std::stoi(s.substr(2 * i, 2), nullptr, 16));
  return id;
}

ncclUniqueId bootstrap_id(const LaunchEnv& env) {
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (const char* hex = std::getenv("NKD_NCCL_UNIQUE_ID")) return from_hex(hex);
  if (env.mpi && built_with_mpi()) {
    if (env.rank == 0) NKD_NCCL_CHECK(ncclGetUniqueId(&id));
    detail::mpi_broadcast_bytes(&id, sizeof(id), 0);
    return id;
  }
  if (!std::getenv("NCCL_COMM_ID")) {
    NKD_CHECK(!env.master_addr.empty() || env.world == 1, "nccl: rank ", env.rank, " of ", env.world, " (",
              env.launcher, ") has no way to find its peers: set MASTER_ADDR and MASTER_PORT (torchrun variables) or "
              "NCCL_COMM_ID=host:port, or start it with mpirun");
    if (!env.master_addr.empty()) {
      const std::string comm_id = env.master_addr + ":" + std::to_string(env.master_port);
      setenv("NCCL_COMM_ID", comm_id.c_str(), 1);
    }
  }
  NKD_NCCL_CHECK(ncclGetUniqueId(&id));  // with NCCL_COMM_ID every rank derives the same id
  return id;
}

struct Pending {
  std::shared_ptr<cuda::Event> done;
  Clock::time_point start;
  const char* what;
};

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<cuda::Event> done, cudaStream_t compute, Tensor t)
      : done_(std::move(done)), compute_(compute), t_(std::move(t)) {}
  void wait() override {
    if (!done_) return;
    done_->block(compute_);  // the compute stream waits; the host does not
    done_.reset();
    t_ = Tensor();
  }

 private:
  std::shared_ptr<cuda::Event> done_;
  cudaStream_t compute_;
  Tensor t_;  // alive until the compute stream is ordered after the collective
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const LaunchEnv& env, Device device) : device_(device), rank_(env.rank), world_(env.world) {
    cuda::init(device);
    cuda::DeviceGuard guard(device.index);
    compute_ = cuda::context(device.index).compute_stream();
    stream_ = cuda::Stream(device.index);
    timeout_ = timeout_seconds();
    const ncclUniqueId id = bootstrap_id(env);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    call(ncclCommInitRankConfig(&comm_, world_, id, rank_, &config), "ncclCommInitRankConfig");
    detail::register_live(this);
    watchdog_ = std::thread([this] { watch(); });
  }

  ~NcclCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    detail::unregister_live(this);
    if (!comm_ || aborted_) return;
    cuda::DeviceGuard guard(device_.index);
    ncclResult_t r = ncclCommFinalize(comm_);
    for (auto t0 = Clock::now(); r == ncclInProgress && seconds_since(t0) < timeout_;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ncclCommGetAsyncError(comm_, &r);
    }
    if (r == ncclSuccess) ncclCommDestroy(comm_);
    else ncclCommAbort(comm_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  const char* backend() const override { return "nccl"; }
  Device device() const override { return device_; }

  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce");
    const ncclRedOp_t rop = op == ReduceOp::kSum ? ncclSum : op == ReduceOp::kAvg ? ncclAvg : ncclMax;
    cuda::DeviceGuard guard(device_.index);
    order_after_compute();
    call(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t.dtype()), rop, comm_, stream_.get()),
         "ncclAllReduce");
    return std::make_unique<NcclWork>(finish("all_reduce"), compute_, t);
  }

  void broadcast(const Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    cuda::DeviceGuard guard(device_.index);
    order_after_compute();
    call(ncclBroadcast(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t.dtype()), root, comm_,
                       stream_.get()),
         "ncclBroadcast");
    NcclWork(finish("broadcast"), compute_, t).wait();
  }

  std::vector<double> all_gather(const std::vector<double>& mine) override {
    check_alive();
    cuda::DeviceGuard guard(device_.index);
    const size_t n = mine.size(), bytes = n * sizeof(double);
    std::vector<double> all(n * size_t(world_));
    void* buf = nullptr;  // [world, n] on the device
    NKD_CUDA_CHECK(cudaMallocAsync(&buf, bytes * size_t(world_) + 8, stream_.get()));
    double* d = static_cast<double*>(buf);
    NKD_CUDA_CHECK(cudaMemcpyAsync(d + size_t(rank_) * n, mine.data(), bytes, cudaMemcpyHostToDevice, stream_.get()));
    call(ncclAllGather(d + size_t(rank_) * n, d, n, ncclFloat64, comm_, stream_.get()), "ncclAllGather");
    NKD_CUDA_CHECK(cudaMemcpyAsync(all.data(), d, bytes * size_t(world_), cudaMemcpyDeviceToHost, stream_.get()));
    NKD_CUDA_CHECK(cudaFreeAsync(buf, stream_.get()));
    finish("all_gather")->synchronize();  // SYNC: the values go to the host; the watchdog bounds the wait
    check_alive();
    return all;
  }

  void barrier() override { all_gather({0.0}); }

  void abort() noexcept override {
    std::lock_guard<std::mutex> lock(abort_mu_);
    if (aborted_ || !comm_) return;
    aborted_ = true;
    ncclCommAbort(comm_);
  }

 private:
  static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  void check_alive() const { NKD_CHECK(!aborted_, "nccl: the communicator was aborted after an earlier error"); }
  void check_tensor(const Tensor& t, const char* what) const {
    check_alive();
    NKD_CHECK(t.device() == device_, "nccl: ", what, " needs a tensor on ", device_.str(), ", got ", describe(t));
    NKD_CHECK(t.is_contiguous(), "nccl: ", what, " needs a contiguous tensor, got ", describe(t));
  }
  // A non-blocking communicator may answer ncclInProgress: poll until the call has been enqueued.
  void call(ncclResult_t r, const char* what) {
    for (auto t0 = Clock::now(); r == ncclInProgress;) {
      NKD_CHECK(seconds_since(t0) < timeout_, "nccl: ", what, " on rank ", rank_, " did not complete within ",
                timeout_, " s (NKD_DIST_TIMEOUT): a peer rank died or never started");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      ncclCommGetAsyncError(comm_, &r);
    }
    if (r != ncclSuccess)
      NKD_FAIL("nccl: ", what, " on rank ", rank_, " failed: ", ncclGetErrorString(r),
               comm_ ? std::string(" (") + ncclGetLastError(comm_) + ")" : std::string());
  }
  void order_after_compute() {
    cuda::Event ready;
    ready.record(compute_);
    ready.block(stream_.get());
  }
  std::shared_ptr<cuda::Event> finish(const char* what) {
    auto done = std::make_shared<cuda::Event>();
    done->record(stream_.get());
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.push_back({done, Clock::now(), what});
    }
    return done;
  }

  // The watchdog: every 100 ms, retire finished collectives and look for errors and timeouts.
  void watch() {
    cudaSetDevice(device_.index);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      while (!pending_.empty() && cudaEventQuery(pending_.front().done->get()) == cudaSuccess) pending_.pop_front();
      std::string error;
      ncclResult_t st = ncclSuccess;
      if (!aborted_ && ncclCommGetAsyncError(comm_, &st) == ncclSuccess && st != ncclSuccess && st != ncclInProgress)
        error = std::string(ncclGetErrorString(st)) + " (" + ncclGetLastError(comm_) + ")";
      else if (!pending_.empty() && seconds_since(pending_.front().start) > timeout_)
        error = std::string(pending_.front().what) + " did not complete within " + std::to_string(int(timeout_)) +
                " s (NKD_DIST_TIMEOUT): a peer rank died, hangs or is running different steps";
      if (error.empty() || aborted_) continue;
      std::fprintf(stderr, "nkd: error: nccl (rank %d of %d): %s; aborting the communicator and exiting\n", rank_,
                   world_, error.c_str());
      std::fflush(stderr);
      lock.unlock();
      abort();
      std::_Exit(1);
    }
  }

  Device device_;
  int rank_, world_;
  double timeout_ = 600;
  cudaStream_t compute_ = nullptr;
  cuda::Stream stream_;
  ncclComm_t comm_ = nullptr;
  std::mutex mu_, abort_mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  bool stop_ = false;
  std::atomic<bool> aborted_{false};
  std::thread watchdog_;
};

}  // namespace

namespace detail {

std::unique_ptr<Communicator> make_nccl(const LaunchEnv& env, Device device) {
  return std::make_unique<NcclCommunicator>(env, device);
}

std::string nccl_unique_id_hex() {
  ncclUniqueId id;
  NKD_NCCL_CHECK(ncclGetUniqueId(&id));
  return to_hex(id);
}

}  // namespace detail
}  // namespace nkd::dist
