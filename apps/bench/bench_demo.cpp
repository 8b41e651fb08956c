// `nkd_bench demo [--iters N] [--runs N] [--threads N] [--no-torch]`: the demo's training steps on
// Fashion-MNIST-shaped random input (batch 128, 1x28x28, 10 classes): teacher ResNet-18 small_input
// x0.25 with CE; student x0.125 with CE; student with CE + KD (T 4, alpha 0.9) on the eval-mode
// teacher, through its inference form (nets/inference.h, as nkd_distill runs it) and, as before
// issue 16, through its own no-grad forward (PyTorch's KD step is the peer of both). SGD lr 0.1,
// momentum 0.9, wd 5e-4. Each run times `iters` steps (after
// 2 warm-up steps) of each, then PyTorch does the same (tools/bench_demo_torch.py) in both layouts,
// so both see the same load; prints the median seconds per `iters` steps and the ratios, in wall time
// and in CPU time (all threads of the process; with OMP_WAIT_POLICY=passive, less sensitive to the
// other jobs of a shared machine than wall time). Each run also prints a hash of the trained net's state
// (parameters and buffers): a kernel change meant to keep the digits must keep it.
#include "apps/bench/bench_demo.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "apps/bench/bench_clock.h"
#include "apps/bench/torch_peer.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/optimizer.h"
#include "losses/losses.h"
#include "nets/classifier.h"
#include "nets/inference.h"

namespace nkd::apps {
namespace {

using json = nlohmann::json;
const char* const kSteps[] = {"teacher x0.25 CE", "student x0.125 CE", "student + teacher KD",
                              "student + teacher KD, teacher not fused"};
constexpr int kStepCount = 4;
int torch_step(int step) { return std::min(step, 2); }  // PyTorch's KD step is the peer of both KD rows

struct Settings {
  int iters = 20, runs = 3, threads = 2, warmup = 2;
  bool torch = true;
};

struct Timing {
  double wall, cpu;
  uint64_t state_hash;  // FNV-1a of the trained net's state_dict bytes: a kernel change that keeps the bits keeps it
};

uint64_t state_hash(const layers::Module& net) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& [name, t] : net.state_dict()) {
    const Tensor c = t.contiguous();
    const auto* p = static_cast<const unsigned char*>(c.raw_data());
    const size_t bytes = static_cast<size_t>(c.numel()) * size_of(c.dtype());
    for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

std::shared_ptr<nets::ImageClassifier> demo_net(double width) {
  return nets::build_net("resnet18", {.num_classes = 10, .in_channels = 1, .width = width, .small_input = true}, 0);
}

// Seconds for s.iters steps of demo step `step` (0 teacher, 1 student CE, 2 student KD with the
// teacher's inference form, 3 with its plain no-grad forward).
Timing time_nkd_step(int step, const Settings& s) {
  const auto net = demo_net(step == 0 ? 0.25 : 0.125);
  const auto teacher = demo_net(0.25);
  teacher->eval();
  const nets::InferenceNet teacher_form(teacher, /*fuse=*/step != 3);
  Generator gen(1);
  const Tensor x = randn({128, 1, 28, 28}, gen);
  std::vector<int64_t> label_values;
  for (int64_t i = 0; i < 128; ++i) label_values.push_back((i * 7) % 10);
  const Tensor labels = from_vector(label_values, {128});
  optim::Sgd sgd({{net->parameters()}}, {.momentum = 0.9, .weight_decay = 5e-4});
  net->train();
  auto one = [&] {
    sgd.zero_grad();
    const Tensor logits = net->forward(x);
    Tensor loss = losses::cross_entropy(logits, labels);
    if (step >= 2) {
      const Tensor t = teacher_form(x);
      loss = ops::add(ops::mul(loss, 0.1), losses::kd_loss(logits, t, {.temperature = 4, .alpha = 0.9}));
    }
    loss.backward();
    sgd.step(0.1);
  };
  for (int i = 0; i < s.warmup; ++i) one();
  const double t0 = wall_s(), c0 = process_cpu_s();
  for (int i = 0; i < s.iters; ++i) one();
  const double wall = wall_s() - t0, cpu = process_cpu_s() - c0;
  return {wall, cpu, state_hash(*net)};
}

bool parse(int argc, char** argv, Settings& s) {
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--iters" && has_value) s.iters = std::max(1, std::atoi(argv[++i]));
    else if (a == "--runs" && has_value) s.runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--threads" && has_value) s.threads = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && has_value) s.warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--no-torch") s.torch = false;
    else return false;
  }
  return true;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// times[k][step]: k = 0 nkd, 1 PyTorch NCHW, 2 PyTorch channels_last; one value per run.
void print_table(const Settings& s, const char* what, const std::vector<std::vector<double>> (&times)[3]) {
  std::cout << "\nDemo steps, F32, CPU, " << s.threads << " threads, batch 128, 1x28x28, 10 classes: median " << what
            << " seconds for " << s.iters << " steps over " << s.runs
            << " alternating runs; ratio = PyTorch s / nkd s (> 1: nkd faster)\n\n"
               "| step | nkd | PyTorch NCHW | PyTorch channels_last | ratio NCHW | ratio channels_last |\n"
               "|---|---|---|---|---|---|\n";
  for (int st = 0; st < kStepCount; ++st) {
    const double n = median(times[0][st]), a = median(times[1][st]), b = median(times[2][st]);
    std::cout << "| " << kSteps[st] << " | " << fmt("%.2f s", n) << " | " << (a > 0 ? fmt("%.2f s", a) : "-")
              << " | " << (b > 0 ? fmt("%.2f s", b) : "-") << " | " << (a > 0 ? fmt("%.2f", a / n) : "-") << " | "
              << (b > 0 ? fmt("%.2f", b / n) : "-") << " |\n";
  }
}

}  // namespace

int bench_demo(int argc, char** argv) {
  Settings s;
  if (!parse(argc, argv, s)) {
    std::cerr << "usage: nkd_bench demo [--iters N] [--runs N] [--threads N] [--warmup N] [--no-torch]\n";
    return 2;
  }
#ifdef _OPENMP
  omp_set_num_threads(s.threads);
#endif
  std::vector<std::vector<double>> times[3], cpu[3];
  for (auto& t : times) t.assign(kStepCount, {});
  for (auto& t : cpu) t.assign(kStepCount, {});
  for (int r = 0; r < s.runs; ++r) {
    for (int st = 0; st < kStepCount; ++st) {
      const Timing t = time_nkd_step(st, s);
      times[0][st].push_back(t.wall);
      cpu[0][st].push_back(t.cpu);
      std::cerr << "run " << r << " nkd " << kSteps[st] << ": " << t.wall << " s (CPU " << t.cpu << " s), state hash "
                << std::hex << t.state_hash << std::dec << "\n";
    }
    if (!s.torch) continue;
    const json spec = {{"iters", s.iters}, {"threads", s.threads}, {"warmup", s.warmup}};
    const std::optional<json> peer = run_torch_peer("bench_demo_torch.py", spec, "torch");
    if (!peer) continue;
    for (int st = 0; st < kStepCount; ++st) {
      times[1][st].push_back((*peer)["nchw"][torch_step(st)].get<double>());
      times[2][st].push_back((*peer)["channels_last"][torch_step(st)].get<double>());
      cpu[1][st].push_back((*peer)["nchw_cpu"][torch_step(st)].get<double>());
      cpu[2][st].push_back((*peer)["channels_last_cpu"][torch_step(st)].get<double>());
      std::cerr << "run " << r << " PyTorch " << kSteps[st] << ": " << times[1][st].back() << " s NCHW, "
                << times[2][st].back() << " s channels_last (CPU " << cpu[1][st].back() << " s, "
                << cpu[2][st].back() << " s)\n";
    }
  }
  print_table(s, "wall-clock", times);
  print_table(s, "CPU (all threads)", cpu);
  return 0;
}

}  // namespace nkd::apps
