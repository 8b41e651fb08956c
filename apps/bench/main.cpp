// nkd_bench: benchmarks for docs/PERF.md. `nkd_bench conv [--runs N] [--warmup N] [--threads N]
// [--no-torch]` times ops::conv2d (F32, CPU, default 2 threads) forward/backward at ResNet-18 and
// MobileNetV2 layer shapes and, when /usr/bin/python3 imports torch, PyTorch at the same shapes and
// thread count (tools/bench_conv_torch.py) in the same run; prints one Markdown table with both, and
// a second one for the stride-1 3x3 shapes: the inference form's conv2d_fused vs conv2d_winograd.
// `nkd_bench demo ...` (bench_demo.h), `nkd_bench model ...` (bench_models.h), `nkd_bench distill ...`
// (bench_distill.h), `nkd_bench gpu-ops ...` (bench_gpu_ops.h) and `nkd_bench bn ...` (bench_bn.h): see there.
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

#include "apps/bench/bench_bn.h"
#include "apps/bench/bench_demo.h"
#include "apps/bench/bench_distill.h"
#include "apps/bench/bench_gpu_ops.h"
#include "apps/bench/bench_models.h"
#include "apps/bench/torch_peer.h"
#include "engine/autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/ops/conv.h"

namespace nkd::apps {
namespace {

using json = nlohmann::json;

struct ConvShape {
  std::string name;
  int64_t n, c, h, w, k, r, s, stride, pad, groups;
};

// Batch 8. ResNet-18: the 3x3 convolutions of layers 1-4, layer2's 1x1 stride-2 downsample and its
// first 3x3 stride-2 convolution; MobileNetV2: the 3x3 depthwise convolution of the 56x56 stage (144
// channels); the MobileNets' (and ShuffleNetV2's) 3x3 stride-2 stem on 3 channels; the ResNets' 7x7
// stride-2 stem (its backward data is not needed in training: the images take no gradient).
const std::vector<ConvShape> kShapes = {
    {"resnet18 layer1 3x3 64->64 56x56", 8, 64, 56, 56, 64, 3, 3, 1, 1, 1},
    {"resnet18 layer2 3x3 128->128 28x28", 8, 128, 28, 28, 128, 3, 3, 1, 1, 1},
    {"resnet18 layer3 3x3 256->256 14x14", 8, 256, 14, 14, 256, 3, 3, 1, 1, 1},
    {"resnet18 layer4 3x3 512->512 7x7", 8, 512, 7, 7, 512, 3, 3, 1, 1, 1},
    {"resnet18 downsample 1x1/2 64->128 56x56", 8, 64, 56, 56, 128, 1, 1, 2, 0, 1},
    {"mobilenetv2 dw 3x3 144 56x56", 8, 144, 56, 56, 144, 3, 3, 1, 1, 144},
    {"resnet18 layer2 3x3/2 64->128 56x56", 8, 64, 56, 56, 128, 3, 3, 2, 1, 1},
    {"mobilenet stem 3x3/2 3->32 224x224", 8, 3, 224, 224, 32, 3, 3, 2, 1, 1},
    {"resnet stem 7x7/2 3->64 224x224", 8, 3, 224, 224, 64, 7, 7, 2, 3, 1},
};

struct Timing {
  double fwd = 0, bwd = 0, bwd_data = 0, bwd_weight = 0;  // median ms
  double fused = 0, winograd = 0;  // inference form: conv2d_fused and conv2d_winograd, bias + ReLU (0: n/a)
};

// The stride-1 3x3 shapes that the inference form may run with Winograd.
bool winograd_shape(const ConvShape& sh) {
  return sh.r == 3 && sh.s == 3 && sh.stride == 1 && sh.pad == 1 && sh.groups == 1;
}

double gflop(const ConvShape& sh) {  // one forward pass
  const int64_t p = (sh.h + 2 * sh.pad - sh.r) / sh.stride + 1, q = (sh.w + 2 * sh.pad - sh.s) / sh.stride + 1;
  return 2.0 * sh.n * sh.k * p * q * (sh.c / sh.groups) * sh.r * sh.s * 1e-9;
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median of `runs` values of fn() (each returns the milliseconds it measured) after `warmup` calls.
template <typename Fn>
double median_ms(int runs, int warmup, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) t.push_back(fn());
  std::sort(t.begin(), t.end());
  return runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
}

Timing time_nkd(const ConvShape& sh, int runs, int warmup) {
  Generator gen(1);
  const Tensor x = randn({sh.n, sh.c, sh.h, sh.w}, gen), w = randn({sh.k, sh.c / sh.groups, sh.r, sh.s}, gen);
  const ops::Conv2dOptions o{.stride = sh.stride, .padding = sh.pad, .groups = sh.groups};
  Timing t;
  {
    NoGradGuard no_grad;
    t.fwd = median_ms(runs, warmup, [&] {
      const double t0 = now_ms();
      const Tensor y = ops::conv2d(x, w, Tensor(), o);
      return now_ms() - t0;
    });
    if (winograd_shape(sh)) {  // the inference form's two paths, with a bias and ReLU as in a ResNet
      const Tensor b = randn({sh.k}, gen);
      const ops::WinogradWeights u = ops::winograd_weights(w);
      t.fused = median_ms(runs, warmup, [&] {
        const double t0 = now_ms();
        const Tensor y = ops::conv2d_fused(x, w, b, Tensor(), ops::Act::kReLU, o);
        return now_ms() - t0;
      });
      t.winograd = median_ms(runs, warmup, [&] {
        const double t0 = now_ms();
        const Tensor y = ops::conv2d_winograd(x, u, b, Tensor(), ops::Act::kReLU);
        return now_ms() - t0;
      });
    }
  }
  // The backward pass alone: each run records a fresh forward (untimed), then times backward().
  auto backward = [&](bool need_x, bool need_w) {
    Tensor xl = x.detach().clone(), wl = w.detach().clone();
    xl.set_requires_grad(need_x);
    wl.set_requires_grad(need_w);
    return median_ms(runs, warmup, [&] {
      xl.zero_grad();
      wl.zero_grad();
      const Tensor y = ops::conv2d(xl, wl, Tensor(), o);
      const Tensor gy = ones(y.shape());
      const double t0 = now_ms();
      y.backward(gy);
      return now_ms() - t0;
    });
  };
  t.bwd = backward(true, true);
  t.bwd_data = backward(true, false);
  t.bwd_weight = backward(false, true);
  return t;
}

// Runs tools/bench_conv_torch.py; empty map when PyTorch is unavailable or the script fails.
std::map<std::string, Timing> time_torch(int runs, int warmup, int threads) {
  std::map<std::string, Timing> out;
  json spec = {{"runs", runs}, {"warmup", warmup}, {"threads", threads}, {"shapes", json::array()}};
  for (const ConvShape& s : kShapes)
    spec["shapes"].push_back({{"name", s.name}, {"n", s.n}, {"c", s.c}, {"h", s.h}, {"w", s.w}, {"k", s.k},
                              {"r", s.r}, {"s", s.s}, {"stride", s.stride}, {"pad", s.pad}, {"groups", s.groups}});
  const std::optional<json> peer = run_torch_peer("bench_conv_torch.py", spec, "torch");
  if (!peer) return out;
  const json& r = *peer;
  for (const json& e : r["results"])
    out[e["name"].get<std::string>()] = {e["fwd_ms"].get<double>(), e["bwd_ms"].get<double>(),
                                         e["bwd_data_ms"].get<double>(), e["bwd_weight_ms"].get<double>()};
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void print_row(const std::string& shape, const char* pass, double gf, double nkd_ms, const double* torch_ms) {
  std::cout << "| " << shape << " | " << pass << " | " << fmt("%.1f", gf / (nkd_ms * 1e-3)) << " ("
            << fmt("%.2f", nkd_ms) << " ms) | ";
  if (torch_ms)
    std::cout << fmt("%.1f", gf / (*torch_ms * 1e-3)) << " (" << fmt("%.2f", *torch_ms) << " ms) | "
              << fmt("%.2f", *torch_ms / nkd_ms) << " |\n";
  else
    std::cout << "- | - |\n";
}

int bench_conv(int runs, int warmup, int threads, bool with_torch) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  std::vector<Timing> nkd;
  for (const ConvShape& s : kShapes) {
    std::cerr << "nkd: " << s.name << "\n";
    nkd.push_back(time_nkd(s, runs, warmup));
  }
  std::map<std::string, Timing> torch;
  if (with_torch) torch = time_torch(runs, warmup, threads);
  std::cout << "conv2d, F32, CPU, " << threads << " thread(s), batch 8, no bias: GFLOP/s (median ms of " << runs
            << " runs after " << warmup << " warm-up runs); ratio = PyTorch ms / nkd ms (> 1: nkd faster)\n\n"
            << "| shape | pass | nkd | PyTorch | ratio |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < kShapes.size(); ++i) {
    const ConvShape& s = kShapes[i];
    const double gf = gflop(s);
    const auto it = torch.find(s.name);
    const Timing* pt = it == torch.end() ? nullptr : &it->second;
    print_row(s.name, "forward", gf, nkd[i].fwd, pt ? &pt->fwd : nullptr);
    print_row(s.name, "backward (data + weight)", 2 * gf, nkd[i].bwd, pt ? &pt->bwd : nullptr);
    print_row(s.name, "backward data", gf, nkd[i].bwd_data, pt ? &pt->bwd_data : nullptr);
    print_row(s.name, "backward weight", gf, nkd[i].bwd_weight, pt ? &pt->bwd_weight : nullptr);
  }
  std::cout << "\nInference form (no grad, bias + ReLU in the output pass): conv2d_fused (im2col + GEMM) vs "
               "conv2d_winograd (F(4x4, 3x3)), GFLOP/s of the direct convolution's count (median ms); "
               "PyTorch: its forward above (no bias)\n\n"
            << "| shape | fused | Winograd | Winograd speed-up | PyTorch fwd / Winograd |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < kShapes.size(); ++i) {
    const ConvShape& s = kShapes[i];
    if (!winograd_shape(s)) continue;
    const double gf = gflop(s);
    const auto it = torch.find(s.name);
    std::cout << "| " << s.name << " | " << fmt("%.1f", gf / (nkd[i].fused * 1e-3)) << " (" << fmt("%.2f", nkd[i].fused)
              << " ms) | " << fmt("%.1f", gf / (nkd[i].winograd * 1e-3)) << " (" << fmt("%.2f", nkd[i].winograd)
              << " ms) | " << fmt("%.2f", nkd[i].fused / nkd[i].winograd) << " | "
              << (it == torch.end() ? std::string("-") : fmt("%.2f", it->second.fwd / nkd[i].winograd)) << " |\n";
  }
  return 0;
}

int usage() {
  std::cerr << "usage: nkd_bench conv [--runs N] [--warmup N] [--threads N] [--no-torch]\n"
               "       nkd_bench demo [--iters N] [--runs N] [--threads N] [--no-torch]\n"
               "       nkd_bench model [names...] [options]   (see nkd_bench model --help)\n"
               "       nkd_bench distill [--teacher NAME|none] [--student NAME] [--loss kd|nkd|tf_nkd|uskd] [options]\n"
               "       nkd_bench gpu-ops [--batch N] [--runs N] [--warmup N] [--no-torch] [--tf32]\n"
               "       nkd_bench bn [--runs N] [--iters N] [--threads N]\n";
  return 2;
}

}  // namespace
}  // namespace nkd::apps

int main(int argc, char** argv) {
  try {
    if (argc >= 2 && std::string(argv[1]) == "demo") return nkd::apps::bench_demo(argc - 2, argv + 2);
    if (argc >= 2 && std::string(argv[1]) == "bn") return nkd::apps::bench_bn(argc - 2, argv + 2);
    if (argc >= 2 && std::string(argv[1]) == "model") return nkd::apps::bench_models(argc - 2, argv + 2);
    if (argc >= 2 && std::string(argv[1]) == "distill") return nkd::apps::bench_distill(argc - 2, argv + 2);
    if (argc >= 2 && std::string(argv[1]) == "gpu-ops") return nkd::apps::bench_gpu_ops(argc - 2, argv + 2);
    if (argc < 2 || std::string(argv[1]) != "conv") return nkd::apps::usage();
    int runs = 7, warmup = 2, threads = 2;
    bool with_torch = true;
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
      else if (a == "--warmup" && i + 1 < argc) warmup = std::max(0, std::atoi(argv[++i]));
      else if (a == "--threads" && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
      else if (a == "--no-torch") with_torch = false;
      else return nkd::apps::usage();
    }
    return nkd::apps::bench_conv(runs, warmup, threads, with_torch);
  } catch (const std::exception& e) {
    std::cerr << "nkd_bench: " << e.what() << "\n";
    return 1;
  }
}
