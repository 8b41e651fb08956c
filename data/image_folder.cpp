// ImageFolder: folder scan, list-file parsing, and reading a sample's file.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/image_folder.h"

namespace fs = std::filesystem;

namespace nkd::data {

bool has_image_extension(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<uint8_t> read_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw DecodeError("cannot open the file");
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw DecodeError("read error");
  return bytes;
}

ImageFolder ImageFolder::scan(const std::string& dir) {
  NKD_CHECK(fs::is_directory(dir), "ImageFolder: ", dir, " is not a directory");
  ImageFolder f;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) f.classes_.push_back(e.path().filename().string());
  std::sort(f.classes_.begin(), f.classes_.end());
  NKD_CHECK(!f.classes_.empty(), "ImageFolder: no class folders in ", dir);
  for (size_t c = 0; c < f.classes_.size(); ++c) {
    std::vector<std::pair<std::string, std::string>> files;  // (parent, name): os.walk order
    const fs::path cdir = fs::path(dir) / f.classes_[c];
    for (const auto& e : fs::recursive_directory_iterator(cdir, fs::directory_options::follow_directory_symlink)) {
      if (!e.is_regular_file() || !has_image_extension(e.path().filename().string())) continue;
      files.emplace_back(e.path().parent_path().string(), e.path().filename().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& [parent, name] : files) f.entries_.push_back({parent + "/" + name, int64_t(c)});
  }
  NKD_CHECK(!f.entries_.empty(), "ImageFolder: no .jpg/.jpeg/.png files under ", dir);
  f.num_classes_ = int64_t(f.classes_.size());
  return f;
}

ImageFolder ImageFolder::from_list(const std::string& dir, const std::string& list_file) {
  NKD_CHECK(fs::is_directory(dir), "ImageFolder: ", dir, " is not a directory");
  std::ifstream in(list_file);
  NKD_CHECK(in.good(), "ImageFolder: cannot open list file ", list_file);
  ImageFolder f;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream ls(line);
    std::string name;
    int64_t label = -1;
    ls >> name >> label;
    NKD_CHECK(!ls.fail() && label >= 0, "ImageFolder: ", list_file, ":", lineno,
              ": expected `filename label`, got \"", line, "\"");
    const std::string path = dir + "/" + name;
    NKD_CHECK(fs::is_regular_file(path), "ImageFolder: ", list_file, ":", lineno, " names ", path,
              ", which does not exist");
    f.entries_.push_back({path, label});
    f.num_classes_ = std::max(f.num_classes_, label + 1);
  }
  NKD_CHECK(!f.entries_.empty(), "ImageFolder: list file ", list_file, " holds no samples");
  return f;
}

ImageFolder ImageFolder::imagenet(const std::string& root, const std::string& split) {
  const std::string list = root + "/meta/" + split + ".txt";
  NKD_CHECK(fs::is_directory(root + "/" + split), "ImageFolder: ", root, "/", split,
            " is not a directory: the ImageNet layout expects ", root, "/", split, "/<class>/<image> or ", list, " with the images ",
            "it names under ", root, "/", split, "/ (a list file elsewhere: from_list(prefix, list))");
  if (fs::is_regular_file(list)) return from_list(root + "/" + split, list);
  return scan(root + "/" + split);
}

Sample ImageFolder::load(int64_t index) const {
  const Entry& e = entries_[size_t(index)];
  return {read_file(e.path), e.label};
}

}  // namespace nkd::data
