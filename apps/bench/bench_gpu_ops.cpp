// GPU op benchmark: each op is timed alone with CUDA events on the compute stream (median of `runs`
// after `warmup`); a backward pass is timed after an untimed forward, from a ones cotangent, with
// only the inputs of that pass requiring gradients. Same definitions in the PyTorch peer.
#include "apps/bench/bench_gpu_ops.h"
#include "apps/bench/bench_clock.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/bench/torch_peer.h"
#include "engine/autograd/grad_mode.h"
#include "engine/cuda/device.h"
#include "engine/cuda/math_mode.h"
#include "engine/cuda/timer.h"
#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/conv.h"
#include "engine/ops/matmul.h"
#include "engine/ops/norm.h"

namespace nkd::apps {
namespace {

using json = nlohmann::json;

// One benchmarked op: kind "conv" (n c h w -> k, r x r, stride, pad), "bn" and "relu" (n c h w),
// "linear" (n rows, c -> k).
struct GpuOp {
  std::string name, kind;
  int64_t n = 0, c = 0, h = 1, w = 1, k = 0, r = 1, stride = 1, pad = 0;
};

std::vector<GpuOp> resnet50_ops(int64_t b) {
  return {
      {"conv 3x3 64->64 56x56", "conv", b, 64, 56, 56, 64, 3, 1, 1},
      {"conv 3x3 256->256 14x14", "conv", b, 256, 14, 14, 256, 3, 1, 1},
      {"conv 1x1 256->64 56x56", "conv", b, 256, 56, 56, 64, 1, 1, 0},
      {"conv 1x1 1024->256 14x14", "conv", b, 1024, 14, 14, 256, 1, 1, 0},
      {"conv 7x7/2 3->64 224x224", "conv", b, 3, 224, 224, 64, 7, 2, 3},
      {"batch_norm train 256 56x56", "bn", b, 256, 56, 56},
      {"relu 256 56x56", "relu", b, 256, 56, 56},
      {"linear 2048->1000", "linear", b, 2048, 1, 1, 1000},
  };
}

// A pass of an op: which inputs need gradients (all false: the forward pass) and its work.
struct Pass {
  std::string name;
  std::vector<bool> grads;
  double work;  // FLOP, or bytes moved for memory-bound ops
};

struct Bench {
  std::vector<Tensor> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<Pass> passes;
  bool flops = true;  // work in FLOP (TFLOP/s) or bytes (GB/s)
};

int64_t out_size(int64_t in, int64_t r, int64_t stride, int64_t pad) { return (in + 2 * pad - r) / stride + 1; }

Bench make_bench(const GpuOp& op, Device dev) {
  Generator gen(1);
  auto rnd = [&](Shape s) { return randn(std::move(s), gen).to(dev); };
  Bench b;
  const double numel = static_cast<double>(op.n * op.c * op.h * op.w), f32 = 4;
  if (op.kind == "conv") {
    const int64_t p = out_size(op.h, op.r, op.stride, op.pad), q = out_size(op.w, op.r, op.stride, op.pad);
    const double gemm = 2.0 * op.n * op.k * p * q * op.c * op.r * op.r;
    b.inputs = {rnd({op.n, op.c, op.h, op.w}), rnd({op.k, op.c, op.r, op.r})};
    const ops::Conv2dOptions o{.stride = op.stride, .padding = op.pad};
    b.fn = [o](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], Tensor(), o); };
    b.passes = {{"forward", {false, false}, gemm}, {"backward data", {true, false}, gemm},
                {"backward weight", {false, true}, gemm}};
  } else if (op.kind == "bn") {
    b.flops = false;
    b.inputs = {rnd({op.n, op.c, op.h, op.w}), ones({op.c}).to(dev), zeros({op.c}).to(dev)};
    const Tensor mean = zeros({op.c}).to(dev), var = ones({op.c}).to(dev);
    b.fn = [mean, var](const std::vector<Tensor>& in) {
      return ops::batch_norm(in[0], in[1], in[2], mean, var, {.training = true});
    };
    // Least traffic: forward reads x (statistics) and writes y; backward reads x and dy, writes dx.
    b.passes = {{"forward", {false, false, false}, 2 * numel * f32},
                {"backward", {true, true, true}, 3 * numel * f32}};
  } else if (op.kind == "relu") {
    b.flops = false;
    b.inputs = {rnd({op.n, op.c, op.h, op.w})};
    b.fn = [](const std::vector<Tensor>& in) { return ops::relu(in[0]); };
    b.passes = {{"forward", {false}, 2 * numel * f32}, {"backward", {true}, 3 * numel * f32}};
  } else {  // linear
    const double gemm = 2.0 * op.n * op.c * op.k;
    b.inputs = {rnd({op.n, op.c}), rnd({op.k, op.c}), rnd({op.k})};
    b.fn = [](const std::vector<Tensor>& in) { return ops::linear(in[0], in[1], in[2]); };
    b.passes = {{"forward", {false, false, false}, gemm}, {"backward", {true, true, true}, 2 * gemm}};
  }
  return b;
}

double time_pass(const Bench& b, const Pass& pass, Device dev, int runs, int warmup) {
  const bool backward = std::find(pass.grads.begin(), pass.grads.end(), true) != pass.grads.end();
  std::vector<Tensor> in;
  for (size_t i = 0; i < b.inputs.size(); ++i) {
    Tensor t = b.inputs[i].detach();
    if (pass.grads[i]) t.set_requires_grad(true);
    in.push_back(t);
  }
  std::vector<double> ms;
  for (int i = 0; i < warmup + runs; ++i) {
    double t = 0;
    if (!backward) {
      NoGradGuard no_grad;
      cuda::StreamTimer timer(dev);
      const Tensor y = b.fn(in);
      t = timer.stop_ms();
    } else {
      for (const Tensor& x : in) x.zero_grad();
      const Tensor y = b.fn(in);
      const Tensor gy = ones(y.shape()).to(dev);
      cuda::StreamTimer timer(dev);
      y.backward(gy);
      t = timer.stop_ms();
    }
    if (i >= warmup) ms.push_back(t);
  }
  return median(ms);
}

// tools/bench_gpu_ops_torch.py: name + pass -> median ms; empty without PyTorch on a GPU.
std::map<std::string, double> time_torch(const std::vector<GpuOp>& ops, int runs, int warmup) {
  std::map<std::string, double> out;
  json spec = {{"runs", runs}, {"warmup", warmup}, {"tf32", cuda::allow_tf32()}, {"ops", json::array()}};
  for (const GpuOp& o : ops)
    spec["ops"].push_back({{"name", o.name}, {"kind", o.kind}, {"n", o.n}, {"c", o.c}, {"h", o.h}, {"w", o.w},
                           {"k", o.k}, {"r", o.r}, {"stride", o.stride}, {"pad", o.pad}});
  const std::optional<json> peer = run_torch_peer("bench_gpu_ops_torch.py", spec, "torch");
  if (!peer) return out;
  for (const json& e : (*peer)["results"])
    out[e["name"].get<std::string>() + "|" + e["pass"].get<std::string>()] = e["ms"].get<double>();
  return out;
}

std::string rate(double work, double ms, bool flops) {
  char buf[64];
  if (flops) std::snprintf(buf, sizeof buf, "%.1f TFLOP/s (%.3f ms)", work / (ms * 1e-3) * 1e-12, ms);
  else std::snprintf(buf, sizeof buf, "%.0f GB/s (%.3f ms)", work / (ms * 1e-3) * 1e-9, ms);
  return buf;
}

}  // namespace

int bench_gpu_ops(int argc, char** argv) {
  int64_t batch = 64;
  int runs = 20, warmup = 3;
  bool with_torch = true;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--batch" && has_value) batch = std::max(1, std::atoi(argv[++i]));
    else if (a == "--runs" && has_value) runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && has_value) warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--no-torch") with_torch = false;
    else if (a == "--tf32") cuda::set_allow_tf32(true);
    else {
      std::cerr << "usage: nkd_bench gpu-ops [--batch N] [--runs N] [--warmup N] [--no-torch] [--tf32]\n";
      return 2;
    }
  }
  if (!cuda::is_available()) {
    std::cerr << "nkd_bench gpu-ops: " << cuda::unavailable_reason() << "\n";
    return 1;
  }
  const Device dev = cuda_device(0);
  const std::vector<GpuOp> ops = resnet50_ops(batch);
  std::vector<std::vector<double>> nkd_ms;
  std::vector<std::vector<Pass>> passes;  // per op, for the table
  std::vector<bool> flops;
  for (const GpuOp& op : ops) {
    std::cerr << "nkd: " << op.name << "\n";
    const Bench b = make_bench(op, dev);
    passes.push_back(b.passes);
    flops.push_back(b.flops);
    std::vector<double> row;
    for (const Pass& p : b.passes) {
      try {
        row.push_back(time_pass(b, p, dev, runs, warmup));
      } catch (const std::exception& e) {  // an op without a CUDA path yet: report, go on
        std::cerr << "nkd: " << op.name << " " << p.name << ": " << e.what() << "\n";
        row.push_back(-1);
      }
    }
    nkd_ms.push_back(row);
  }
  const std::map<std::string, double> torch = with_torch ? time_torch(ops, runs, warmup) : std::map<std::string, double>{};
  std::cout << "GPU ops at ResNet-50 shapes, batch " << batch << ", F32 (TF32 " << (cuda::allow_tf32() ? "on" : "off")
            << " in both), CUDA-event median of "
            << runs << " runs after " << warmup << " warm-up; ratio = PyTorch ms / nkd ms (> 1: nkd faster)\n\n"
            << "| op | pass | nkd | PyTorch | ratio |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < ops.size(); ++i) {
    for (size_t j = 0; j < passes[i].size(); ++j) {
      const Pass& p = passes[i][j];
      const double mine = nkd_ms[i][j];
      const auto it = torch.find(ops[i].name + "|" + p.name);
      std::cout << "| " << ops[i].name << " | " << p.name << " | " << (mine > 0 ? rate(p.work, mine, flops[i]) : "failed")
                << " | " << (it != torch.end() ? rate(p.work, it->second, flops[i]) : "-") << " | ";
      char ratio[32] = "-";
      if (it != torch.end() && mine > 0) std::snprintf(ratio, sizeof ratio, "%.2f", it->second / mine);
      std::cout << ratio << " |\n";
    }
  }
  return 0;
}

}  // namespace nkd::apps
