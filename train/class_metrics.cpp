// Per-class accuracy and the confusion matrix (see class_metrics.h).
#include "train/class_metrics.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "data/image_folder.h"
#include "engine/check.h"
#include "io/safetensors.h"

namespace nkd::train {
namespace fs = std::filesystem;

ConfusionMatrix::ConfusionMatrix(int64_t classes)
    : classes_(classes), counts_(size_t(classes * classes), 0) {}

void ConfusionMatrix::add(int64_t label, int64_t predicted) {
  NKD_CHECK(label >= 0 && label < classes_ && predicted >= 0 && predicted < classes_, "confusion matrix: label ",
            label, " or prediction ", predicted, " is not a class of 0..", classes_ - 1);
  ++counts_[size_t(label * classes_ + predicted)];
}

int64_t ConfusionMatrix::images_of(int64_t label) const {
  int64_t n = 0;
  for (int64_t j = 0; j < classes_; ++j) n += count(label, j);
  return n;
}

namespace {

const std::vector<std::string> kFashionMnist = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::vector<std::string> sorted_folders(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string percent(const ConfusionMatrix& m, int64_t c) {
  const int64_t n = m.images_of(c);
  if (n == 0) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * double(m.count(c, c)) / double(n));
  return buf;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The heat map through tools/plot_curves.py (NKD_PLOT_TOOL overrides the path built in).
void draw_heat_map(const std::string& csv, const std::string& png, std::ostream& out) {
  const char* env = std::getenv("NKD_PLOT_TOOL");
  const std::string tool = env ? env : NKD_PLOT_TOOL;
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string command = python + " " + shell_quote(tool) + " --confusion " + shell_quote(csv) + " --out " +
                              shell_quote(png);
  if (fs::exists(tool) && std::system((command + " >/dev/null 2>&1").c_str()) == 0) {
    out << "confusion heat map: " << png << "\n";
    return;
  }
  out << "confusion heat map not drawn (tools/plot_curves.py with python3-matplotlib): " << command << "\n";
}

}  // namespace

std::vector<std::string> class_names(const DataConfig& data, const data::Dataset& dataset, int64_t classes) {
  std::vector<std::string> names;
  if (data.type == "fashion_mnist") names = kFashionMnist;
  const auto* folder = dynamic_cast<const data::ImageFolder*>(&dataset);
  if (data.type == "imagenet" && folder) names = folder->classes();
  if (data.type == "imagenet" && names.empty()) names = sorted_folders(fs::path(data.root) / data.train_split);
  if (int64_t(names.size()) == classes) return names;
  names.clear();
  for (int64_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

std::string per_class_csv(const ConfusionMatrix& m, const std::vector<std::string>& names) {
  std::ostringstream os;
  os << "class,name,images,correct,accuracy\n";
  for (int64_t c = 0; c < m.classes(); ++c)
    os << c << "," << csv_field(names[size_t(c)]) << "," << m.images_of(c) << "," << m.count(c, c) << ","
       << percent(m, c) << "\n";
  return os.str();
}

std::string confusion_csv(const ConfusionMatrix& m, const std::vector<std::string>& names) {
  std::ostringstream os;
  os << "true\\predicted";
  for (const std::string& n : names) os << "," << csv_field(n);
  os << "\n";
  for (int64_t i = 0; i < m.classes(); ++i) {
    os << csv_field(names[size_t(i)]);
    for (int64_t j = 0; j < m.classes(); ++j) os << "," << m.count(i, j);
    os << "\n";
  }
  return os.str();
}

std::string per_class_table(const ConfusionMatrix& m, const std::vector<std::string>& names) {
  size_t width = 5;
  for (const std::string& n : names) width = std::max(width, n.size());
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof line, "%5s  %-*s %8s %8s %9s\n", "class", int(width), "name", "images", "correct",
                "top-1 (%)");
  os << line;
  for (int64_t c = 0; c < m.classes(); ++c) {
    std::snprintf(line, sizeof line, "%5lld  %-*s %8lld %8lld %9s\n", static_cast<long long>(c), int(width),
                  names[size_t(c)].c_str(), static_cast<long long>(m.images_of(c)),
                  static_cast<long long>(m.count(c, c)), percent(m, c).c_str());
    os << line;
  }
  return os.str();
}

void write_class_metrics(const ConfusionMatrix& m, const std::vector<std::string>& names, bool per_class,
                         bool confusion, const std::string& dir, const std::string& stem, std::ostream& out) {
  const fs::path folder = dir.empty() ? fs::path(".") : fs::path(dir);
  fs::create_directories(folder);
  const std::string base = (folder / stem).string();
  if (per_class) {
    out << "per-class accuracy:\n" << per_class_table(m, names);
    io::write_file_atomic(base + "_per_class.csv", per_class_csv(m, names));
    out << "per-class accuracy: " << base << "_per_class.csv\n";
  }
  if (confusion) {
    io::write_file_atomic(base + "_confusion.csv", confusion_csv(m, names));
    out << "confusion matrix: " << base << "_confusion.csv\n";
    draw_heat_map(base + "_confusion.csv", base + "_confusion.png", out);
  }
}

}  // namespace nkd::train
