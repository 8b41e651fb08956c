// Model benchmark: per net, the median time of a training step (forward, log-softmax cross entropy,
// backward, SGD update) and of an inference forward (the inference form nkd_eval runs: eval mode, batch
// norm folded, no grad; the net itself under bf16 autocast) on random 224x224 images,
// as images/s, with the PyTorch torchvision model in the same run, same batch and threads. On a GPU
// (--device cuda) each step is timed with CUDA events, the peak memory of the training step is
// reported, and PyTorch runs twice: eager F32 (TF32 off, as nkd) and channels_last + bf16 autocast;
// on the CPU PyTorch runs in NCHW and in channels_last (F32), and CPU time is printed next to wall time.
#include "apps/bench/bench_models.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "apps/bench/bench_clock.h"
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
#include "nets/inference.h"

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
  double train_ms = 0, infer_ms = 0;  // medians: wall time on the CPU, CUDA events on a GPU
  double peak_mib = 0;                // GPU only: peak memory of the training step
  double amp_train_ms = 0, amp_infer_ms = 0;  // PyTorch on GPU: channels_last + bf16 autocast
  double amp_peak_mib = 0;
  double cpu_train_ms = 0, cpu_infer_ms = 0;  // CPU only: process CPU time (all threads), medians
  // PyTorch on the CPU: a second run in channels_last (F32), wall and CPU time.
  double cl_train_ms = 0, cl_infer_ms = 0, cl_cpu_train_ms = 0, cl_cpu_infer_ms = 0;
};

struct Median {
  double wall_ms = 0, cpu_ms = 0;  // cpu_ms: CPU only
};

// nkd in bf16 on a GPU is compared with PyTorch's AMP run only (what a PyTorch user runs there).
bool amp_peer(const Settings& s) { return s.device.is_cuda() && s.precision == Precision::kBf16; }

// On a GPU the time of the work fn() queued on the compute stream (CUDA events), else wall time and
// the process's CPU time (the figure that a shared machine's load distorts least).
// The timed runs (not the warm-up, where cuDNN searches its algorithms) are in the NVTX range
// `range`, which Nsight Compute can select (tools/gpu_check.sh, step profile).
template <typename Fn>
Median median_ms(int runs, int warmup, Device device, const char* range, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> wall, cpu;
  for (int i = 0; i < runs; ++i) {
    if (device.is_cuda()) {
      const cuda::ProfileRange profiled(range);
      cuda::StreamTimer timer(device);
      fn();
      wall.push_back(timer.stop_ms());
      continue;
    }
    const double t0 = wall_s(), c0 = process_cpu_s();
    fn();
    wall.push_back(1e3 * (wall_s() - t0));
    cpu.push_back(1e3 * (process_cpu_s() - c0));
  }
  return {median(wall), median(cpu)};
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
  const Median train = median_ms(s.runs, s.warmup, s.device, "nkd_train_step", [&] {
    sgd.zero_grad();
    const PrecisionGuard precision(s.precision);  // one step: the BF16 weight copies made once
    const Tensor logits = widen_to_f32(net->forward(x));
    const Tensor loss = ops::neg(ops::mean(ops::gather(ops::log_softmax(logits, 1), 1, labels)));
    loss.backward();
    sgd.step(0.01);
  });
  t.train_ms = train.wall_ms;
  t.cpu_train_ms = train.cpu_ms;
  if (s.device.is_cuda()) t.peak_mib = static_cast<double>(cuda::memory_stats(s.device.index).peak_bytes) / (1 << 20);
  net->eval();
  NoGradGuard no_grad;
  const PrecisionGuard precision(s.precision);  // inference: the weights converted once for all runs
  // What nkd_eval runs (train/evaluate.cpp): the inference form (batch norm folded, ReLU and the
  // residual fused), except under bf16 autocast, where the net itself runs.
  std::optional<nets::InferenceNet> form;
  if (!autocast_enabled()) form.emplace(net);
  const Median infer = median_ms(s.runs, s.warmup, s.device, "nkd_inference", [&] {
    const Tensor logits = form ? form->forward(x) : net->forward(x);
  });
  t.infer_ms = infer.wall_ms;
  t.cpu_infer_ms = infer.cpu_ms;
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
    out[e["name"].get<std::string>()] = {e.value("train_ms", 0.0),       e.value("infer_ms", 0.0),
                                         e.value("peak_mib", 0.0),       e.value("amp_train_ms", 0.0),
                                         e.value("amp_infer_ms", 0.0),   e.value("amp_peak_mib", 0.0),
                                         e.value("cpu_train_ms", 0.0),   e.value("cpu_infer_ms", 0.0),
                                         e.value("cl_train_ms", 0.0),    e.value("cl_infer_ms", 0.0),
                                         e.value("cl_cpu_train_ms", 0.0), e.value("cl_cpu_infer_ms", 0.0)};
  if (amp_peer(s))  // the AMP figures take the PyTorch columns
    for (auto& [name, t] : out) t = {.train_ms = t.amp_train_ms, .infer_ms = t.amp_infer_ms, .peak_mib = t.amp_peak_mib};
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

// On the CPU: PyTorch in both layouts (NCHW and channels_last, F32), once in wall time and once in
// process CPU time (all threads).
void print_cpu_tables(const Settings& s, const std::vector<Timing>& nkd, const std::map<std::string, Timing>& torch) {
  const double b = static_cast<double>(s.batch);
  for (const bool cpu_time : {false, true}) {
    std::cout << (cpu_time ? "\n" : "") << "Models, nkd " << precision_name(s.precision)
              << " vs PyTorch F32 NCHW and channels_last, CPU, " << s.threads << " threads, batch " << s.batch << ", "
              << s.size << "x" << s.size << ", 1000 classes: images/s from the median "
              << (cpu_time ? "process CPU time (all threads)" : "wall time") << " of " << s.runs << " runs after "
              << s.warmup
              << " warm-up (ms in brackets); train step = forward + cross entropy + backward + SGD (momentum, "
                 "weight decay); nkd inference = its inference form (batch norm folded, as nkd_eval runs it), PyTorch's = "
                 "eval mode under no_grad; ratio = PyTorch ms / nkd ms (> 1: nkd faster)\n\n"
                 "| net | nkd train | PyTorch NCHW train | PyTorch channels_last train | ratio NCHW | ratio "
                 "channels_last | nkd inference | PyTorch NCHW inference | PyTorch channels_last inference | ratio "
                 "NCHW | ratio channels_last |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (size_t i = 0; i < s.nets.size(); ++i) {
      const auto it = torch.find(s.nets[i]);
      const Timing* pt = it == torch.end() ? nullptr : &it->second;
      const Timing& mine = nkd[i];
      const double nt = cpu_time ? mine.cpu_train_ms : mine.train_ms, ni = cpu_time ? mine.cpu_infer_ms : mine.infer_ms;
      std::cout << "| " << s.nets[i] << " | " << cell(b, nt) << " | ";
      if (pt) {
        const double tt = cpu_time ? pt->cpu_train_ms : pt->train_ms, ct = cpu_time ? pt->cl_cpu_train_ms : pt->cl_train_ms;
        std::cout << cell(b, tt) << " | " << cell(b, ct) << " | " << ratio(tt, nt) << " | " << ratio(ct, nt) << " | ";
      } else {
        std::cout << "- | - | - | - | ";
      }
      std::cout << cell(b, ni) << " | ";
      if (pt) {
        const double ti = cpu_time ? pt->cpu_infer_ms : pt->infer_ms, ci = cpu_time ? pt->cl_cpu_infer_ms : pt->cl_infer_ms;
        std::cout << cell(b, ti) << " | " << cell(b, ci) << " | " << ratio(ti, ni) << " | " << ratio(ci, ni) << " |\n";
      } else {
        std::cout << "- | - | - | - |\n";
      }
    }
  }
}

void print_table(const Settings& s, const std::vector<Timing>& nkd, const std::map<std::string, Timing>& torch) {
  const bool gpu = s.device.is_cuda();
  if (!gpu) return print_cpu_tables(s, nkd, torch);
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
