// The loss registry (losses/registry.h): a function-local table, so registration from any static
// initialiser finds it constructed; entries are never removed, so their pointers stay valid.
#include "losses/registry.h"

#include <algorithm>
#include <memory>

#include "engine/check.h"

namespace nkd::losses {
namespace {

std::vector<std::unique_ptr<LossSpec>>& table() {
  static std::vector<std::unique_ptr<LossSpec>> specs;
  return specs;
}

}  // namespace

std::string check_key_value(const LossKey& key, double value) {
  switch (key.kind) {
    case LossKey::Kind::kPositive: return value <= 0 ? "must be positive" : "";
    case LossKey::Kind::kUnit: return value < 0 || value > 1 ? "must be in [0, 1]" : "";
    default: return "";
  }
}

double LossConfig::number(const std::string& key) const {
  for (const auto& [k, v] : values)
    if (k == key) return v;
  NKD_FAIL("loss '", spec ? spec->name : "?", "' has no config key '", key, "'");
}

void register_loss(LossSpec spec) {
  NKD_CHECK(!spec.name.empty() && spec.compute, "register_loss: a loss needs a name and a compute function");
  NKD_CHECK(!find_loss(spec.name), "register_loss: loss '", spec.name, "' is registered twice");
  table().push_back(std::make_unique<LossSpec>(std::move(spec)));
}

const LossSpec* find_loss(const std::string& name) {
  for (const auto& s : table())
    if (s->name == name) return s.get();
  return nullptr;
}

std::vector<const LossSpec*> registered_losses() {
  std::vector<const LossSpec*> out;
  for (const auto& s : table()) out.push_back(s.get());
  std::sort(out.begin(), out.end(), [](const LossSpec* a, const LossSpec* b) {
    return a->order != b->order ? a->order < b->order : a->name < b->name;
  });
  return out;
}

std::string registered_loss_names() {
  std::string list;
  for (const LossSpec* s : registered_losses()) list += (list.empty() ? "" : ", ") + s->name;
  return list;
}

LossConfig default_config(const LossSpec& spec) {
  LossConfig c{&spec, {}};
  for (const LossKey& k : spec.keys) c.values.emplace_back(k.name, k.fallback);
  return c;
}

}  // namespace nkd::losses
