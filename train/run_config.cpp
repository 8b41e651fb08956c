// parse_run_config: the config keys, their defaults and their checks (see run_config.h).
#include "train/run_config.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "engine/check.h"

namespace nkd::train {
namespace {

ModelConfig parse_model(const Config& c, const std::string& p, int64_t num_classes, int64_t in_channels) {
  ModelConfig m;
  m.net = c.required_string(p + ".net");
  const auto names = nets::net_names();
  if (std::find(names.begin(), names.end(), m.net) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    c.fail(p + ".net", "unknown net '" + m.net + "'; known nets: " + list);
  }
  m.options.num_classes = c.integer(p + ".num_classes", num_classes);
  m.options.in_channels = c.integer(p + ".in_channels", in_channels);
  m.options.width = c.number(p + ".width", 1.0);
  m.options.small_input = c.boolean(p + ".small_input", false);
  m.options.drop_path_rate = c.number(p + ".drop_path_rate", 0.0);
  m.checkpoint = c.string(p + ".checkpoint", "");
  if (m.options.num_classes < 1) c.fail(p + ".num_classes", "must be at least 1");
  if (m.options.width <= 0) c.fail(p + ".width", "must be positive");
  return m;
}

PipelineConfig parse_pipeline(const Config& c, const std::string& p, bool train) {
  PipelineConfig q;
  const std::vector<std::string> kinds =
      train ? std::vector<std::string>{"pad_crop_flip", "random_resized_crop", "swin"}
            : std::vector<std::string>{"center", "resize_crop"};
  q.type = c.choice(p + ".type", train ? "random_resized_crop" : "resize_crop", kinds);
  q.size = int(c.integer(p + ".size", q.type == "pad_crop_flip" || q.type == "center" ? 28 : 224));
  q.pad = int(c.integer(p + ".pad", 0));
  q.resize = int(c.integer(p + ".resize", 256));
  q.flip = c.number(p + ".flip", train ? 0.5 : 0.0);
  q.filter = c.choice(p + ".filter", "bilinear", {"bilinear", "bicubic"});
  q.backend = c.choice(p + ".backend", "pillow", {"pillow", "cv2"});
  if (q.backend == "cv2" && q.filter != "bilinear") c.fail(p + ".filter", "the cv2 backend is bilinear only");
  if (q.backend == "cv2" && q.type != "random_resized_crop" && q.type != "resize_crop")
    c.fail(p + ".backend", "cv2 applies to random_resized_crop and resize_crop only");
  q.exif_orientation = c.boolean(p + ".exif_orientation", q.backend == "cv2");
  const auto scale = c.numbers(p + ".scale", {0.08, 1.0});
  if (scale.size() != 2 || !(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1))
    c.fail(p + ".scale", "expected [lo, hi] with 0 < lo <= hi <= 1");
  q.scale_lo = scale[0];
  q.scale_hi = scale[1];
  if (q.size < 1) c.fail(p + ".size", "must be positive");
  if (q.flip < 0 || q.flip > 1) c.fail(p + ".flip", "is a probability in [0, 1]");
  return q;
}

// data.<split>.ann_file and data_prefix (mmcls), relative ones taken from data.root.
SplitFiles parse_split_files(const Config& c, const std::string& p, const std::string& root) {
  const auto resolve = [&](const std::string& path) {
    return path.empty() || std::filesystem::path(path).is_absolute() ? path : root + "/" + path;
  };
  SplitFiles f{resolve(c.string(p + ".ann_file", "")), resolve(c.string(p + ".data_prefix", ""))};
  if (f.ann_file.empty() && !f.data_prefix.empty())
    c.fail(p + ".data_prefix", "goes with " + p + ".ann_file (the list file whose paths it prefixes)");
  if (f.ann_file.empty()) return f;
  if (f.data_prefix.empty()) f.data_prefix = root;
  if (!std::filesystem::is_regular_file(f.ann_file))
    c.fail(p + ".ann_file", "annotation list '" + f.ann_file + "' does not exist");
  if (!std::filesystem::is_directory(f.data_prefix))
    c.fail(p + ".data_prefix", "image folder '" + f.data_prefix + "' does not exist");
  return f;
}

DataConfig parse_data(const Config& c) {
  DataConfig d;
  d.type = c.choice("data.type", "imagenet", {"fashion_mnist", "imagenet"});
  d.root = c.required_string("data.root");
  d.train_split = c.string("data.train_split", "train");
  d.val_split = c.string("data.val_split", "val");
  d.batch_size = c.integer("data.batch_size", 32);
  d.val_batch_size = c.integer("data.val_batch_size", 0);
  d.workers = int(c.integer("data.workers", 2));
  d.train_limit = c.integer("data.train_limit", 0);
  d.val_limit = c.integer("data.val_limit", 0);
  d.mean = c.numbers("data.mean", {});
  d.std = c.numbers("data.std", {});
  d.mix = c.has("data.mix");
  d.mixup_alpha = c.number("data.mix.mixup_alpha", 0.8);
  d.cutmix_alpha = c.number("data.mix.cutmix_alpha", 1.0);
  d.cutmix_prob = c.number("data.mix.cutmix_prob", 0.5);
  d.train = parse_pipeline(c, "data.train", true);
  d.val = parse_pipeline(c, "data.val", false);
  d.train_files = parse_split_files(c, "data.train", d.root);
  d.val_files = parse_split_files(c, "data.val", d.root);
  d.max_bad_fraction = c.number("data.max_bad_fraction", 0.01);
  if (!(d.max_bad_fraction >= 0 && d.max_bad_fraction <= 1)) c.fail("data.max_bad_fraction", "is a fraction in [0, 1]");
  if (d.batch_size < 1) c.fail("data.batch_size", "must be at least 1");
  if (d.mean.size() != d.std.size()) c.fail("data.std", "needs as many entries as data.mean");
  for (double s : d.std)
    if (s <= 0) c.fail("data.std", "entries must be positive");
  return d;
}

// "dkd/kd/nkd": the registered losses that need a teacher.
std::string teacher_loss_names() {
  std::string list;
  for (const losses::LossSpec* s : losses::registered_losses())
    if (s->needs_teacher) list += (list.empty() ? "" : "/") + s->name;
  return list;
}

std::string key_names(const losses::LossSpec& spec) {
  std::string list;
  for (const losses::LossKey& k : spec.keys) list += (list.empty() ? "" : ", ") + k.name;
  return list.empty() ? "none" : list;
}

// distill.<name> of a registered loss: true/false, or a table of its keys (each optional).
std::optional<losses::LossConfig> parse_loss(const Config& c, const losses::LossSpec& spec, const toml::node& node) {
  const std::string p = "distill." + spec.name;
  if (node.is_boolean()) {
    if (!c.boolean(p, false)) return std::nullopt;
  } else if (!node.is_table()) {
    c.fail(p, "expected a table [" + p + "] or true/false");
  }
  losses::LossConfig lc = losses::default_config(spec);
  if (const toml::table* t = node.as_table())
    for (auto&& [k, v] : *t) {
      const std::string key(k.str());
      const auto& keys = spec.keys;
      if (std::none_of(keys.begin(), keys.end(), [&](const losses::LossKey& x) { return x.name == key; }))
        c.fail(p + "." + key, "unknown key of the loss '" + spec.name + "' (its keys: " + key_names(spec) + ")");
    }
  for (size_t i = 0; i < spec.keys.size(); ++i) {
    const losses::LossKey& k = spec.keys[i];
    const std::string key = p + "." + k.name;
    const double v = k.kind == losses::LossKey::Kind::kFlag ? double(c.boolean(key, k.fallback != 0))
                                                             : c.number(key, k.fallback);
    if (const std::string bad = losses::check_key_value(k, v); !bad.empty()) c.fail(key, bad);
    lc.values[i].second = v;
  }
  return lc;
}

// The [distill] table: teacher_mode and the registered losses (losses/registry.h); any other entry
// is an unknown loss, named with the registered ones.
DistillConfig parse_distill(const Config& c) {
  DistillConfig d;
  d.teacher_mode = c.choice("distill.teacher_mode", "train", {"train", "eval"});
  d.label_smoothing = c.number("loss.label_smoothing", 0.0);
  const toml::table resolved = toml::parse(c.dump());
  const toml::table* table = resolved["distill"].as_table();
  if (!table) return d;
  for (auto&& [k, v] : *table) {
    const std::string name(k.str());
    if (name != "teacher_mode" && !losses::find_loss(name))
      c.fail("distill." + name, "unknown loss '" + name + "'; registered losses: " + losses::registered_loss_names());
  }
  for (const losses::LossSpec* spec : losses::registered_losses())
    if (const toml::node* node = table->get(spec->name))
      if (auto lc = parse_loss(c, *spec, *node)) d.losses.push_back(std::move(*lc));
  return d;
}

OptimConfig parse_optim(const Config& c) {
  OptimConfig o;
  o.type = c.choice("optimizer.type", "sgd", {"sgd", "adamw"});
  o.lr = c.number("optimizer.lr", 0.1);
  o.momentum = c.number("optimizer.momentum", o.type == "sgd" ? 0.9 : 0.0);
  o.weight_decay = c.number("optimizer.weight_decay", 1e-4);
  o.nesterov = c.boolean("optimizer.nesterov", false);
  const auto betas = c.numbers("optimizer.betas", {0.9, 0.999});
  if (betas.size() != 2) c.fail("optimizer.betas", "expected [beta1, beta2]");
  o.beta1 = betas[0];
  o.beta2 = betas[1];
  o.eps = c.number("optimizer.eps", 1e-8);
  o.norm_decay_mult = c.number("optimizer.norm_decay_mult", 1.0);
  o.bias_decay_mult = c.number("optimizer.bias_decay_mult", 1.0);
  o.no_decay_keys = c.strings("optimizer.no_decay_keys", {});
  o.grad_clip = c.number("optimizer.grad_clip", 0.0);
  if (o.lr <= 0) c.fail("optimizer.lr", "must be positive");
  if (o.weight_decay < 0) c.fail("optimizer.weight_decay", "must be >= 0");
  return o;
}

optim::LrScheduleOptions parse_lr(const Config& c) {
  optim::LrScheduleOptions o;
  const std::string policy = c.choice("lr.policy", "step", {"constant", "step", "cosine", "poly", "exp"});
  o.policy = policy == "constant" ? optim::LrPolicy::Constant
             : policy == "step"   ? optim::LrPolicy::Step
             : policy == "cosine" ? optim::LrPolicy::Cosine
             : policy == "poly"   ? optim::LrPolicy::Poly
                                  : optim::LrPolicy::Exp;
  o.by_epoch = c.boolean("lr.by_epoch", true);
  o.steps = c.integers("lr.steps", {});
  o.gamma = c.number("lr.gamma", 0.1);
  o.min_lr = c.number("lr.min_lr", 0.0);
  o.power = c.number("lr.power", 1.0);
  const std::string warmup = c.choice("lr.warmup", "none", {"none", "linear", "constant"});
  o.warmup = warmup == "none" ? optim::Warmup::None
             : warmup == "linear" ? optim::Warmup::Linear
                                  : optim::Warmup::Constant;
  o.warmup_iters = c.integer("lr.warmup_iters", 0);
  o.warmup_ratio = c.number("lr.warmup_ratio", 0.1);
  o.warmup_by_epoch = c.boolean("lr.warmup_by_epoch", false);
  if (policy == "step" && o.steps.empty()) c.fail("lr.steps", "the step policy needs steps = [...]");
  return o;
}

}  // namespace

const losses::LossConfig* DistillConfig::find(const std::string& loss) const {
  for (const losses::LossConfig& l : losses)
    if (l.spec->name == loss) return &l;
  return nullptr;
}

bool DistillConfig::needs_teacher() const {
  return std::any_of(losses.begin(), losses.end(), [](const losses::LossConfig& l) { return l.spec->needs_teacher; });
}

RunConfig parse_run_config(Config& c, ConfigUse use) {
  RunConfig r;
  r.config_path = c.path();
  const int64_t num_classes = c.integer("model.num_classes", 1000);
  const int64_t in_channels = c.integer("model.in_channels", 3);
  r.student = parse_model(c, "model.student", num_classes, in_channels);
  if (c.has("model.teacher")) r.teacher = parse_model(c, "model.teacher", num_classes, in_channels);
  r.distill = parse_distill(c);
  r.data = parse_data(c);
  r.optim = parse_optim(c);
  r.lr = parse_lr(c);
  r.epochs = c.integer("runner.epochs", 1);
  r.eval_interval = c.integer("runner.eval_interval", 1);
  r.log_interval = c.integer("runner.log_interval", 100);
  r.checkpoint_interval = c.integer("runner.checkpoint_interval", 1);
  r.max_keep_checkpoints = c.integer("runner.max_keep_checkpoints", -1);
  r.save_best = c.boolean("runner.save_best", false);
  r.tensorboard = c.boolean("runner.tensorboard", true);
  r.seed = uint64_t(c.integer("runner.seed", 0));
  r.conv_algos = c.choice("runner.conv_algos", "fast", {"exact", "fast"});
  r.cuda_graph = c.boolean("runner.cuda_graph", false);
  r.precision = parse_precision(c.choice("runner.precision", "fp32", {"fp32", "tf32", "bf16"}),
                                "runner.precision");
  if (r.epochs < 1) c.fail("runner.epochs", "must be at least 1");
  if (r.log_interval < 1) c.fail("runner.log_interval", "must be at least 1");
  if (r.max_keep_checkpoints == 0 || r.max_keep_checkpoints < -1)
    c.fail("runner.max_keep_checkpoints", "must be at least 1 (or -1: keep all)");
  c.reject_unread();
  if (use == ConfigUse::kTrain) {
    if (r.distill.needs_teacher() && !r.teacher)
      c.fail("model.teacher", "the distill losses " + teacher_loss_names() + " need a [model.teacher]");
    if (r.teacher && r.teacher->checkpoint.empty())
      c.fail("model.teacher.checkpoint", "a teacher needs a checkpoint (its trained weights)");
    if (r.teacher && !std::filesystem::exists(r.teacher->checkpoint))
      c.fail("model.teacher.checkpoint", "teacher checkpoint '" + r.teacher->checkpoint + "' does not exist");
  }
  if (use != ConfigUse::kPredict && !std::filesystem::is_directory(r.data.root))
    c.fail("data.root", "dataset folder '" + r.data.root + "' does not exist");
  r.resolved = c.dump();
  return r;
}

bool conv_algos_exact(const RunConfig& config, bool env_exact) { return env_exact || config.conv_algos == "exact"; }

std::string conv_algos_note(const RunConfig& config, bool env_exact) {
  const std::string mode = conv_algos_exact(config, env_exact) ? "exact" : "fast";
  if (env_exact && config.conv_algos != "exact")
    return "conv algorithms " + mode + " (NKD_CONV_EXACT=1; runner.conv_algos = \"" + config.conv_algos + "\")";
  return "conv algorithms " + mode + " (runner.conv_algos)";
}

}  // namespace nkd::train
