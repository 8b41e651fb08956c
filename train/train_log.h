// Training logs: a human log (also echoed to stdout) and a JSON-lines log with one record per
// logged iteration and per evaluation, both appended in the work dir.
#pragma once
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "train/tensorboard.h"

namespace nkd::train {

class TrainLog {
 public:
  explicit TrainLog(const std::string& work_dir);
  void line(const std::string& text);       // human log + stdout (any thread)
  void record(const nlohmann::json& rec);   // JSON-lines log (and TensorBoard, once opened)
  // TensorBoard event files in dir (mmcv's TensorboardLoggerHook): the config as text, then every
  // record's numbers as scalars at their global iteration (train/<key>, learning_rate, val/<key>,
  // train/epoch_time). A resumed run (start_iter > 0) writes a new file in the same folder; its
  // session start at start_iter + 1 makes TensorBoard drop what an interrupted run logged after
  // the checkpoint.
  void open_tensorboard(const std::string& dir, int64_t start_iter, const std::string& config);
  const std::string& human_path() const { return human_path_; }

 private:
  std::string human_path_;
  std::ofstream human_, json_;
  std::mutex mu_;
  std::unique_ptr<EventWriter> events_;
  int64_t step_ = 0;  // the global iteration of the last record that had one
  void add_scalars(const nlohmann::json& rec);
};

std::string format_duration(double seconds);  // "1:02:03" / "3:04"
double peak_memory_mb(bool cuda);             // CUDA peak, or the process's max RSS

}  // namespace nkd::train
