// Classifier weights from safetensors and PyTorch checkpoints (see weights.h).
#include "train/weights.h"

#include <filesystem>

#include "engine/check.h"
#include "nets/swin_torchvision_names.h"
#include "nets/torchvision_names.h"

namespace nkd::train {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

bool looks_torchvision(const layers::NamedTensors& state) {
  for (const auto& [k, v] : state) {
    if (k == "fc.weight" || k == "head.weight" || k == "conv1.weight" || k == "conv1.0.weight" ||
        starts_with(k, "features.") || starts_with(k, "stage2.") || starts_with(k, "classifier."))
      return true;
  }
  return false;
}

}  // namespace

io::Checkpoint read_weights_file(const std::string& path) {
  NKD_CHECK(!path.empty(), "no checkpoint given");
  NKD_CHECK(std::filesystem::exists(path), "checkpoint '", path, "' does not exist");
  return io::load_checkpoint(path);
}

layers::NamedTensors classifier_state(const io::Checkpoint& file, const std::string& net, const std::string& path,
                                      WeightsLoad* load) {
  WeightsLoad info;
  info.format = io::format_name(file.format);
  bool distilled = false, mmcls = false;
  layers::NamedTensors state;
  for (const auto& [k, v] : file.tensors) {
    std::string name = starts_with(k, "module.") ? k.substr(7) : k;
    if (starts_with(name, "optimizer.")) {
      ++info.skipped;
      continue;
    }
    distilled |= starts_with(name, "student.");
    mmcls |= starts_with(name, "backbone.") || starts_with(name, "head.fc.");
    state.emplace_back(std::move(name), v);
  }
  layers::NamedTensors out;
  if (distilled || mmcls) {
    info.layout = distilled ? "distill (student)" : "mmcls";
    for (auto& [k, v] : state) {
      if (distilled && !starts_with(k, "student.")) {
        ++info.skipped;
        continue;
      }
      std::string name = distilled ? k.substr(8) : k;
      if (ends_with(name, ".relative_position_index")) {  // derived in nkd's Swin
        ++info.skipped;
        continue;
      }
      out.emplace_back(std::move(name), v);
    }
  } else {
    NKD_CHECK(looks_torchvision(state), "checkpoint '", path,
              "': neither nkd/mmcls names (backbone.*, head.fc.*, student.*) nor torchvision names (first: '",
              state.empty() ? std::string("<empty>") : state.front().first, "')");
    info.layout = "torchvision";
    if (net == "swin_tiny") {
      for (const auto& [k, v] : state) info.skipped += ends_with(k, ".relative_position_index") ? 1 : 0;
      out = nets::swin_from_torchvision(state);  // checks and drops the index buffers
    } else {
      NKD_CHECK(nets::has_torchvision_names(net), "checkpoint '", path, "' has torchvision names, but net '", net,
                "' has no torchvision counterpart");
      out = nets::from_torchvision(net, state);
    }
  }
  if (load) *load = std::move(info);
  return out;
}

std::string WeightsLoad::summary(const std::string& what, const std::string& path) const {
  std::string s = what;
  s += ": loaded ";
  s += path;
  s += " (";
  s += format;
  s += ", ";
  s += layout;
  s += " names): ";
  s += std::to_string(loaded);
  s += " tensors, ";
  s += std::to_string(report.missing.size());
  s += " missing, ";
  s += std::to_string(report.unexpected.size());
  s += " unexpected, ";
  s += std::to_string(report.mismatched.size());
  s += " mismatched";
  if (skipped) {
    s += ", ";
    s += std::to_string(skipped);
    s += " skipped";
  }
  return s;
}

WeightsLoad load_weights(const std::string& path, layers::Module& target, const std::string& net, bool strict,
                         const std::string& what) {
  NKD_CHECK(!path.empty(), what, ": no checkpoint given");
  WeightsLoad load;
  layers::NamedTensors state;
  try {
    state = classifier_state(read_weights_file(path), net, path, &load);
  } catch (const Error& e) {  // every message names the role and the file
    const std::string msg = e.what();
    throw Error(what + " checkpoint" + (msg.find(path) == std::string::npos ? " '" + path + "'" : "") + ": " + msg);
  }
  load.report = target.load_state_dict(state, /*strict=*/false);
  load.loaded = state.size() - load.report.unexpected.size() - load.report.mismatched.size();
  const layers::LoadReport& r = load.report;
  if (!r.missing.empty() || !r.mismatched.empty() || (strict && !r.unexpected.empty())) {
    std::string first;
    if (!r.mismatched.empty()) first = r.mismatched.front();
    else if (!r.missing.empty()) (first = "e.g. missing ") += r.missing.front();
    else (first = "e.g. unexpected ") += r.unexpected.front();
    NKD_FAIL(what, " checkpoint '", path, "' (", load.layout, " names) does not fit the configured net '", net,
             "': ", r.missing.size(), " weights missing, ", r.mismatched.size(), " of another shape, ",
             r.unexpected.size(), " unexpected (", first, ")");
  }
  return load;
}

}  // namespace nkd::train
