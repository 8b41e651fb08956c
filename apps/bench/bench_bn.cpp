// `nkd_bench bn [--runs N] [--iters N] [--threads N]`: one training forward + backward of
// relu(batch_norm(x)) and relu(batch_norm(x) + r), F32, CPU, at the Fashion-MNIST demo's ResNet-18
// shapes (batch 128) and two 224-pixel ResNet-18 shapes (batch 8): the separate ops (batch_norm,
// add, relu) against ops::batch_norm_act, alternating runs of `iters` iterations; prints the median
// CPU milliseconds (all threads) per iteration of each and their ratio.
#include "apps/bench/bench_bn.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "apps/bench/bench_clock.h"
#include "engine/factory.h"
#include "engine/ops/activation.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"

namespace nkd::apps {
namespace {

struct Settings {
  int runs = 5, iters = 20, threads = 2;
};

// CPU ms per iteration of forward + backward; fused: batch_norm_act, else the separate ops.
double time_ms(const Shape& shape, bool residual, bool fused, int iters) {
  Generator gen(1);
  const int64_t C = shape[1];
  Tensor x = randn(shape, gen), r = randn(shape, gen), g = randn(shape, gen);
  Tensor w = ones({C}), b = zeros({C}), rm = zeros({C}), rv = ones({C});
  for (Tensor* t : {&x, &r, &w, &b}) t->set_requires_grad(true);
  const ops::BatchNormOptions o{.training = true};
  const double c0 = process_cpu_s();
  for (int i = 0; i < iters; ++i) {
    Tensor y;
    if (fused) {
      y = ops::batch_norm_act(x, w, b, rm, rv, o, ops::Act::kReLU, residual ? r : Tensor());
    } else {
      y = ops::batch_norm(x, w, b, rm, rv, o);
      y = ops::relu(residual ? ops::add(y, r) : y);
    }
    y.backward(g);
    for (Tensor* t : {&x, &r, &w, &b}) t->zero_grad();
  }
  return (process_cpu_s() - c0) * 1e3 / iters;
}

}  // namespace

int bench_bn(int argc, char** argv) {
  Settings s;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) s.runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--iters" && i + 1 < argc) s.iters = std::max(1, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc) s.threads = std::max(1, std::atoi(argv[++i]));
    else {
      std::cerr << "usage: nkd_bench bn [--runs N] [--iters N] [--threads N]\n";
      return 2;
    }
  }
#ifdef _OPENMP
  omp_set_num_threads(s.threads);
#endif
  const std::vector<Shape> shapes = {{128, 8, 28, 28}, {128, 16, 28, 28}, {128, 32, 14, 14}, {128, 64, 7, 7},
                                     {8, 64, 56, 56},   {8, 256, 14, 14}};
  std::cout << "batch norm + ReLU (+ residual), training forward + backward, F32, CPU, " << s.threads
            << " threads: median CPU ms per iteration over " << s.runs << " alternating runs of " << s.iters
            << "\n\n| shape | residual | separate ops | batch_norm_act | separate / fused |\n|---|---|---|---|---|\n";
  for (const Shape& shape : shapes) {
    for (const bool residual : {false, true}) {
      std::vector<double> sep, fus;
      time_ms(shape, residual, true, 2);  // warm-up (allocator, page faults)
      time_ms(shape, residual, false, 2);
      for (int r = 0; r < s.runs; ++r) {
        sep.push_back(time_ms(shape, residual, false, s.iters));
        fus.push_back(time_ms(shape, residual, true, s.iters));
      }
      char line[160];
      std::snprintf(line, sizeof line, "| %s | %s | %.3f | %.3f | %.2fx |\n", to_string(shape).c_str(),
                    residual ? "yes" : "no", median(sep), median(fus), median(sep) / median(fus));
      std::cout << line << std::flush;
    }
  }
  return 0;
}

}  // namespace nkd::apps
