// Config loading and typed access; see config.h.
#include "train/config.h"

#include <filesystem>
#include <sstream>

#include "engine/check.h"

namespace nkd::train {
namespace fs = std::filesystem;

namespace {

const char* type_name(const toml::node& n) {
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  if (n.is_string()) return "a string";
  if (n.is_integer()) return "an integer";
  if (n.is_floating_point()) return "a number";
  if (n.is_boolean()) return "a boolean";
  return "a date/time";
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  return parts;
}

bool deletes(const toml::table* t) { return t && t->get("_delete_") && t->get("_delete_")->value_or(false); }

toml::table parse_file(const std::string& path) {
  if (!fs::is_regular_file(path)) NKD_FAIL("config file '", path, "' does not exist");
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    NKD_FAIL("config file '", path, "' line ", e.source().begin.line, ", column ", e.source().begin.column,
             ": ", e.description());
  }
}

}  // namespace

Config Config::load(const std::string& path) {
  Config c;
  c.path_ = path;
  c.load_into(path, 0);
  return c;
}

void Config::load_into(const std::string& path, int depth) {
  NKD_CHECK(depth < 16, "config '", path, "': _base_ includes nest deeper than 16 (a cycle?)");
  toml::table t = parse_file(path);
  if (const toml::node* base = t.get("_base_")) {
    std::vector<std::string> bases;
    if (base->is_string()) bases.push_back(*base->value<std::string>());
    else if (const toml::array* arr = base->as_array())
      for (const toml::node& b : *arr) {
        if (!b.is_string()) NKD_FAIL("config key '_base_' (file ", path, "): entries must be file names");
        bases.push_back(*b.value<std::string>());
      }
    else NKD_FAIL("config key '_base_' (file ", path, "): expected a file name or a list of them");
    for (const std::string& b : bases) {
      const fs::path p = fs::path(b).is_absolute() ? fs::path(b) : fs::path(path).parent_path() / b;
      load_into(p.lexically_normal().string(), depth + 1);
    }
    t.erase("_base_");
  }
  merge(t, root_, "", path);
}

void Config::merge(const toml::table& src, toml::table& dst, const std::string& prefix,
                   const std::string& file) {
  for (auto&& [k, v] : src) {
    if (k.str() == "_delete_") continue;
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const toml::table* st = v.as_table();
    if (st) {
      toml::node* existing = dst.get(k.str());
      if (deletes(st))
        std::erase_if(origin_, [&](const auto& kv) { return kv.first.rfind(key + ".", 0) == 0; });
      if (!existing || !existing->is_table() || deletes(st)) dst.insert_or_assign(k.str(), toml::table{});
      merge(*st, *dst.get(k.str())->as_table(), key, file);
    } else {
      v.visit([&](auto&& node) { dst.insert_or_assign(k.str(), node); });
    }
    origin_[key] = file;
  }
}

void Config::set(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  NKD_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value, got '", assignment, "'");
  const std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed.insert_or_assign("v", value);
  }
  const auto parts = split_key(key);
  toml::table* t = &root_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    toml::node* n = t->get(parts[i]);
    if (!n) {
      t->insert_or_assign(parts[i], toml::table{});
      n = t->get(parts[i]);
    }
    NKD_CHECK(n->is_table(), "--set ", key, ": '", parts[i], "' is not a table");
    t = n->as_table();
  }
  parsed.get("v")->visit([&](auto&& node) { t->insert_or_assign(parts.back(), node); });
  origin_[key] = "--set";
}

const toml::node* Config::find(const std::string& key) const {
  const toml::node* n = &root_;
  for (const std::string& p : split_key(key)) {
    const toml::table* t = n->as_table();
    if (!t) return nullptr;
    n = t->get(p);
    if (!n) return nullptr;
  }
  return n;
}

bool Config::has(const std::string& key) const { return find(key) != nullptr; }

std::string Config::file_of(const std::string& key) const {
  for (std::string k = key;;) {
    if (auto it = origin_.find(k); it != origin_.end()) return it->second;
    const size_t dot = k.rfind('.');
    if (dot == std::string::npos) return path_;
    k = k.substr(0, dot);
  }
}

void Config::fail(const std::string& key, const std::string& what) const {
  NKD_FAIL("config key '", key, "' (file ", file_of(key), "): ", what);
}

double Config::number(const std::string& key, double fallback) const {
  const toml::node* n = find(key);
  if (!n) return fallback;
  read_.insert(key);
  if (n->is_integer()) return double(*n->value<int64_t>());
  if (!n->is_floating_point()) fail(key, std::string("expected a number, got ") + type_name(*n));
  return *n->value<double>();
}

int64_t Config::integer(const std::string& key, int64_t fallback) const {
  const toml::node* n = find(key);
  if (!n) return fallback;
  read_.insert(key);
  if (!n->is_integer()) fail(key, std::string("expected an integer, got ") + type_name(*n));
  return *n->value<int64_t>();
}

bool Config::boolean(const std::string& key, bool fallback) const {
  const toml::node* n = find(key);
  if (!n) return fallback;
  read_.insert(key);
  if (!n->is_boolean()) fail(key, std::string("expected true or false, got ") + type_name(*n));
  return *n->value<bool>();
}

std::string Config::string(const std::string& key, const std::string& fallback) const {
  const toml::node* n = find(key);
  if (!n) return fallback;
  read_.insert(key);
  if (!n->is_string()) fail(key, std::string("expected a string, got ") + type_name(*n));
  return *n->value<std::string>();
}

std::string Config::required_string(const std::string& key) const {
  if (!has(key)) fail(key, "required but missing");
  return string(key, "");
}

std::string Config::choice(const std::string& key, const std::string& fallback,
                           const std::vector<std::string>& allowed) const {
  const std::string v = string(key, fallback);
  std::string list;
  for (const std::string& a : allowed) {
    if (a == v) return v;
    list += (list.empty() ? "" : ", ") + a;
  }
  fail(key, "'" + v + "' is not one of: " + list);
}

template <typename T, typename Get>
static std::vector<T> read_array(const Config& c, const toml::node* n, const std::string& key, Get get) {
  const toml::array* arr = n->as_array();
  if (!arr) c.fail(key, std::string("expected an array, got ") + type_name(*n));
  std::vector<T> out;
  for (const toml::node& e : *arr) out.push_back(get(e));
  return out;
}

std::vector<double> Config::numbers(const std::string& key, const std::vector<double>& fallback) const {
  const toml::node* n = find(key);
  if (!n) return fallback;
  read_.insert(key);
  return read_array<double>(*this, n, key, [&](const toml::node& e) {
    if (e.is_integer()) return double(*e.value<int64_t>());
    if (!e.is_floating_point()) fail(key, "array entries must be numbers");
    return *e.value<double>();
  });
}

std::vector<int64_t> Config::integers(const std::string& key, const std::vector<int64_t>& fallback) const {
  const toml::node* n = find(key);
  if (!n) return fallback;
  read_.insert(key);
  return read_array<int64_t>(*this, n, key, [&](const toml::node& e) {
    if (!e.is_integer()) fail(key, "array entries must be integers");
    return *e.value<int64_t>();
  });
}

std::vector<std::string> Config::strings(const std::string& key,
                                         const std::vector<std::string>& fallback) const {
  const toml::node* n = find(key);
  if (!n) return fallback;
  read_.insert(key);
  return read_array<std::string>(*this, n, key, [&](const toml::node& e) {
    if (!e.is_string()) fail(key, "array entries must be strings");
    return *e.value<std::string>();
  });
}

static void leaf_keys(const toml::table& t, const std::string& prefix, std::vector<std::string>& out) {
  for (auto&& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table()) leaf_keys(*sub, key, out);
    else out.push_back(key);
  }
}

void Config::reject_unread() const {
  std::vector<std::string> keys;
  leaf_keys(root_, "", keys);
  for (const std::string& k : keys)
    if (!read_.count(k)) fail(k, "unknown key (misspelt, or not used by this kind of run)");
}

std::string Config::dump() const {
  std::ostringstream os;
  os << root_ << "\n";
  return os.str();
}

}  // namespace nkd::train
