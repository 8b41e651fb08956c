// The MPI backend for CPU tensors: non-blocking collectives on a duplicate of MPI_COMM_WORLD,
// completed by polling MPI_Test, so a peer that died or hangs becomes an error after
// NKD_DIST_TIMEOUT seconds instead of a hang. Built only when CMake finds MPI.
#include <mpi.h>

#include <chrono>
#include <thread>

#include "engine/check.h"
#include "engine/dist/backends.h"
#include "engine/ops/elementwise.h"

namespace nkd::dist {
namespace {

bool g_finalized = false;

void ensure_init() {
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited) return;
  int provided = 0;
  const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  NKD_CHECK(rc == MPI_SUCCESS, "MPI_Init_thread failed (error ", rc, ")");
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  NKD_FAIL("mpi: ", what, " failed: ", std::string(msg, size_t(len)));
}

// Completes `req`, polling; throws when the peers do not answer within timeout_seconds().
void poll(MPI_Request& req, const char* what) {
  using Clock = std::chrono::steady_clock;
  const double limit = timeout_seconds();
  const auto deadline = Clock::now() + std::chrono::duration<double>(limit);
  for (int spins = 0;; ++spins) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    if (spins > 2000) std::this_thread::sleep_for(std::chrono::microseconds(100));
    if ((spins & 255) == 0 && Clock::now() > deadline)
      NKD_FAIL("mpi: ", what, " did not complete within ", limit,
               " s (NKD_DIST_TIMEOUT): a peer rank died, hangs or is running different steps");
  }
}

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I64: return MPI_INT64_T;
    case DType::I32: return MPI_INT32_T;
    case DType::U8: return MPI_UINT8_T;
    default: NKD_FAIL("mpi: dtype ", name(t), " is not supported by the MPI backend (CPU tensors are F32/F64/int)");
  }
}

int mpi_count(const Tensor& t, const char* what) {
  NKD_CHECK(t.device().is_cpu(), "mpi: ", what, " needs a CPU tensor, got ", describe(t));
  NKD_CHECK(t.is_contiguous(), "mpi: ", what, " needs a contiguous tensor, got ", describe(t));
  NKD_CHECK(t.numel() < (int64_t(1) << 31), "mpi: ", what, ": ", describe(t), " has more than 2^31 elements");
  return int(t.numel());
}

class MpiWork final : public Work {
 public:
  MpiWork(MPI_Request req, Tensor t, double scale) : req_(req), t_(std::move(t)), scale_(scale) {}
  void wait() override {
    if (!t_.defined()) return;
    poll(req_, "all_reduce");
    if (scale_ != 1.0) ops::mul_(t_, scale_);
    t_ = Tensor();
  }

 private:
  MPI_Request req_;
  Tensor t_;  // keeps the buffer alive while MPI uses it
  double scale_;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    ensure_init();
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &world_);
    detail::register_live(this);
  }
  ~MpiCommunicator() override {
    detail::unregister_live(this);
    if (!aborted_ && !g_finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  const char* backend() const override { return "mpi"; }
  Device device() const override { return kCPU; }

  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    const int n = mpi_count(t, "all_reduce");
    check_alive();
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), n, mpi_type(t.dtype()), op == ReduceOp::kMax ? MPI_MAX : MPI_SUM,
                         comm_, &req),
          "MPI_Iallreduce");
    return std::make_unique<MpiWork>(req, t, op == ReduceOp::kAvg ? 1.0 / double(world_) : 1.0);
  }
  void broadcast(const Tensor& t, int root) override {
    const int n = mpi_count(t, "broadcast");
    check_alive();
    MPI_Request req;
    check(MPI_Ibcast(t.raw_data(), n, mpi_type(t.dtype()), root, comm_, &req), "MPI_Ibcast");
    poll(req, "broadcast");
  }
  std::vector<double> all_gather(const std::vector<double>& mine) override {
    check_alive();
    std::vector<double> all(mine.size() * size_t(world_));
    MPI_Request req;
    check(MPI_Iallgather(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), int(mine.size()), MPI_DOUBLE, comm_,
                         &req),
          "MPI_Iallgather");
    poll(req, "all_gather");
    return all;
  }
  void barrier() override {
    check_alive();
    MPI_Request req;
    check(MPI_Ibarrier(comm_, &req), "MPI_Ibarrier");
    poll(req, "barrier");
  }
  void abort() noexcept override { aborted_ = true; }  // MPI_Abort (abort_all) ends the job

 private:
  void check_alive() const { NKD_CHECK(!aborted_, "mpi: the communicator was aborted after an earlier error"); }
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, world_ = 1;
  bool aborted_ = false;
};

}  // namespace

bool built_with_mpi() { return true; }

namespace detail {

std::unique_ptr<Communicator> make_mpi(const LaunchEnv&) { return std::make_unique<MpiCommunicator>(); }

void mpi_broadcast_bytes(void* data, size_t bytes, int root) {
  ensure_init();
  MPI_Request req;
  check(MPI_Ibcast(data, int(bytes), MPI_BYTE, root, MPI_COMM_WORLD, &req), "MPI_Ibcast");
  poll(req, "broadcast of the NCCL unique id");
}

void mpi_abort(int code) noexcept {
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited && !g_finalized) MPI_Abort(MPI_COMM_WORLD, code);
}

void mpi_finalize() {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited || g_finalized) return;
  g_finalized = true;
  MPI_Finalize();
}

}  // namespace detail
}  // namespace nkd::dist
