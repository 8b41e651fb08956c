// `nkd_bench distill [--teacher NAME|none] [--student NAME] [--loss kd|nkd|tf_nkd|uskd] [--batch N]
// [--size N] [--iters N] [--runs N] [--warmup N] [--threads N] [--device cpu|cuda] [--precision fp32|tf32|bf16]
// [--no-torch] [--profile-teacher N [--plain]] [--demo] [--cuda-graph]`:
// the distillation step of the paper's ImageNet recipes on random images (1000 classes; nkd at
// --precision, default fp32, bf16 being autocast's policy with the teacher's form in BF16 too): the
// student's training step (forward, CE + the loss, backward, SGD momentum 0.9 / weight decay 1e-4)
// plus the teacher's forward, and the teacher's forward alone, as images/s and the teacher's share
// of the step (teacher alone / step). nkd runs the teacher two ways: its inference form
// (nets/inference.h, what nkd_distill runs for an eval-mode teacher) and its plain eval-mode
// forward under NoGradGuard (before issue 16). PyTorch (tools/bench_distill_torch.py) does the same
// step with the teacher in eval mode under no_grad, in NCHW and channels_last on the CPU (bf16
// autocast + channels_last on a GPU), in the same run, alternating: each run times `iters` steps of
// every variant; the table gives the medians over the runs, of wall time and, on the CPU, of the
// process's CPU time (both sides wait passively: CPU time is the work done, which a shared
// machine's load changes far less than the wall time). --demo: the Fashion-MNIST demo's KD step instead
// (configs/fashion_mnist: ResNet-18 small_input x0.25 -> x0.125, 1x28x28, 10 classes, batch 128,
// KD T 4 alpha 0.9; its PyTorch peer is `nkd_bench demo`'s, so no PyTorch rows here: use it with
// --no-torch for the nkd side's CPU time). --profile-teacher N only runs the
// teacher's inference form (--plain: its eval-mode forward) N times, for `perf record`.
// --cuda-graph (GPU): one more row, the inference-form step captured once into a CUDA graph
// (engine/cuda/graph.h, as nkd_distill --cuda-graph does) and replayed, timed alternating with the
// eager rows; its ratio < 1 is the graph's gain (docs/GPU.md's decision rule: > 3% turns it on).
#include "apps/bench/bench_distill.h"

#include <algorithm>
#include <chrono>
#include <ctime>
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

#include "apps/bench/bench_clock.h"
#include "apps/bench/torch_peer.h"
#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/cuda/device.h"
#include "engine/cuda/graph.h"
#include "engine/cuda/timer.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/optimizer.h"
#include "layers/conv.h"
#include "losses/losses.h"
#include "nets/classifier.h"
#include "nets/inference.h"

namespace nkd::apps {
namespace {

using json = nlohmann::json;

struct Settings {
  std::string teacher = "resnet34", student = "resnet18", loss;  // loss "": nkd, or tf_nkd without teacher
  int64_t batch = 8, size = 224;
  int iters = 2, runs = 3, warmup = 1, threads = 2;
  bool torch = true;
  int profile_teacher = 0;
  bool plain = false, demo = false, cuda_graph = false;
  Device device = kCPU;
  Precision precision = Precision::kFp32;
  bool has_teacher() const { return teacher != "none"; }
  int64_t classes() const { return demo ? 10 : 1000; }
  nets::NetOptions options(double width) const {
    if (!demo) return {.num_classes = 1000};
    return {.num_classes = 10, .in_channels = 1, .width = width, .small_input = true};
  }
};

double now_ms() { return 1e3 * wall_s(); }
double cpu_ms() { return 1e3 * process_cpu_s(); }

struct Ms {
  double wall = 0, cpu = 0;  // per call; cpu: the process's CPU time (0 on a GPU)
};

// Milliseconds per call of fn over `iters` calls (CUDA events on a GPU, else wall and CPU time).
template <typename Fn>
Ms per_call_ms(int iters, Device device, Fn&& fn) {
  if (device.is_cuda()) {
    cuda::StreamTimer timer(device);
    for (int i = 0; i < iters; ++i) fn();
    return {timer.stop_ms() / iters, 0};
  }
  const double t0 = now_ms(), c0 = cpu_ms();
  for (int i = 0; i < iters; ++i) fn();
  return {(now_ms() - t0) / iters, (cpu_ms() - c0) / iters};
}

// nkd's side: the nets, the data and the step, built once.
class NkdDistill {
 public:
  explicit NkdDistill(const Settings& s) : s_(s) {
    student_ = nets::build_net(s.student, s.options(0.125), 0);
    student_->to(s.device);
    std::vector<Tensor> params = student_->parameters();
    if (s.loss == "uskd") {
      head_ = std::make_shared<layers::Linear>(student_->backbone().mid_channels(), s.classes());
      head_->to(s.device);
      for (const Tensor& p : head_->parameters()) params.push_back(p);
    }
    sgd_ = std::make_unique<optim::Sgd>(std::vector<optim::ParamGroup>{{params}},
                                        optim::SgdOptions{.momentum = 0.9, .weight_decay = 1e-4});
    if (s.has_teacher()) {
      teacher_ = nets::build_net(s.teacher, s.options(0.25), 1);
      teacher_->to(s.device);
      for (Tensor p : teacher_->parameters()) p.set_requires_grad(false);
      teacher_->eval();
      fused_ = std::make_unique<nets::InferenceNet>(teacher_);
      plain_ = std::make_unique<nets::InferenceNet>(teacher_, /*fuse=*/false);
    }
    Generator gen(1);
    x_ = randn({s.batch, s.options(1).in_channels, s.size, s.size}, gen).to(s.device);
    std::vector<int64_t> label_values;
    for (int64_t i = 0; i < s.batch; ++i) label_values.push_back((i * 37) % s.classes());
    labels_ = from_vector(label_values, {s.batch}).to(s.device);
    student_->train();
  }

  // fused: the teacher's inference form, else its eval-mode forward.
  void step(bool fused) {
    sgd_->zero_grad();
    const PrecisionGuard precision(s_.precision);  // as the trainer's step: forward and backward
    nets::ClassifierOutput out =
        s_.loss == "uskd" ? student_->forward_with_mid(x_) : nets::ClassifierOutput{student_->forward(x_), Tensor()};
    out.logits = widen_to_f32(out.logits);  // the losses in F32 (bf16: autocast's policy)
    out.mid_feature = widen_to_f32(out.mid_feature);
    Tensor loss = losses::cross_entropy(out.logits, labels_);
    if (s_.loss == "kd") {
      loss = ops::add(ops::mul(loss, 0.1), losses::kd_loss(out.logits, teacher(fused), {.temperature = 4, .alpha = 0.9}));
    } else if (s_.loss == "nkd") {
      loss = ops::add(loss, losses::nkd_loss(out.logits, teacher(fused), labels_, {.temperature = 1, .gamma = 1.5}));
    } else if (s_.loss == "tf_nkd") {
      for (const Tensor& t : losses::tf_nkd_loss(out.logits, labels_)) loss = ops::add(loss, t);
    } else {  // uskd
      loss = ops::add(loss, losses::uskd_loss(out.mid_feature, out.logits, labels_, head_->weight, head_->bias));
    }
    loss.backward();
    sgd_->step(0.01);
  }
  Tensor teacher(bool fused) const {
    const PrecisionGuard precision(s_.precision);  // nested in step()'s: the same scope's weight copies
    return fused ? fused_->forward(x_) : plain_->forward(x_);
  }

  // Captures step(true) (after the warm-up steps: gradients, momentum and cuDNN's searches exist)
  // with SGD reading its learning rate on the device; "" or why the capture failed.
  std::string capture() {
    lr_ = full({1}, 0.01, {DType::F64, s_.device});
    sgd_->zero_grad();  // the warm-up's gradients: freed before the capture, which frees only its own
    sgd_->set_device_lr(lr_);
    const std::string reason = graph_.capture(s_.device, [&] {
      step(true);
      sgd_->zero_grad();
    });
    sgd_->set_device_lr(Tensor());
    return reason;
  }
  void replay() const { graph_.replay(); }

 private:
  Settings s_;
  std::shared_ptr<nets::ImageClassifier> student_, teacher_;
  std::shared_ptr<layers::Linear> head_;
  std::unique_ptr<optim::Sgd> sgd_;
  std::unique_ptr<nets::InferenceNet> fused_, plain_;
  Tensor x_, labels_, lr_;
  cuda::Graph graph_;
};

// One row of the table: medians of the per-step milliseconds.
struct Row {
  std::string name;
  std::vector<double> step, teacher, step_cpu, teacher_cpu;
  void add(const Ms& st, const Ms& te) {
    step.push_back(st.wall);
    step_cpu.push_back(st.cpu);
    teacher.push_back(te.wall);
    teacher_cpu.push_back(te.cpu);
  }
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void print_table(const Settings& s, const std::vector<Row>& rows) {
  const std::string what = s.demo ? std::string("of the Fashion-MNIST demo (ResNet-18 small_input x0.25 -> x0.125, 1x28x28)")
                            : s.has_teacher() ? s.teacher + " -> " + s.student : s.student + " (no teacher)";
  const bool cpu = !s.device.is_cuda();
  std::cout << "Distillation step " << what << ", loss " << s.loss << ", nkd " << precision_name(s.precision) << ", "
            << (cpu ? "CPU, " + std::to_string(s.threads) + " threads" : std::string("GPU")) << ", batch " << s.batch
            << ", " << s.size << "x" << s.size << ", " << s.classes() << " classes: median over " << s.runs << " alternating runs of "
            << s.iters
            << " steps each; step = student forward + loss + backward + SGD + teacher forward; teacher = its "
               "forward alone; share = teacher / step; ratio = the row's step time / nkd's (> 1: nkd faster)"
            << (cpu ? "; CPU = process CPU time per step" : "") << "\n\n| side | step img/s | step ms | teacher ms | teacher share |"
            << (cpu ? " step CPU ms | teacher CPU ms | CPU share | ratio wall | ratio CPU |\n|---|---|---|---|---|---|---|---|---|---|\n"
                    : " ratio |\n|---|---|---|---|---|---|\n");
  const double base = median(rows[0].step), base_cpu = median(rows[0].step_cpu), b = static_cast<double>(s.batch);
  const auto share = [&](double te, double st) { return s.has_teacher() && st > 0 ? fmt("%.0f%%", 100.0 * te / st) : "-"; };
  for (const Row& r : rows) {
    if (r.step.empty()) continue;
    const double st = median(r.step), te = median(r.teacher), stc = median(r.step_cpu), tec = median(r.teacher_cpu);
    std::cout << "| " << r.name << " | " << fmt("%.2f", b / (st * 1e-3)) << " | " << fmt("%.0f", st) << " | "
              << (s.has_teacher() ? fmt("%.0f", te) : "-") << " | " << share(te, st) << " | ";
    if (cpu)
      std::cout << fmt("%.0f", stc) << " | " << (s.has_teacher() ? fmt("%.0f", tec) : "-") << " | " << share(tec, stc)
                << " | " << fmt("%.2f", st / base) << " | " << (base_cpu > 0 ? fmt("%.2f", stc / base_cpu) : "-") << " |\n";
    else
      std::cout << fmt("%.2f", st / base) << " |\n";
  }
}

bool parse(int argc, char** argv, Settings& s) {
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--teacher" && has_value) s.teacher = argv[++i];
    else if (a == "--student" && has_value) s.student = argv[++i];
    else if (a == "--loss" && has_value) s.loss = argv[++i];
    else if (a == "--batch" && has_value) s.batch = std::max(1, std::atoi(argv[++i]));
    else if (a == "--size" && has_value) s.size = std::max(32, std::atoi(argv[++i]));
    else if (a == "--iters" && has_value) s.iters = std::max(1, std::atoi(argv[++i]));
    else if (a == "--runs" && has_value) s.runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--warmup" && has_value) s.warmup = std::max(0, std::atoi(argv[++i]));
    else if (a == "--threads" && has_value) s.threads = std::max(1, std::atoi(argv[++i]));
    else if (a == "--device" && has_value) s.device = std::string(argv[++i]) == "cuda" ? cuda_device(0) : kCPU;
    else if (a == "--precision" && has_value) s.precision = parse_precision(argv[++i], "--precision");
    else if (a == "--no-torch") s.torch = false;
    else if (a == "--plain") s.plain = true;
    else if (a == "--demo") s.demo = true;
    else if (a == "--cuda-graph") s.cuda_graph = true;
    else if (a == "--profile-teacher" && has_value) s.profile_teacher = std::max(1, std::atoi(argv[++i]));
    else return false;
  }
  if (s.demo) {
    s.teacher = s.student = "resnet18";
    s.loss = "kd";
    s.batch = 128;
    s.size = 28;
    s.torch = false;
  }
  if (s.loss.empty()) s.loss = s.has_teacher() ? "nkd" : "tf_nkd";
  if (s.cuda_graph && (!s.device.is_cuda() || s.warmup < 1)) {
    std::cerr << "nkd_bench distill: --cuda-graph needs --device cuda and --warmup >= 1\n";
    return false;
  }
  const bool needs_teacher = s.loss == "kd" || s.loss == "nkd";
  if (needs_teacher != s.has_teacher() || (!needs_teacher && s.loss != "tf_nkd" && s.loss != "uskd")) {
    std::cerr << "nkd_bench distill: --loss kd|nkd need a --teacher, tf_nkd|uskd take --teacher none\n";
    return false;
  }
  return true;
}

}  // namespace

int bench_distill(int argc, char** argv) {
  Settings s;
  if (!parse(argc, argv, s)) {
    std::cerr << "usage: nkd_bench distill [--teacher NAME|none] [--student NAME] [--loss kd|nkd|tf_nkd|uskd] "
                 "[--batch N] [--size N] [--iters N] [--runs N] [--warmup N] [--threads N] [--device cpu|cuda] "
                 "[--precision fp32|tf32|bf16] [--no-torch] [--profile-teacher N [--plain]] [--demo] [--cuda-graph]\n";
    return 2;
  }
  if (s.device.is_cuda() && !cuda::is_available()) {
    std::cerr << "nkd_bench distill --device cuda: " << cuda::unavailable_reason() << "\n";
    return 1;
  }
#ifdef _OPENMP
  omp_set_num_threads(s.threads);
#endif
  NkdDistill nkd(s);
  if (s.profile_teacher > 0 && s.has_teacher()) {
    const Ms t = per_call_ms(s.profile_teacher, s.device, [&] { nkd.teacher(!s.plain); });
    std::cout << (s.plain ? "teacher eval forward: " : "teacher inference form: ") << t.wall << " ms wall, " << t.cpu
              << " ms CPU per forward\n";
    return 0;
  }
  const bool gpu = s.device.is_cuda();
  std::vector<Row> rows = {{s.has_teacher() ? "nkd, teacher inference form" : "nkd", {}, {}}, {"nkd, teacher eval forward (no fusion)", {}, {}},
                           {gpu ? "PyTorch F32" : "PyTorch NCHW", {}, {}},
                           {gpu ? "PyTorch channels_last + bf16 autocast" : "PyTorch channels_last", {}, {}},
                           {"nkd, teacher inference form, CUDA graph", {}, {}}};
  const int variants = s.has_teacher() ? 2 : 1;
  for (int v = 0; v < variants; ++v)
    for (int i = 0; i < s.warmup; ++i) {
      nkd.step(v == 0);
      if (s.has_teacher()) nkd.teacher(v == 0);
    }
  bool graphed = false;
  if (s.cuda_graph) {
    const std::string reason = nkd.capture();
    graphed = reason.empty();
    std::cerr << "CUDA graph: " << (graphed ? "captured" : "capture failed: " + reason) << "\n";
    if (graphed)
      for (int i = 0; i < s.warmup; ++i) nkd.replay();
  }
  for (int r = 0; r < s.runs; ++r) {
    for (int v = 0; v < variants; ++v) {
      const bool fused = v == 0;
      const Ms st = per_call_ms(s.iters, s.device, [&] { nkd.step(fused); });
      rows[v].add(st, s.has_teacher() ? per_call_ms(s.iters, s.device, [&] { nkd.teacher(fused); }) : Ms{});
      std::cerr << "run " << r << " " << rows[v].name << ": step " << rows[v].step.back() << " ms\n";
    }
    if (graphed) {  // right after the eager rows of the same run
      const Ms st = per_call_ms(s.iters, s.device, [&] { nkd.replay(); });
      rows[4].add(st, {rows[0].teacher.back(), 0});  // the teacher alone: its eager inference form
      std::cerr << "run " << r << " " << rows[4].name << ": step " << rows[4].step.back() << " ms\n";
    }
    if (!s.torch) continue;
    const json spec = {{"teacher", s.teacher}, {"student", s.student}, {"loss", s.loss},   {"batch", s.batch},
                       {"size", s.size},       {"iters", s.iters},     {"warmup", s.warmup}, {"threads", s.threads},
                       {"device", gpu ? "cuda" : "cpu"}};
    const std::optional<json> peer = run_torch_peer("bench_distill_torch.py", spec, "torch, torchvision");
    if (!peer) continue;
    for (int k = 0; k < 2; ++k) {
      const json& e = (*peer)["results"][k];
      rows[2 + k].add({e["step_ms"].get<double>(), e.value("step_cpu_ms", 0.0)},
                      {e.value("teacher_ms", 0.0), e.value("teacher_cpu_ms", 0.0)});
      std::cerr << "run " << r << " " << rows[2 + k].name << ": step " << rows[2 + k].step.back() << " ms\n";
    }
  }
  print_table(s, rows);
  return 0;
}

}  // namespace nkd::apps
