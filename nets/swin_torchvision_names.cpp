// Swin-T name mapping mmcls <-> torchvision, with the patch-merging channel permutation.
#include "nets/swin_torchvision_names.h"

#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "engine/factory.h"
#include "engine/ops/shape_ops.h"
#include "nets/swin_blocks.h"

namespace nkd::nets {
namespace {

// Inside a block: mmcls suffix <-> torchvision suffix. A trailing '.' takes a weight / bias leaf.
constexpr std::array<std::pair<const char*, const char*>, 8> kBlockNames = {{
    {"norm1.", "norm1."},
    {"norm2.", "norm2."},
    {"attn.w_msa.qkv.", "attn.qkv."},
    {"attn.w_msa.proj.", "attn.proj."},
    {"attn.w_msa.relative_position_bias_table", "attn.relative_position_bias_table"},
    {"attn.w_msa.relative_position_index", "attn.relative_position_index"},
    {"ffn.layers.0.0.", "mlp.0."},
    {"ffn.layers.1.", "mlp.3."},
}};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts(1);
  for (char ch : s) {
    if (ch == '.') parts.emplace_back();
    else parts.back() += ch;
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (i > from ? "." : "") + parts[i];
  return out;
}

bool is_number(const std::string& s) {
  return !s.empty() && s.size() < 6 && s.find_first_not_of("0123456789") == std::string::npos;
}

bool is_leaf(const std::string& s) { return s == "weight" || s == "bias"; }

// Maps a block suffix through kBlockNames (from the mmcls side or the torchvision side).
std::string map_block(const std::string& rest, bool to_torchvision, const std::string& full) {
  for (const auto& [mm, tv] : kBlockNames) {
    const std::string from = to_torchvision ? mm : tv, to = to_torchvision ? tv : mm;
    if (from.back() == '.' && rest.rfind(from, 0) == 0 && is_leaf(rest.substr(from.size())))
      return to + rest.substr(from.size());
    if (from.back() != '.' && rest == from) return to;
  }
  NKD_FAIL("swin names: '", full, "' is not a Swin block entry");
}

bool is_merge_entry(const std::string& rest) {
  return rest == "norm.weight" || rest == "norm.bias" || rest == "reduction.weight";
}

// Window size from the element count of a [(2w - 1)^2, heads] table row count or an [N * N] index.
int64_t exact_root(int64_t v, const std::string& what) {
  const auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(v))));
  NKD_CHECK(r * r == v, "swin names: ", what, " has size ", v, ", not a square");
  return r;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A tensor of a patch-merging entry reordered along its 4C axis.
Tensor permute_merge(const std::string& leaf, const Tensor& t, bool to_torchvision) {
  const int64_t axis = leaf == "reduction.weight" ? 1 : 0;
  NKD_CHECK(t.ndim() > axis && t.size(axis) % 4 == 0, "swin names: patch-merging ", leaf, " has shape ",
            to_string(t.shape()), " (4C expected along dim ", axis, ")");
  return ops::index_select(t, axis, swin_merge_channel_index(t.size(axis) / 4, to_torchvision));
}

}  // namespace

Tensor swin_merge_channel_index(int64_t channels, bool to_torchvision) {
  std::vector<int64_t> index(4 * channels);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t kh = 0; kh < 2; ++kh)
      for (int64_t kw = 0; kw < 2; ++kw) {
        const int64_t mm = c * 4 + kh * 2 + kw, tv = (kw * 2 + kh) * channels + c;
        index[to_torchvision ? tv : mm] = to_torchvision ? mm : tv;
      }
  return from_vector(index, {4 * channels});
}

std::string swin_to_torchvision_name(const std::string& name) {
  const std::vector<std::string> p = split(name);
  if (p.size() == 3 && p[0] == "head" && p[1] == "fc" && is_leaf(p[2])) return "head." + p[2];
  NKD_CHECK(p.size() >= 3 && p[0] == "backbone", "swin names: '", name, "' is not a Swin-T classifier entry");
  if (p[1] == "patch_embed" && p.size() == 4 && is_leaf(p[3])) {
    if (p[2] == "projection") return "features.0.0." + p[3];
    if (p[2] == "norm") return "features.0.2." + p[3];
  }
  if (p[1] == "norm3" && p.size() == 3 && is_leaf(p[2])) return "norm." + p[2];
  if (p[1] == "stages" && p.size() >= 6 && is_number(p[2])) {
    const int64_t s = std::stoll(p[2]);
    if (p[3] == "blocks" && is_number(p[4]))
      return "features." + std::to_string(2 * s + 1) + "." + p[4] + "." + map_block(join(p, 5), true, name);
    if (p[3] == "downsample" && is_merge_entry(join(p, 4)))
      return "features." + std::to_string(2 * s + 2) + "." + join(p, 4);
  }
  NKD_FAIL("swin names: '", name, "' has no torchvision counterpart");
}

std::string swin_from_torchvision_name(const std::string& name) {
  const std::vector<std::string> p = split(name);
  if (p.size() == 2 && is_leaf(p[1])) {
    if (p[0] == "head") return "head.fc." + p[1];
    if (p[0] == "norm") return "backbone.norm3." + p[1];
  }
  NKD_CHECK(p.size() >= 4 && p[0] == "features" && is_number(p[1]), "swin names: '", name,
            "' is not a torchvision swin_t entry");
  const int64_t k = std::stoll(p[1]);
  if (k == 0 && p.size() == 4 && is_leaf(p[3])) {
    if (p[2] == "0") return "backbone.patch_embed.projection." + p[3];
    if (p[2] == "2") return "backbone.patch_embed.norm." + p[3];
  }
  if (k % 2 == 1 && is_number(p[2]))
    return "backbone.stages." + std::to_string((k - 1) / 2) + ".blocks." + p[2] + "." +
           map_block(join(p, 3), false, name);
  if (k > 0 && k % 2 == 0 && is_merge_entry(join(p, 2)))
    return "backbone.stages." + std::to_string(k / 2 - 1) + ".downsample." + join(p, 2);
  NKD_FAIL("swin names: torchvision entry '", name, "' is outside the swin_t layout");
}

layers::NamedTensors swin_to_torchvision(const layers::NamedTensors& state) {
  layers::NamedTensors out;
  for (const auto& [name, t] : state) {
    const bool extra_norm = name.rfind("backbone.norm", 0) == 0 && name.rfind("backbone.norm3.", 0) != 0;
    if (extra_norm || ends_with(name, ".relative_position_index")) continue;
    const std::string tv = swin_to_torchvision_name(name);
    const size_t ds = name.find(".downsample.");
    out.emplace_back(tv, ds == std::string::npos ? t : permute_merge(name.substr(ds + 12), t, true));
    if (ends_with(name, ".relative_position_bias_table")) {  // ..._bias_table -> ..._index
      const int64_t window = (exact_root(t.size(0), name) + 1) / 2;
      out.emplace_back(tv.substr(0, tv.size() - 10) + "index", relative_position_index(window));
    }
  }
  return out;
}

layers::NamedTensors swin_from_torchvision(const layers::NamedTensors& state) {
  layers::NamedTensors out;
  for (const auto& [name, t] : state) {
    const std::string mm = swin_from_torchvision_name(name);
    if (ends_with(name, ".relative_position_index")) {
      const int64_t window = exact_root(exact_root(t.numel(), name), name);
      const std::vector<int64_t> expected = to_vector<int64_t>(relative_position_index(window));
      NKD_CHECK(to_vector<int64_t>(t.to(DType::I64)) == expected, "swin names: ", name,
                " differs from the relative position index nkd computes");
      continue;
    }
    const size_t ds = mm.find(".downsample.");
    out.emplace_back(mm, ds == std::string::npos ? t : permute_merge(mm.substr(ds + 12), t, false));
  }
  return out;
}

}  // namespace nkd::nets
