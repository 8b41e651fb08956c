// The distillation losses by name: each loss's own .cpp registers a LossSpec (its config keys and
// defaults, whether it needs the teacher or a head of its own, how it computes its terms), and the
// config parser and the distiller read only this registry, so a new loss adds no line to either.
// Registration runs in static initialisers: nkd_losses is linked whole-archive (losses/CMakeLists.txt).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace nkd::losses {

// One config key of a loss, distill.<loss>.<name>: a number (with a range check) or a flag.
struct LossKey {
  enum class Kind { kNumber, kPositive, kUnit, kFlag };  // any number, > 0, in [0, 1], true/false
  std::string name;
  double fallback = 0;  // a flag: 0 or 1
  Kind kind = Kind::kNumber;
};
// Empty when `value` is acceptable for `key`, else what is wrong with it ("must be positive").
std::string check_key_value(const LossKey& key, double value);

struct LossSpec;

// A configured loss: its spec and the value of every key (configured, or the default).
struct LossConfig {
  const LossSpec* spec = nullptr;
  std::vector<std::pair<std::string, double>> values;  // in spec->keys order
  double number(const std::string& key) const;          // throws for a key the spec lacks
  bool flag(const std::string& key) const { return number(key) != 0; }
};

// What a loss computes from (every tensor on the student logits' device).
struct LossInputs {
  Tensor logits;       // student logits [N, C]
  Tensor teacher;      // teacher logits [N, C] (a constant) when the spec needs_teacher
  Tensor targets;      // the soft labels [N, C] with Mixup/CutMix, else the index labels
  Tensor labels;       // index labels [N]
  Tensor mid_feature;  // the student's mid feature [N, D] when the spec has a head
  Tensor head_weight;  // [C, D], the loss's head (when it has one)
  Tensor head_bias;    // [C]
};

struct LossTerms {
  std::vector<std::pair<std::string, Tensor>> terms;  // 0-dim, named as logged: loss_kd, loss_tf_nkd0, ...
  std::optional<double> ce_scale;                     // multiplies the student's CE (KD: 1 - alpha)
};

// A linear head of the loss's own, mid feature [N, D] -> classes: a layers::Linear(D, C) the
// distiller creates as distill_losses.loss_<loss>.<module>, initialised from Generator(seed, stream).
struct LossHead {
  std::string module = "fc";
  uint64_t stream = 0;
};

struct LossSpec {
  std::string name;  // its config table [distill.<name>] (or distill.<name> = true)
  int order = 0;     // where its terms go in the step's sum and log (ascending; the reference's order)
  std::vector<LossKey> keys;
  bool needs_teacher = false;
  std::optional<LossHead> head;
  std::function<LossTerms(const LossInputs&, const LossConfig&)> compute;
};

// Adds a loss (its name must be new); call through a static LossRegistrar in the loss's .cpp.
void register_loss(LossSpec spec);
struct LossRegistrar {
  explicit LossRegistrar(LossSpec spec) { register_loss(std::move(spec)); }
};

// The registered loss called `name`, or null.
const LossSpec* find_loss(const std::string& name);
// Every registered loss, by order (then name).
std::vector<const LossSpec*> registered_losses();
// Their names, comma-separated (for error messages).
std::string registered_loss_names();
// The spec's keys at their defaults.
LossConfig default_config(const LossSpec& spec);

}  // namespace nkd::losses
