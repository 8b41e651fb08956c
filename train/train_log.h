// Training logs: a human log (also echoed to stdout) and a JSON-lines log with one record per
// logged iteration and per evaluation, both appended in the work dir.
#pragma once
#include <fstream>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace nkd::train {

class TrainLog {
 public:
  explicit TrainLog(const std::string& work_dir);
  void line(const std::string& text);       // human log + stdout (any thread)
  void record(const nlohmann::json& rec);   // JSON-lines log
  const std::string& human_path() const { return human_path_; }

 private:
  std::string human_path_;
  std::ofstream human_, json_;
  std::mutex mu_;
};

std::string format_duration(double seconds);  // "1:02:03" / "3:04"
double peak_memory_mb(bool cuda);             // CUDA peak, or the process's max RSS

}  // namespace nkd::train
