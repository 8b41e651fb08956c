// Config: TOML files with mmcls-style inheritance (`_base_ = "file"` or a list, resolved relative to
// the including file; later keys override, tables merge, `_delete_ = true` replaces a table),
// `--set a.b=value` overrides, typed reads that remember what was read, and a final check that
// rejects every key nobody read, naming the key and the file it came from.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace nkd::train {

class Config {
 public:
  static Config load(const std::string& path);
  // "a.b=value": value parsed as TOML (number, bool, string, array), else taken as a plain string.
  void set(const std::string& assignment);

  bool has(const std::string& key) const;
  double number(const std::string& key, double fallback) const;
  int64_t integer(const std::string& key, int64_t fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  std::string required_string(const std::string& key) const;
  std::vector<double> numbers(const std::string& key, const std::vector<double>& fallback) const;
  std::vector<int64_t> integers(const std::string& key, const std::vector<int64_t>& fallback) const;
  std::vector<std::string> strings(const std::string& key, const std::vector<std::string>& fallback) const;
  // One of `allowed` (listed in the error otherwise).
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed) const;

  // Throws nkd::Error "config key 'k' (file F): what".
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  // Throws for the first key that was never read (a typo or an unsupported option).
  void reject_unread() const;
  std::string file_of(const std::string& key) const;
  std::string dump() const;  // the resolved config as TOML
  const std::string& path() const { return path_; }

 private:
  const toml::node* find(const std::string& key) const;
  void merge(const toml::table& src, toml::table& dst, const std::string& prefix, const std::string& file);
  void load_into(const std::string& path, int depth);

  toml::table root_;
  std::map<std::string, std::string> origin_;  // dotted key -> file that set it last
  mutable std::set<std::string> read_;
  std::string path_;
};

}  // namespace nkd::train
