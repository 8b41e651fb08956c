// Helpers for the app tests: a temporary folder, running an app binary, a small synthetic
// Fashion-MNIST-like IDX dataset (learnable: each class has its own bright band), and reading
// checkpoints back.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include "data/idx_dataset.h"
#include "engine/dtype.h"
#include "io/safetensors.h"

namespace nkd::train::testing {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nkd_apps_XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// The apps' OpenMP threads wait passively: spinning threads starve the loader's threads on small
// CI machines (3x slower steps measured on 2 cores).
inline void quiet_openmp() { setenv("OMP_WAIT_POLICY", "passive", 0); }

// Runs a shell command; returns its exit status (or 128 + signal), with stdout+stderr in *output.
inline int run(const std::string& command, std::string* output = nullptr) {
  quiet_openmp();
  const std::string log = std::filesystem::temp_directory_path() / ("nkd_cmd_" + std::to_string(::getpid()) + ".log");
  const int status = std::system((command + " >" + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  if (output) *output = ss.str();
  std::filesystem::remove(log);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

// root/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (uncompressed; zlib reads both).
inline void write_fake_fashion_mnist(const std::string& root, int64_t n_train, int64_t n_test) {
  std::filesystem::create_directories(root);
  for (const auto& [split, n] : {std::pair<std::string, int64_t>{"train", n_train}, {"t10k", n_test}}) {
    std::vector<uint8_t> px(static_cast<size_t>(n) * 784), lb(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      lb[size_t(i)] = uint8_t((i * 7 + i / 3) % 10);
      for (int p = 0; p < 784; ++p) {
        const int row = p / 28;
        const uint32_t noise = uint32_t((i * 2654435761u + uint64_t(p) * 40503u) >> 7) % 60;
        px[size_t(i * 784 + p)] = uint8_t(noise + (row / 3 == lb[size_t(i)] ? 180 : 0));
      }
    }
    data::write_idx(root + "/" + split + "-images-idx3-ubyte.gz", {n, 28, 28}, px.data());
    data::write_idx(root + "/" + split + "-labels-idx1-ubyte.gz", {n}, lb.data());
  }
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// The sorted names of dir's entries that start with `prefix`.
inline std::vector<std::string> names_in(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().starts_with(prefix)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The two checkpoints hold the same tensors, bit for bit, and the same iteration.
inline void expect_same_tensors(const std::string& a, const std::string& b) {
  const io::Safetensors x = io::load_safetensors(a), y = io::load_safetensors(b);
  ASSERT_EQ(x.tensors.size(), y.tensors.size());
  for (size_t i = 0; i < x.tensors.size(); ++i) {
    const auto& [na, ta] = x.tensors[i];
    const auto& [nb, tb] = y.tensors[i];
    ASSERT_EQ(na, nb);
    ASSERT_EQ(ta.shape(), tb.shape()) << na;
    ASSERT_EQ(ta.dtype(), tb.dtype()) << na;
    EXPECT_EQ(std::memcmp(ta.raw_data(), tb.raw_data(), size_t(ta.numel()) * size_of(ta.dtype())), 0)
        << na << " differs between " << a << " and " << b;
  }
  EXPECT_EQ(x.metadata.at("iter"), y.metadata.at("iter"));
}

}  // namespace nkd::train::testing
