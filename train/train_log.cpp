// TrainLog and small formatting helpers (see train_log.h).
#include "train/train_log.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "train/cli.h"
#include "train/distributed.h"
#include "engine/check.h"
#include "engine/cuda/allocator.h"

namespace nkd::train {

namespace {
std::string timestamp() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d_%H%M%S", std::localtime(&t));
  return buf;
}
}  // namespace

TrainLog::TrainLog(const std::string& work_dir) {
  if (!is_main_rank()) return;  // data parallel: rank 0 logs, the others stay quiet
  const std::string stamp = timestamp();
  human_path_ = work_dir + "/" + stamp + ".log";
  human_.open(human_path_, std::ios::app);
  json_.open(work_dir + "/" + stamp + ".log.jsonl", std::ios::app);
  NKD_CHECK(human_ && json_, "cannot write logs in work dir '", work_dir, "'");
  set_error_log_file(human_path_);  // a fatal error ends up here too (cli.h: run_main)
}

void TrainLog::line(const std::string& text) {
  if (!human_.is_open()) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::cout << text << std::endl;
  human_ << text << "\n";
  human_.flush();
}

void TrainLog::record(const nlohmann::json& rec) {
  if (!json_.is_open()) return;
  json_ << rec.dump() << "\n";
  json_.flush();
  if (events_) add_scalars(rec);
}

void TrainLog::open_tensorboard(const std::string& dir, int64_t start_iter, const std::string& config) {
  if (!json_.is_open()) return;
  events_ = std::make_unique<EventWriter>(dir);
  step_ = start_iter;
  events_->session_start(start_iter + 1);
  std::string text;  // the TOML as a Markdown code block
  for (size_t begin = 0, end; begin < config.size(); begin = end + 1) {
    end = std::min(config.find('\n', begin), config.size());
    text += "    " + config.substr(begin, end - begin) + "\n";
  }
  events_->text("config", text, start_iter);
  events_->flush();
}

void TrainLog::add_scalars(const nlohmann::json& rec) {
  const std::string mode = rec.value("mode", "");
  if (rec.contains("global_iter")) step_ = rec["global_iter"].get<int64_t>();
  for (const auto& item : rec.items()) {
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    if (!value.is_number() || key == "epoch" || key == "iter" || key == "global_iter") continue;
    std::string tag = mode + "/" + key;
    if (mode == "train" && key == "lr") tag = "learning_rate";
    if (mode == "epoch") tag = key == "seconds" ? "train/epoch_time" : "train/epoch_" + key;
    events_->scalar(tag, value.get<double>(), step_);
  }
  events_->flush();
}

std::string format_duration(double seconds) {
  const int64_t s = int64_t(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600),
                               (long long)(s / 60 % 60), (long long)(s % 60));
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

double peak_memory_mb(bool cuda) {
  if (cuda) return double(cuda::memory_stats(0).peak_bytes) / (1024.0 * 1024.0);
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

}  // namespace nkd::train
