// The Trainer behind train() (see trainer.h): setup, the epoch loop, logging and checkpoints.
#include "train/trainer.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "train/checkpoint.h"
#include "train/cuda_graph_step.h"
#include "train/data_setup.h"
#include "train/distiller.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/train_log.h"
#include "engine/autocast.h"
#include "engine/autograd/grad_mode.h"
#include "engine/check.h"
#include "engine/cpu/blas_core.h"
#include "engine/cuda/allocator.h"
#include "engine/cuda/device.h"
#include "engine/cuda/math_mode.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/optimizer.h"
#include "layers/basic.h"
#include "io/safetensors.h"

namespace nkd::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_stop_signal.store(sig);
  std::signal(sig, SIG_DFL);  // a second signal ends the process at once
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<optim::ParamGroup> param_groups(Distiller& model, const OptimConfig& o) {
  const auto norms = model.norm_parameter_names();
  std::map<double, size_t> by_mult;
  std::vector<optim::ParamGroup> groups;
  for (const auto& [name, p] : model.trainable_parameters()) {
    double mult = 1.0;
    if (std::find(norms.begin(), norms.end(), name) != norms.end()) mult = o.norm_decay_mult;
    else if (name.size() > 5 && name.ends_with(".bias")) mult = o.bias_decay_mult;
    for (const std::string& k : o.no_decay_keys)
      if (name.find(k) != std::string::npos) mult = 0;
    auto [it, fresh] = by_mult.emplace(mult, groups.size());
    if (fresh) groups.push_back({.params = {}, .lr_mult = 1.0, .decay_mult = mult});
    groups[it->second].params.push_back(p);
  }
  return groups;
}

struct Window {  // log-interval accumulators
  std::vector<std::pair<std::string, double>> losses;
  double total = 0, data_time = 0;
  int64_t steps = 0, images = 0;
  Clock::time_point start = Clock::now();
  // Each loss term's sum, then the total's, kept on the device (0-dim tensors) and read back once
  // per log interval (Trainer::read_device_sums).
  std::vector<Tensor> device_sums;
  int64_t first_iter = -1;  // the window's first iteration (1-based), for the NaN message
};

class Trainer {
 public:
  Trainer(const RunConfig& config, const TrainOptions& options);
  int run();

 private:
  void resume(const std::string& path);
  void resume_auto();
  bool run_epoch(int64_t epoch);
  void step(const data::Batch& batch, double data_time);
  StepOutput train_step(const Tensor& images, const Tensor& labels, const Tensor& soft_labels, double lr);
  void setup_cuda_graph();
  void read_device_sums();
  void log_window(int64_t epoch, int64_t iter_in_epoch);
  void write_checkpoint(const std::string& file, int64_t epoch, int64_t iter_in_epoch,
                        const std::map<std::string, std::string>& extra = {});
  void save(const std::string& file, int64_t epoch, int64_t iter_in_epoch);
  void validate(int64_t epoch);
  void find_best();
  void keep_if_best(int64_t epoch);

  const RunConfig& cfg_;
  TrainOptions opts_;
  TrainLog log_;
  std::unique_ptr<data::Loader> train_loader_, val_loader_;
  std::unique_ptr<Distiller> model_;
  std::vector<Tensor> params_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::LrSchedule> schedule_;
  int64_t start_epoch_ = 0, skip_ = 0, iter_ = 0, iters_per_epoch_ = 0, run_iters_ = 0;
  Window window_;
  Clock::time_point run_start_ = Clock::now();
  double last_top1_ = -1, last_top5_ = -1;
  double best_top1_ = -1;  // the best val top-1 of the run so far (resumed runs: of the best file)
  int64_t best_epoch_ = 0;
  bool logged_precision_ = false;  // the first bf16 step's line
  bool stop_ = false;  // a stop signal, agreed by every rank (Trainer::step)
  std::unique_ptr<DataParallel> dp_;  // data-parallel runs only (distributed.h)
  int64_t val_size_ = 0;              // data-parallel runs: the val set size, to skip the sampler's padding
  int64_t val_images_ = -1, val_skipped_ = 0;  // the last evaluation's counts (result.json)
  std::unique_ptr<GraphedStep> graph_;  // runner.cuda_graph only (cuda_graph_step.h)
  StepOutput graph_like_;               // a warm-up step's loss terms, detached: the graph's static outputs
};

Trainer::Trainer(const RunConfig& config, const TrainOptions& options)
    : cfg_(config), opts_(options), log_((fs::create_directories(options.work_dir), options.work_dir)) {
  if (is_main_rank()) io::write_file_atomic(opts_.work_dir + "/config.toml", cfg_.resolved);
  const auto warn = [this](const std::string& line) {  // skipped files go to the log (rank 0)
    if (is_main_rank()) log_.line(line);
    else std::cerr << line << std::endl;
  };
  train_loader_ = make_loader(cfg_, true, cfg_.seed, warn);
  if (opts_.validate) val_loader_ = make_loader(cfg_, false, cfg_.seed, warn);
  iters_per_epoch_ = train_loader_->num_batches();
  model_ = std::make_unique<Distiller>(cfg_, cfg_.seed);
  for (const std::string& m : model_->load_messages()) log_.line(m);
  layers::seed_random_layers(*model_, cfg_.seed);
  if (opts_.device.is_cuda()) cuda::init(opts_.device);
  if (opts_.deterministic) cuda::set_deterministic(true);  // cuDNN: deterministic algorithms only
  cuda::set_exact_conv(conv_algos_exact(cfg_, cuda::detail::env_flag("NKD_CONV_EXACT")));  // runner.conv_algos
  model_->to(opts_.device);
  for (const auto& [n, p] : model_->trainable_parameters()) params_.push_back(p);
  if (dist::Communicator* comm = communicator()) {  // data parallel: rank 0's weights, bucketed all-reduce
    std::vector<Tensor> state;
    for (const auto& [n, t] : model_->state_dict()) state.push_back(t);
    dp_ = std::make_unique<DataParallel>(*comm, params_, state);
    log_.line(dp_->summary() + "; total batch " + std::to_string(cfg_.data.batch_size * comm->world_size()));
    if (opts_.validate) val_size_ = make_dataset(cfg_.data, false)->size();
  }
  const OptimConfig& o = cfg_.optim;
  if (o.type == "sgd")
    opt_ = std::make_unique<optim::Sgd>(param_groups(*model_, o),
        optim::SgdOptions{.momentum = o.momentum, .weight_decay = o.weight_decay, .nesterov = o.nesterov});
  else
    opt_ = std::make_unique<optim::AdamW>(param_groups(*model_, o),
        optim::AdamWOptions{.beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay});
  // The schedule holds the run's learning rate and gives each step its own (Trainer::step).
  schedule_ = std::make_unique<optim::LrSchedule>(o.lr, cfg_.lr, cfg_.epochs, iters_per_epoch_);
  setup_cuda_graph();
  if (opts_.resume == "auto") {
    resume_auto();
  } else if (!opts_.resume.empty()) {
    resume(opts_.resume);
  }
}

// The newest checkpoint of the work dir that loads; a damaged or unreadable one is reported and
// the next older one tried, so that one bad file costs an epoch, not the run.
void Trainer::resume_auto() {
  const std::vector<std::string> candidates = resume_candidates(opts_.work_dir);
  if (candidates.empty()) {
    log_.line("resume auto: no checkpoint in " + opts_.work_dir + ", starting fresh");
    return;
  }
  std::string reasons;
  for (const std::string& path : candidates) {
    try {
      resume(path);
      return;
    } catch (const Error& e) {
      log_.line("resume auto: cannot resume from " + path + ": " + e.what() +
                "; trying the next older checkpoint");
      reasons += "\n  " + path + ": " + e.what();
    }
  }
  NKD_FAIL("resume auto: none of the ", candidates.size(), " checkpoints in ", opts_.work_dir,
           " can be used (move them away to start fresh):", reasons);
}

void Trainer::resume(const std::string& path) {
  CheckpointState s;
  try {
    s = load_checkpoint(path);
  } catch (const Error& e) {  // the message names the role and the file
    const std::string msg = e.what();
    throw Error("resume checkpoint" + (msg.find(path) == std::string::npos ? " '" + path + "'" : "") + ": " + msg);
  }
  NKD_CHECK(s.seed == cfg_.seed, "checkpoint '", path, "' was trained with seed ", s.seed, ", the config says ",
            cfg_.seed, " (resume with the same seed)");
  model_->load_model_state(s.model);
  opt_->load_state(s.optimizer);
  layers::set_random_layer_offsets(*model_, s.rng_offsets);
  start_epoch_ = s.epoch;
  skip_ = s.iter_in_epoch;
  iter_ = s.iter;
  // An epoch of this run may have another number of iterations than the run that wrote the
  // checkpoint (resumed on fewer GPUs, or with another batch size): the global iteration, which
  // drives the LR schedule, is recounted in this run's iterations, and an interrupted epoch
  // restarts from its first batch (this run's batches are not the ones already seen).
  const auto saved = s.extra.find("iters_per_epoch");
  const int64_t saved_per_epoch = saved == s.extra.end() ? iters_per_epoch_ : std::stoll(saved->second);
  if (saved_per_epoch != iters_per_epoch_) {
    log_.line("resume: an epoch had " + std::to_string(saved_per_epoch) + " iterations in the checkpoint's run and has " +
              std::to_string(iters_per_epoch_) + " in this one (another batch size or number of ranks): the LR "
              "schedule continues at the start of epoch " + std::to_string(s.epoch + 1) +
              (s.iter_in_epoch > 0 ? ", which restarts from its first batch" : ""));
    skip_ = 0;
    iter_ = s.epoch * iters_per_epoch_;
  }
  log_.line("resumed from " + path + ": epoch " + std::to_string(s.epoch + 1) + ", iteration " +
            std::to_string(skip_) + " of the epoch (" + std::to_string(iter_) + " in all)");
  find_best();
}

void Trainer::setup_cuda_graph() {
  if (!cfg_.cuda_graph) return;
  const GraphRunFacts facts{.requested = true, .cuda = opts_.device.is_cuda(), .data_parallel = dp_ != nullptr,
                            .optimizer = cfg_.optim.type, .sync_alloc = cuda::sync_alloc_enabled(),
                            .debug_sync = cuda::detail::env_flag("NKD_CUDA_DEBUG_SYNC")};
  graph_ = std::make_unique<GraphedStep>(GraphStepPlan(graph_disabled_reason(facts), cfg_.data.batch_size),
                                         opts_.device, *opt_);
}

// Forward (student, teacher, losses) and backward at the run's precision, clipping, the optimizer
// step at `lr`: the part of a step a CUDA graph captures (GraphedStep), so no host synchronisation.
StepOutput Trainer::train_step(const Tensor& images, const Tensor& labels, const Tensor& soft_labels, double lr) {
  StepOutput out;
  const int64_t copies_before = autocast_weight_conversions();
  {
    // Forward and backward at the run's precision; the BF16 weight copies of a bf16 run are made
    // once here and dropped with the guard (the optimizer then updates the F32 parameters).
    const PrecisionGuard precision(cfg_.precision);
    out = model_->forward_train(images, labels, soft_labels);
    opt_->zero_grad();
    out.total.backward();
  }
  if (cfg_.precision == Precision::kBf16 && !logged_precision_ && is_main_rank()) {
    log_.line("bf16 autocast: " + std::to_string(autocast_weight_conversions() - copies_before) +
              " BF16 weight copies per step (F32 master weights)");
    logged_precision_ = true;
  }
  if (dp_) dp_->after_backward();  // gradients averaged over the ranks
  if (cfg_.optim.grad_clip > 0) optim::clip_grad_norm_async(params_, cfg_.optim.grad_clip);
  opt_->step(lr);
  return out;
}

// One training step, on every device: no host synchronisation. The loss terms are summed on the
// tensors' device and read back at the next log (Trainer::read_device_sums), where a NaN/inf is
// reported before any checkpoint is written. With runner.cuda_graph the step is a replayed graph
// for every batch of the full shape (GraphedStep), whose loss terms come from static tensors.
void Trainer::step(const data::Batch& batch, double data_time) {
  const double lr = schedule_->at(iter_);
  StepPath path = StepPath::kEager;
  std::optional<StepOutput> replayed;
  if (graph_) {
    path = graph_->plan().next(step_shape(batch.images, batch.labels, batch.soft_labels));
    replayed = graph_->run(
        path, batch.images, batch.labels, batch.soft_labels, lr,
        [this](const Tensor& i, const Tensor& l, const Tensor& s, double r) { return train_step(i, l, s, r); },
        graph_like_, [this](const std::string& line) { log_.line(line); });
  }
  StepOutput out;
  if (replayed) {
    out = *replayed;
  } else {
    const std::vector<uint64_t> offsets =
        path == StepPath::kWarmup ? layers::random_layer_offsets(*model_) : std::vector<uint64_t>{};
    out = train_step(batch.images.to(opts_.device), batch.labels, batch.soft_labels, lr);
    if (path == StepPath::kWarmup) {
      graph_like_ = StepOutput{};
      for (const auto& [n, t] : out.losses) graph_like_.losses.emplace_back(n, t.detach());
      graph_like_.total = out.total.detach();
      if (layers::random_layer_offsets(*model_) != offsets) {
        graph_->plan().disable("the step draws random numbers (dropout or drop path), which a replay would repeat");
        log_.line("CUDA graph: off: " + graph_->plan().reason() + "; every step runs eagerly");
      }
    }
    if (graph_) opt_->zero_grad();  // no gradient outside the graph's memory lingers between replays
  }
  {
    NoGradGuard no_grad;
    std::vector<Tensor>& sums = window_.device_sums;
    if (sums.empty()) {
      for (const auto& [n, t] : out.losses) sums.push_back(t.detach().clone());
      sums.push_back(out.total.detach().clone());
      window_.first_iter = iter_ + 1;
    } else {
      for (size_t i = 0; i < out.losses.size(); ++i) sums[i] = ops::add(sums[i], out.losses[i].second.detach());
      sums.back() = ops::add(sums.back(), out.total.detach());
    }
  }
  if (window_.losses.empty())
    for (const auto& [n, t] : out.losses) window_.losses.emplace_back(n, 0.0);
  window_.data_time += data_time;
  window_.images += batch.images.size(0) * dist_world();
  ++window_.steps;
  ++iter_;
  ++run_iters_;
  // The stop decision, the same on every rank: a signal on any rank stops all of them, one step
  // after it arrived (the agreement is read one step late, see DataParallel::stop_agreed).
  if (!dp_) {
    stop_ = g_stop_signal.load() != 0;
  } else if (dp_->stop_agreed(g_stop_signal.load() != 0)) {
    stop_ = true;
    if (!g_stop_signal.load()) g_stop_signal.store(SIGTERM);  // this rank's exit code
  }
}

void Trainer::read_device_sums() {
  std::vector<Tensor>& sums = window_.device_sums;
  if (sums.empty()) return;
  std::vector<double> v;
  for (const Tensor& s : sums) v.push_back(s.item());  // SYNC: log interval
  if (dp_) v = dp_->average(v);  // every rank logs (and checks) the same averages
  for (size_t i = 0; i + 1 < v.size(); ++i) window_.losses[i].second = v[i];
  window_.total = v.back();
  NKD_CHECK(std::isfinite(window_.total), "the loss is ", window_.total, " in iterations ", window_.first_iter,
            " to ", iter_, " (lower optimizer.lr, or check the data); the last checkpoint is kept");
  sums.clear();
}

void Trainer::log_window(int64_t epoch, int64_t iter_in_epoch) {
  read_device_sums();
  if (window_.steps == 0) return;
  const double secs = seconds_since(window_.start), n = double(window_.steps);
  const double per_iter = seconds_since(run_start_) / double(std::max<int64_t>(run_iters_, 1));
  const double eta = per_iter * double(cfg_.epochs * iters_per_epoch_ - iter_);
  const double lr = schedule_->at(iter_ - 1);  // the window's last step's
  nlohmann::json rec = {{"mode", "train"}, {"epoch", epoch + 1}, {"iter", iter_in_epoch}, {"global_iter", iter_},
                        {"lr", lr}, {"time", secs / n}, {"data_time", window_.data_time / n},
                        {"images_per_s", double(window_.images) / secs},
                        {"memory_mb", peak_memory_mb(opts_.device.is_cuda())}};
  std::ostringstream os;
  os.precision(4);
  os << "Epoch [" << epoch + 1 << "/" << cfg_.epochs << "][" << iter_in_epoch << "/" << iters_per_epoch_
     << "]  lr: " << std::scientific << lr << std::fixed << ", eta: " << format_duration(eta)
     << ", images/s: " << int64_t(double(window_.images) / secs) << ", data_time: " << window_.data_time / n
     << ", memory: " << int64_t(rec["memory_mb"].get<double>());
  for (const auto& [name, sum] : window_.losses) {
    rec[name] = sum / n;
    os << ", " << name << ": " << sum / n;
  }
  rec["loss"] = window_.total / n;
  os << ", loss: " << window_.total / n;
  log_.line(os.str());
  log_.record(rec);
  window_ = Window{};
}

void Trainer::write_checkpoint(const std::string& file, int64_t epoch, int64_t iter_in_epoch,
                               const std::map<std::string, std::string>& extra) {
  CheckpointState s;
  s.model = model_->model_state();
  s.optimizer = opt_->state();
  s.epoch = epoch;
  s.iter = iter_;
  s.iter_in_epoch = iter_in_epoch;
  s.seed = cfg_.seed;
  s.rng_offsets = layers::random_layer_offsets(*model_);
  s.extra["config"] = cfg_.resolved;
  s.extra["student_net"] = cfg_.student.net;
  s.extra["kind"] = model_->plain() ? "classifier" : "distiller";
  s.extra["iters_per_epoch"] = std::to_string(iters_per_epoch_);
  for (const auto& [k, v] : extra) s.extra[k] = v;
  save_checkpoint(opts_.work_dir + "/" + file, s);
}

void Trainer::save(const std::string& file, int64_t epoch, int64_t iter_in_epoch) {
  if (!is_main_rank()) return;  // one writer; every rank resumes from it
  write_checkpoint(file, epoch, iter_in_epoch);
  update_latest(opts_.work_dir, file);
  if (cfg_.max_keep_checkpoints > 0 && iter_in_epoch == 0)
    prune_checkpoints(opts_.work_dir, cfg_.max_keep_checkpoints, iter_);
}

constexpr const char* kBestPrefix = "best_accuracy_top-1_epoch_";

// The best top-1 so far, from the best checkpoint a resumed run finds in its work dir.
void Trainer::find_best() {
  for (const std::string& path : checkpoints_named(opts_.work_dir, kBestPrefix)) {
    try {
      const CheckpointState s = load_checkpoint(path);
      const double top1 = std::stod(s.extra.at("accuracy_top-1"));
      if (top1 > best_top1_) {
        best_top1_ = top1;
        best_epoch_ = s.epoch;
      }
    } catch (const std::exception& e) {
      log_.line(std::string("save_best: ignoring ") + path + ": " + e.what());
    }
  }
}

// After a validation: a new best top-1 is recorded, and with runner.save_best its checkpoint
// replaces the previous best one.
void Trainer::keep_if_best(int64_t epoch) {
  if (last_top1_ <= best_top1_) return;
  best_top1_ = last_top1_;
  best_epoch_ = epoch + 1;
  if (!cfg_.save_best || !is_main_rank()) return;
  const std::string file = kBestPrefix + std::to_string(epoch + 1) + ".safetensors";
  const std::vector<std::string> previous = checkpoints_named(opts_.work_dir, kBestPrefix);
  std::ostringstream top1;
  top1.precision(17);
  top1 << last_top1_;
  write_checkpoint(file, epoch + 1, 0, {{"accuracy_top-1", top1.str()}});
  std::error_code ec;
  for (const std::string& p : previous)
    if (fs::path(p).filename() != file) fs::remove(p, ec);
  log_.line("save_best: accuracy_top-1 " + std::to_string(last_top1_) + " is the best so far: " + file);
}

void Trainer::validate(int64_t epoch) {
  const PrecisionGuard precision(cfg_.precision);
  EvalResult r = evaluate(model_->student(), *val_loader_, opts_.device, {1, 5}, nullptr,
                          dp_ ? real_images_of_rank(val_size_) : -1);
  combine_over_ranks(r);  // data parallel: totals over the ranks
  last_top1_ = r.accuracy[0];
  last_top5_ = r.accuracy[1];
  std::ostringstream os;
  os.precision(2);
  os << std::fixed << "Epoch(val) [" << epoch + 1 << "][" << r.images << " images]  accuracy_top-1: " << last_top1_
     << ", accuracy_top-5: " << last_top5_ << " (" << r.seconds << " s; " << eval_summary(r) << ")";
  log_.line(os.str());
  log_.record({{"mode", "val"}, {"epoch", epoch + 1}, {"global_iter", iter_}, {"accuracy_top-1", last_top1_},
               {"accuracy_top-5", last_top5_}, {"images", r.images}, {"skipped", r.skipped},
               {"skipped_kinds", skipped_kinds(r)}, {"seconds", r.seconds}});
  val_images_ = r.images;
  val_skipped_ = r.skipped;
}


bool Trainer::run_epoch(int64_t epoch) {
  model_->set_train_mode();
  train_loader_->set_epoch(epoch);
  int64_t i = 0;
  for (; i < skip_; ++i)  // resuming mid-epoch: the same batches, keyed by (seed, epoch, index)
    NKD_CHECK(train_loader_->next().has_value(), "resume: the epoch has fewer batches than the checkpoint says");
  skip_ = 0;
  for (auto t = Clock::now();; t = Clock::now()) {
    std::optional<data::Batch> batch = train_loader_->next();
    if (!batch) break;
    step(*batch, seconds_since(t));
    ++i;
    if (i % cfg_.log_interval == 0) log_window(epoch, i);
    const bool stop_flag = opts_.stop_after_iters > 0 && run_iters_ >= opts_.stop_after_iters;
    if ((stop_ || stop_flag) && i < iters_per_epoch_) {
      log_window(epoch, i);
      train_loader_->stop();
      save("iter_" + std::to_string(iter_) + ".safetensors", epoch, i);
      return false;
    }
  }
  log_window(epoch, i);
  if ((epoch + 1) % cfg_.checkpoint_interval == 0 || epoch + 1 == cfg_.epochs || stop_ ||
      (opts_.stop_after_iters > 0 && run_iters_ >= opts_.stop_after_iters))
    save("epoch_" + std::to_string(epoch + 1) + ".safetensors", epoch + 1, 0);
  return true;
}

int Trainer::run() {
  log_.line(run_header(cfg_, opts_, iters_per_epoch_, cuda::detail::env_flag("NKD_CONV_EXACT")));
  if (!opts_.device.is_cuda()) log_.line("OpenBLAS kernels: " + cpu::upgrade_blas_core());
  if (graph_)
    log_.line(graph_->plan().enabled()
                  ? "CUDA graph: on (runner.cuda_graph): the step is captured after " +
                        std::to_string(GraphStepPlan::kDefaultWarmup) + " eager warm-up steps of the full batch (" +
                        std::to_string(cfg_.data.batch_size) + " images); other batch shapes run eagerly"
                  : "CUDA graph: off: " + graph_->plan().reason() + "; every step runs eagerly");
  if (cfg_.tensorboard) log_.open_tensorboard(opts_.work_dir + "/tf_logs", iter_, cfg_.resolved);
  run_start_ = Clock::now();
  window_ = Window{};
  for (int64_t epoch = start_epoch_; epoch < cfg_.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const bool finished = run_epoch(epoch);
    const bool stop_flag = opts_.stop_after_iters > 0 && run_iters_ >= opts_.stop_after_iters;
    if (finished) {
      const int64_t bad = int64_t(train_loader_->stats().skipped_files.size());
      if (bad > 0)
        log_.line("Epoch [" + std::to_string(epoch + 1) + "]: " + std::to_string(bad) +
                  " unreadable training files skipped (each replaced by the next readable sample)");
      log_.record({{"mode", "epoch"}, {"epoch", epoch + 1}, {"seconds", seconds_since(epoch_start)},
                   {"skipped", bad}});
      const bool last = epoch + 1 == cfg_.epochs;
      if (opts_.validate && ((epoch + 1) % cfg_.eval_interval == 0 || last) && !stop_) {
        validate(epoch);
        keep_if_best(epoch);
      }
    }
    if (!finished || stop_ || (stop_flag && epoch + 1 < cfg_.epochs)) {
      const int sig = g_stop_signal.load();
      log_.line(std::string(sig ? "interrupted by signal " + std::to_string(sig) : "stopped (--stop-after-iters)") +
                ": checkpoint written after iteration " + std::to_string(iter_) +
                "; continue with --resume auto");
      return sig ? 128 + sig : 0;
    }
  }
  const double secs = seconds_since(run_start_);
  nlohmann::json result = {{"top1", last_top1_}, {"top5", last_top5_}, {"train_seconds", secs},
                           {"epochs", cfg_.epochs - start_epoch_}, {"iterations", run_iters_}};
  if (val_images_ >= 0) {
    result["val_images"] = val_images_;
    result["val_skipped"] = val_skipped_;
  }
  if (best_top1_ >= 0) {
    result["best_top1"] = best_top1_;
    result["best_epoch"] = best_epoch_;
  }
  if (is_main_rank()) io::write_file_atomic(opts_.work_dir + "/result.json", result.dump(2) + "\n");
  log_.line("done in " + format_duration(secs) +
            (last_top1_ >= 0 ? ", final top-1 " + std::to_string(last_top1_) : "") +
            (best_top1_ >= 0 ? ", best top-1 " + std::to_string(best_top1_) + " (epoch " +
                                   std::to_string(best_epoch_) + ")" : ""));
  return 0;
}

}  // namespace

std::string run_header(const RunConfig& config, const TrainOptions& options, int64_t iters_per_epoch,
                       bool env_exact) {
  return "nkd distill: config " + config.config_path + ", work dir " + options.work_dir + ", device " +
         options.device.str() + ", " + std::to_string(iters_per_epoch) + " iterations per epoch, " +
         std::to_string(config.epochs) + " epochs, seed " + std::to_string(config.seed) +
         (options.deterministic ? ", deterministic" : "") + ", " + conv_algos_note(config, env_exact);
}

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int train(const RunConfig& config, const TrainOptions& options) {
  Trainer trainer(config, options);
  return trainer.run();
}

}  // namespace nkd::train
