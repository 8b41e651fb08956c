// The program the data-parallel tests start under `mpirun -np 2` (tests/dist/test_dist.cpp):
//   equiv K   K SGD steps with the bucketed reducer, each rank on its half of a batch; rank 0 checks
//             the parameters against single-process training on the whole batch, and that every
//             rank holds the same parameters (rank 1 starts from other weights: the broadcast fixes them)
//   kill      rank 1 dies (SIGKILL) after 2 steps; rank 0 must not hang
//   hang      rank 1 stops answering (sleeps) after 2 steps; rank 0 must fail after NKD_DIST_TIMEOUT
//   stop      the trainer's DataParallel: rank 1 alone asks to stop from step 3 on; both ranks
//             learn it at step 4 (DataParallel::stop_agreed reads one step late) and stop together
// Prints one result line per rank and exits 0 on success.
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "train/cli.h"
#include "train/distributed.h"
#include "engine/autograd/grad_mode.h"
#include "engine/dist/reducer.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/optimizer.h"
#include "tests/dist/tiny_net.h"

namespace {

using namespace nkd;
using dist::testing::TinyNet;
constexpr int64_t kPerRank = 8;

constexpr double kLr = 0.1;

std::unique_ptr<optim::Sgd> sgd(const std::vector<Tensor>& params) {
  return std::make_unique<optim::Sgd>(std::vector<optim::ParamGroup>{{.params = params}},
                                      optim::SgdOptions{.momentum = 0.9, .weight_decay = 1e-3});
}

// Trains `steps` steps; returns the parameters. world/rank: this process's slice of each batch.
std::vector<Tensor> train_steps(TinyNet& net, dist::Communicator* comm, int64_t steps, const std::string& fault) {
  const int world = comm ? comm->world_size() : 1, rank = comm ? comm->rank() : 0;
  std::unique_ptr<dist::Reducer> reducer;
  if (comm) {
    dist::broadcast_tensors(*comm, net.params(), 0);
    // Small buckets, so that there are several and some launch while backward still runs.
    reducer = std::make_unique<dist::Reducer>(*comm, net.params(),
                                              dist::ReducerOptions{.bucket_bytes = 100, .first_bucket_bytes = 16});
  }
  auto opt = sgd(net.params());
  for (int64_t s = 0; s < steps; ++s) {
    if (s == 2 && rank == 1 && fault == "kill") raise(SIGKILL);
    if (s == 2 && rank == 1 && fault == "hang") std::this_thread::sleep_for(std::chrono::seconds(3600));
    auto [x, y] = dist::testing::synthetic_batch(kPerRank * 2, s);
    const int64_t n = kPerRank * 2 / world;
    const Tensor loss = net.loss(x.narrow(0, rank * n, n).contiguous(), y.narrow(0, rank * n, n).contiguous());
    opt->zero_grad();
    loss.backward();
    if (reducer) reducer->finalize();
    opt->step(kLr);
  }
  if (reducer && rank == 0)
    std::cout << "equiv: " << reducer->buckets().size() << " buckets, " << reducer->launched_during_backward()
              << " launched during backward" << std::endl;
  return net.params();
}

int equiv(dist::Communicator& comm, int64_t steps) {
  TinyNet net(7);
  if (comm.rank() != 0) {  // other weights on purpose: the start-of-run broadcast must replace them
    NoGradGuard g;
    for (const Tensor& p : net.params()) ops::add_(p, full_like(p, 0.5));
  }
  const std::vector<Tensor> dp = train_steps(net, &comm, steps, "");
  // Every rank holds the same parameters: compare each rank's checksums.
  std::vector<double> sums;
  for (const Tensor& p : dp) {
    double a = 0, b = 0;
    for (float v : to_vector<float>(p)) a += v, b += double(v) * v;
    sums.push_back(a);
    sums.push_back(b);
  }
  const std::vector<double> all = comm.all_gather(sums);
  int bad = 0;
  for (size_t i = 0; i < sums.size(); ++i)
    if (all[i] != all[sums.size() + i]) ++bad;
  if (comm.rank() != 0) return bad ? 1 : 0;
  TinyNet ref(7);
  const std::vector<Tensor> single = train_steps(ref, nullptr, steps, "");
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < dp.size(); ++i) {
    const auto a = to_vector<float>(dp[i]), b = to_vector<float>(single[i]);
    for (size_t j = 0; j < a.size(); ++j) {
      max_diff = std::max(max_diff, double(std::fabs(a[j] - b[j])));
      max_abs = std::max(max_abs, double(std::fabs(b[j])));
    }
  }
  std::cout << "equiv: " << steps << " steps on 2 x " << kPerRank << " samples vs 1 x " << 2 * kPerRank
            << ": max |param difference| " << max_diff << " (max |param| " << max_abs << "), ranks "
            << (bad ? "DIFFER" : "identical") << std::endl;
  return max_diff <= 1e-5 * std::max(1.0, max_abs) && bad == 0 ? 0 : 1;
}

int stop(dist::Communicator& comm) {
  TinyNet net(7);
  train::DataParallel dp(comm, net.params(), net.params());
  auto opt = sgd(net.params());
  int64_t stopped_at = -1;
  for (int64_t s = 0; s < 10 && stopped_at < 0; ++s) {
    auto [x, y] = dist::testing::synthetic_batch(kPerRank * 2, s);
    const Tensor loss = net.loss(x.narrow(0, comm.rank() * kPerRank, kPerRank).contiguous(),
                                 y.narrow(0, comm.rank() * kPerRank, kPerRank).contiguous());
    opt->zero_grad();
    loss.backward();
    dp.after_backward();
    opt->step(kLr);
    if (dp.stop_agreed(comm.rank() == 1 && s >= 3)) stopped_at = s;
  }
  std::cout << "stop: rank " << comm.rank() << " stopped at step " << stopped_at << std::endl;
  return stopped_at == 4 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  return nkd::train::run_main("dist_worker", [&] {
    const nkd::dist::LaunchEnv env = nkd::dist::detect_launch_env();
    NKD_CHECK(env.mpi && env.world == 2, "dist_worker: run it under mpirun -np 2");
    auto comm = nkd::dist::make_communicator(env, nkd::kCPU);
    int rc = 0;
    if (mode == "equiv") {
      rc = equiv(*comm, argc > 2 ? std::atoll(argv[2]) : 5);
    } else if (mode == "stop") {
      rc = stop(*comm);
    } else if (mode == "kill" || mode == "hang") {
      TinyNet net(7);
      train_steps(net, comm.get(), 1000000, mode);
    } else {
      NKD_FAIL("dist_worker: unknown mode '", mode, "' (equiv, stop, kill, hang)");
    }
    comm->barrier();
    comm.reset();
    nkd::dist::finalize();
    return rc;
  });
}
