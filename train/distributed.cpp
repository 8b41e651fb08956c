// Data-parallel runs of the apps (see distributed.h).
#include "train/distributed.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "engine/check.h"
#include "engine/cuda/device.h"
#include "engine/factory.h"
#include "train/cli.h"

extern char** environ;

namespace nkd::train {
namespace {

struct Group {
  dist::LaunchEnv env;
  std::unique_ptr<dist::Communicator> comm;
};
Group& group() {
  static Group g;
  return g;
}

std::vector<pid_t> g_children;
volatile sig_atomic_t g_forwarded = 0;
extern "C" void forward_signal(int sig) {
  g_forwarded = 1;
  for (pid_t p : g_children) kill(p, sig);
}

// The flag as parse_device_flag reads it; "auto" and "cuda" mean cuda:LOCAL_RANK here.
Device rank_device(const std::string& flag, const dist::LaunchEnv& env) {
  const DeviceFlag f = parse_device_flag(flag);
  if (f.kind == DeviceFlag::Kind::kCpu) return kCPU;
  if (f.kind == DeviceFlag::Kind::kAuto && !cuda::is_available()) return kCPU;
  if (f.index >= 0) return usable_cuda_device(flag, f.index);
  NKD_CHECK(cuda::is_available(), "--device cuda: ", cuda::unavailable_reason());
  if (cuda::device_count() == 1) return cuda_device(0);  // one GPU per rank (CUDA_VISIBLE_DEVICES)
  NKD_CHECK(env.local_rank < cuda::device_count(), "rank ", env.rank, " has local rank ", env.local_rank, " but only ",
            cuda::device_count(), " CUDA devices are visible (one process per GPU)");
  return cuda_device(env.local_rank);
}

}  // namespace

Device init_distributed(const std::string& device_flag) {
  Group& g = group();
  g.env = dist::detect_launch_env();
  if (!g.env.distributed()) return Device{};  // the caller parses --device as usual
  const Device device = rank_device(device_flag, g.env);
  g.comm = dist::make_communicator(g.env, device);
  if (g.comm->rank() == 0)
    std::cout << "distributed: " << g.comm->world_size() << " ranks (" << g.env.launcher << "), backend "
              << g.comm->backend() << ", rank 0 on " << device.str() << std::endl;
  return device;
}

dist::Communicator* communicator() { return group().comm.get(); }
int dist_rank() { return group().comm ? group().comm->rank() : 0; }
int dist_world() { return group().comm ? group().comm->world_size() : 1; }
bool is_main_rank() { return dist_rank() == 0; }

void shutdown_distributed() {
  Group& g = group();
  if (!g.comm) return;
  g.comm->barrier();  // nobody tears down while a peer still needs it
  g.comm.reset();
  dist::finalize();
}

int take_gpus_flag(int& argc, char** argv) {
  int n = 0, out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string value;
    if (a == "--gpus") {
      NKD_CHECK(i + 1 < argc, "--gpus needs a number of GPUs");
      value = argv[++i];
    } else if (a.rfind("--gpus=", 0) == 0) {
      value = a.substr(7);
    } else {
      argv[out++] = argv[i];
      continue;
    }
    char* end = nullptr;
    const long v = std::strtol(value.c_str(), &end, 10);
    NKD_CHECK(end && *end == '\0' && v >= 1 && v <= 1024, "--gpus expects a positive number, got '", value, "'");
    n = int(v);
  }
  argc = out;
  argv[argc] = nullptr;
  return n;
}

int spawn_workers(int n, int argc, char** argv) {
  NKD_CHECK(!dist::detect_launch_env().distributed(), "--gpus ", n,
            " inside a launcher (mpirun, srun or torchrun): use one of them, not both");
  NKD_CHECK(cuda::device_count() >= n, "--gpus ", n, " needs ", n, " CUDA devices, ",
            cuda::is_available() ? std::to_string(cuda::device_count()) + " are visible"
                                 : cuda::unavailable_reason(),
            " (for CPU data-parallel runs use mpirun -np N)");
  const std::string id = dist::new_nccl_unique_id();  // NCCL's bootstrap root lives in this process
  std::vector<std::string> base_env;
  for (char** e = environ; *e; ++e) base_env.emplace_back(*e);
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> env = base_env;
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"RANK", std::to_string(r)}, {"WORLD_SIZE", std::to_string(n)}, {"LOCAL_RANK", std::to_string(r)},
             {"LOCAL_WORLD_SIZE", std::to_string(n)}, {"NKD_LAUNCHER", "nkd --gpus"}, {"NKD_NCCL_UNIQUE_ID", id}})
      env.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (std::string& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, args.data(), envp.data());
    NKD_CHECK(rc == 0, "--gpus: cannot start worker ", r, ": ", std::strerror(rc));
    g_children.push_back(pid);
  }
  std::signal(SIGINT, forward_signal);  // workers checkpoint and exit; this process waits for them
  std::signal(SIGTERM, forward_signal);
  int result = 0;
  size_t alive = g_children.size();
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  while (alive > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      if (std::chrono::steady_clock::now() > kill_deadline)
        for (pid_t p : g_children) kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    --alive;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && result == 0) {
      result = code;
      if (!g_forwarded) {  // a failure, not a stop we passed on (a second signal would kill mid-checkpoint)
        std::cerr << "nkd: a worker (pid " << pid << ") exited with " << code << "; stopping the others" << std::endl;
        for (pid_t p : g_children)
          if (p != pid) kill(p, SIGTERM);
      }
      kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(g_forwarded ? 300 : 30);
    }
  }
  return result;
}

DataParallel::DataParallel(dist::Communicator& comm, std::vector<Tensor> params, const std::vector<Tensor>& state)
    : comm_(comm), reducer_((dist::broadcast_tensors(comm, state, 0), comm), std::move(params)) {}

DataParallel::~DataParallel() {
  // The last flag's collective must end before its buffer goes (not while unwinding: a failed
  // peer would make the wait last the timeout).
  if (stop_work_ && std::uncaught_exceptions() == 0) stop_work_->wait();
}

bool DataParallel::stop_agreed(bool local_stop) {
  bool previous = false;
  if (stop_work_) {
    stop_work_->wait();
    previous = stop_flag_.item() > 0;  // SYNC: the collective queued one step ago
  }
  stop_flag_ = full({1}, local_stop ? 1.0 : 0.0, {DType::F32, comm_.device()});
  stop_work_ = comm_.all_reduce_async(stop_flag_, dist::ReduceOp::kMax);
  return previous;
}

std::string DataParallel::summary() const {
  std::ostringstream os;
  const auto b = reducer_.buckets();
  os << "data parallel: " << comm_.world_size() << " ranks (" << group().env.launcher << ", " << comm_.backend()
     << "), " << b.size() << " gradient buckets:" << std::fixed << std::setprecision(1);
  for (size_t i = 0; i < b.size(); ++i) os << (i ? ", " : " ") << double(b[i].bytes) / double(1 << 20);
  os << " MB";
  return os.str();
}

int64_t real_images_of_rank(int64_t dataset_size) {
  const int64_t r = dist_rank(), w = dist_world();
  return dataset_size > r ? (dataset_size - r + w - 1) / w : 0;
}

std::vector<int64_t> sum_over_ranks(const std::vector<int64_t>& counts) {
  dist::Communicator* c = communicator();
  if (!c) return counts;
  std::vector<double> v(counts.begin(), counts.end());
  v = c->all_reduce_values(v, dist::ReduceOp::kSum);
  std::vector<int64_t> out;
  for (double x : v) out.push_back(int64_t(x + 0.5));
  return out;
}

void combine_over_ranks(EvalResult& r) {
  if (!communicator()) return;
  std::vector<int64_t> counts = {r.images, r.skipped};  // then correct, then skipped_by_kind
  counts.insert(counts.end(), r.correct.begin(), r.correct.end());
  counts.insert(counts.end(), r.skipped_by_kind.begin(), r.skipped_by_kind.end());
  counts = sum_over_ranks(counts);
  r.images = counts[0];
  r.skipped = counts[1];
  const auto correct_end = counts.begin() + 2 + std::ptrdiff_t(r.correct.size());
  r.correct.assign(counts.begin() + 2, correct_end);
  r.skipped_by_kind.assign(correct_end, counts.end());
  for (size_t k = 0; k < r.correct.size(); ++k)
    r.accuracy[k] = r.images ? 100.0 * double(r.correct[k]) / double(r.images) : 0.0;
}

}  // namespace nkd::train
