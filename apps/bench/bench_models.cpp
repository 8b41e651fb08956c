// Model benchmark: per net, the median time of a training step (forward, log-softmax cross entropy,
// backward, SGD update) and of an inference forward (eval mode, no grad) on random 224x224 images,
// as images/s, with the PyTorch torchvision model in the same run, same batch and threads. On a GPU
// (--device cuda) each step is timed with CUDA events, the peak memory of the training step is
// reported, and PyTorch runs twice: eager F32 (TF32 off, as nkd) and channels_last + bf16 autocast.
#include "apps/bench/bench_models.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "apps/bench/torch_peer.h"
#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/cuda/allocator.h"
#include "engine/cuda/device.h"
#include "engine/cuda/math_mode.h"
#include "engine/cuda/timer.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "engine/optim/optimizer.h"
#include "nets/classifier.h"

namespace nkd::apps {
namespace {

using json = nlohmann::json;

struct Settings {
  std::vector<std::string> nets;
  int64_t batch = 16, size = 224;
  int threads = 2, runs = 5, warmup = 1;
  bool torch = true;
  Device device = kCPU;
  Precision precision = Precision::kFp32;  // nkd's side (--precision); bf16: autocast, engine/autocast.h
};

struct Timing {
  double train_ms = 0, infer_ms = 0;  // medians
  double peak_mib = 0;                // GPU only: peak memory of the training step
  double amp_train_ms = 0, amp_infer_ms = 0;  // PyTorch on GPU: channels_last + bf16 autocast
  double amp_peak_mib = 0;
};

// nkd in bf16 on a GPU is compared with PyTorch's AMP run only (what a PyTorch user runs there).
bool amp_peer(const Settings& s) { return s.device.is_cuda() && s.precision == Precision::kBf16; }

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// On a GPU the time of the work fn() queued on the compute stream (CUDA events), else wall time.
// The timed runs (not the warm-up, where cuDNN searches its algorithms) are in the NVTX range
// `range`, which Nsight Compute can select (tools/gpu_check.sh, step profile).
template <typename Fn>
double median_ms(int runs, int warmup, Device device, const char* range, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    if (device.is_cuda()) {
      const cuda::ProfileRange profiled(range);
      cuda::StreamTimer timer(device);
      fn();
      t.push_back(timer.stop_ms());
      continue;
    }
    const double t0 = now_ms();
    fn();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
}

Timing time_nkd(const std::string& name, const Settings& s) {
  const auto net = nets::build_net(name, {.num_classes = 1000}, 0);
  net->to(s.device);
  Generator gen(1);
  const Tensor x = randn({s.batch, 3, s.size, s.size}, gen).to(s.device);
  std::vector<int64_t> label_values;
  for (int64_t i = 0; i < s.batch; ++i) label_values.push_back((i * 37) % 1000);
  const Tensor labels = from_vector(label_values, {s.batch, 1}).to(s.device);
  optim::Sgd sgd({{net->parameters()}}, {.momentum = 0.9, .weight_decay = 1e-4});
  Timing t;
  net->train();
  if (s.device.is_cuda()) cuda::reset_peak_memory_stats(s.device.index);
  t.train_ms = median_ms(s.runs, s.warmup, s.device, "nkd_train_step", [&] {
    sgd.zero_grad();
    const PrecisionGuard precision(s.precision);  // one step: the BF16 weight copies made once
    const Tensor logits = widen_to_f32(net->forward(x));
    const Tensor loss = ops::neg(ops::mean(ops::gather(ops::log_softmax(logits, 1), 1, labels)));
    loss.backward();
    sgd.step(0.01);
  });
  if (s.device.is_cuda()) t.peak_mib = static_cast<double>(cuda::memory_stats(s.device.index).peak_bytes) / (1 << 20);
  net->eval();
  NoGradGuard no_grad;
  const PrecisionGuard precision(s.precision);  // inference: the weights converted once for all runs
  t.infer_ms = median_ms(s.runs, s.warmup, s.device, "nkd_inference", [&] { const Tensor logits = net->forward(x); });
  return t;
}

// tools/bench_models_torch.py; empty when PyTorch is unavailable or the script fails.
std::map<std::string, Timing> time_torch(const Settings& s) {
  std::map<std::string, Timing> out;
  const json spec = {{"nets", s.nets},   {"batch", s.batch},   {"size", s.size},
                     {"threads", s.threads}, {"runs", s.runs}, {"warmup", s.warmup},
                     {"device", s.device.is_cuda() ? "cuda" : "cpu"}, {"tf32", cuda::allow_tf32()},
                     {"amp_only", amp_peer(s)}};
  const std::optional<json> peer = run_torch_peer("bench_models_torch.py", spec, "torch, torchvision");
  if (!peer) return out;
  const json& r = *peer;
  for (const json& e : r["results"])
    out[e["name"].get<std::string>()] = {e.value("train_ms", 0.0), e.value("infer_ms", 0.0),
                                         e.value("peak_mib", 0.0), e.value("amp_train_ms", 0.0),
                                         e.value("amp_infer_ms", 0.0), e.value("amp_peak_mib", 0.0)};
  if (amp_peer(s))  // the AMP figures take the PyTorch columns
    for (auto& [name, t] : out) t = {t.amp_train_ms, t.amp_infer_ms, t.amp_peak_mib, 0, 0, 0};
  return out;
}

std::string cell(double batch, double ms) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f (%.0f ms)", batch / (ms * 1e-3), ms);
  return buf;
}

std::string ratio(double torch_ms, double nkd_ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", torch_ms / nkd_ms);
  return buf;
}

std::string mib(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", v);
  return buf;
}

void print_table(const Settings& s, const std::vector<Timing>& nkd, const std::map<std::string, Timing>& torch) {
  const bool gpu = s.device.is_cuda();
  const std::string where = gpu ? std::string("GPU (TF32 ") + (cuda::allow_tf32() ? "on" : "off") + " in both)"
                                : "CPU, " + std::to_string(s.threads) + " threads";
  const bool amp = amp_peer(s);
  std::cout << "Models, nkd " << precision_name(s.precision)
            << (amp ? " vs PyTorch AMP (channels_last + bf16 autocast, cudnn.benchmark)" : " vs PyTorch F32") << ", "
            << where
            << ", batch " << s.batch << ", " << s.size << "x" << s.size << ", 1000 classes: images/s (median ms of "
            << s.runs << " runs after " << s.warmup
            << " warm-up); train step = forward + cross entropy + backward + SGD (momentum, weight decay); "
               "ratio = PyTorch ms / nkd ms (> 1: nkd faster)"
            << (gpu ? "; peak = peak GPU memory of the training step; PyTorch AMP = channels_last + bf16 autocast" : "")
            << "\n\n| net | nkd train | PyTorch train | ratio | nkd inference | PyTorch inference | ratio |"
            << (gpu ? " nkd peak | PyTorch peak |" : "") << (gpu && !amp ? " PyTorch AMP train | PyTorch AMP inference |" : "")
            << "\n|---|---|---|---|---|---|---|" << (gpu ? "---|---|" : "") << (gpu && !amp ? "---|---|" : "") << "\n";
  const double b = static_cast<double>(s.batch);
  for (size_t i = 0; i < s.nets.size(); ++i) {
    const auto it = torch.find(s.nets[i]);
    const Timing* pt = it == torch.end() ? nullptr : &it->second;
    const Timing& mine = nkd[i];
    std::cout << "| " << s.nets[i] << " | " << cell(b, mine.train_ms) << " | "
              << (pt ? cell(b, pt->train_ms) + " | " + ratio(pt->train_ms, mine.train_ms) : "- | -") << " | "
              << cell(b, mine.infer_ms) << " | "
              << (pt ? cell(b, pt->infer_ms) + " | " + ratio(pt->infer_ms, mine.infer_ms) : "- | -") << " |";
    if (gpu)
      std::cout << " " << mib(mine.peak_mib) << " | " << (pt ? mib(pt->peak_mib) : "-") << " |";
    if (gpu && !amp)
      std::cout << " " << (pt ? cell(b, pt->amp_train_ms) : "-") << " | " << (pt ? cell(b, pt->amp_infer_ms) : "-")
                << " |";
    std::cout << "\n";
  }
}

bool parse(int argc, char** argv, Settings& s) {
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--batch" && has_value) s.batch = std::max(1, std::atoi(argv[++i]));
    else if (a == "--size" && has_value) s.size = std::max(32, std::atoi(argv[++i]));
    else if (a == "--threads" && has_value) s.threads = std::max(1, std::atoi(argv[++i]));
    else if (a == "--runs" && has_value) s.runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && has_value) s.warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--no-torch") s.torch = false;
    else if (a == "--tf32") cuda::set_allow_tf32(true);
    else if (a == "--precision" && has_value) {
      const std::string p = argv[++i];
      if (p != "fp32" && p != "tf32" && p != "bf16") return false;
      s.precision = parse_precision(p, "--precision");
    }
    else if (a == "--device" && has_value) s.device = std::string(argv[++i]) == "cuda" ? cuda_device(0) : kCPU;
    else if (!a.empty() && a[0] != '-') s.nets.push_back(a);
    else return false;
  }
  if (s.nets.empty())
    s.nets = {"resnet18", "mobilenet_v2", "shufflenet_v2", "mobilenet_v1", "resnet34", "resnet50"};
  return true;
}

}  // namespace

int bench_models(int argc, char** argv) {
  Settings s;
  if (!parse(argc, argv, s)) {
    std::cerr << "usage: nkd_bench model [names...] [--batch N] [--size N] [--threads N] [--runs N] "
                 "[--warmup N] [--no-torch] [--device cpu|cuda] [--tf32] [--precision fp32|tf32|bf16]\n";
    return 2;
  }
  if (s.device.is_cuda() && !cuda::is_available()) {
    std::cerr << "nkd_bench model --device cuda: " << cuda::unavailable_reason() << "\n";
    return 1;
  }
#ifdef _OPENMP
  omp_set_num_threads(s.threads);
#endif
  std::vector<Timing> nkd;
  for (const std::string& name : s.nets) {
    std::cerr << "nkd: " << name << "\n";
    nkd.push_back(time_nkd(name, s));
  }
  print_table(s, nkd, s.torch ? time_torch(s) : std::map<std::string, Timing>{});
  return 0;
}

}  // namespace nkd::apps
