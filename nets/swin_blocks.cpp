// Swin blocks and stages: PatchEmbed, FFN, SwinBlock, PatchMerging (mmcls Unfold channel order)
// and SwinBlockSequence. The window attention itself is in nets/swin_attention.cpp.
#include "nets/swin_blocks.h"

#include "engine/ops/elementwise.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/view.h"

namespace nkd::nets {

using layers::Conv2d;
using layers::Conv2dOptions;
using layers::DropPath;
using layers::gelu;
using layers::LayerNorm;
using layers::Linear;
using layers::ModuleList;
using layers::Sequential;

PatchEmbed::PatchEmbed(int64_t in_channels, int64_t embed_dims, int64_t patch) : patch_(patch) {
  NKD_CHECK(patch > 0, "PatchEmbed: patch size must be positive, got ", patch);
  const Conv2dOptions conv{.in = in_channels, .out = embed_dims, .kernel = patch, .stride = patch};
  projection = register_module("projection", std::make_shared<Conv2d>(conv));
  norm = register_module("norm", std::make_shared<LayerNorm>(embed_dims));
}

Tensor PatchEmbed::forward(const Tensor& x) {
  NKD_CHECK(x.ndim() == 4, "PatchEmbed: expected [N, C, H, W], got ", to_string(x.shape()));
  const int64_t pad_b = (patch_ - x.size(2) % patch_) % patch_;
  const int64_t pad_r = (patch_ - x.size(3) % patch_) % patch_;
  const Tensor xp = pad_b || pad_r ? ops::pad(x, {0, pad_r, 0, pad_b}) : x;
  // [N, D, P, Q] -> [N, P, Q, D]; the LayerNorm reads the permuted view and writes it contiguous.
  return norm->forward(ops::permute(projection->forward(xp), {0, 2, 3, 1}));
}

FFN::FFN(int64_t embed_dims, int64_t hidden, double drop_path) {
  auto fc1 = std::make_shared<Sequential>();
  fc1->add(std::make_shared<Linear>(embed_dims, hidden)).add(gelu());
  layers = register_module("layers", std::make_shared<Sequential>());
  layers->add(fc1).add(std::make_shared<Linear>(hidden, embed_dims));
  dropout_layer = register_module("dropout_layer", std::make_shared<DropPath>(drop_path));
}

Tensor FFN::forward(const Tensor& x, const Tensor& identity) {
  return ops::add(identity, dropout_layer->forward(layers->forward(x)));
}

SwinBlock::SwinBlock(int64_t embed_dims, int64_t num_heads, int64_t window, bool shift, double drop_path,
                     double ffn_ratio) {
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(embed_dims));
  attn = register_module("attn", std::make_shared<ShiftWindowMSA>(embed_dims, num_heads, window,
                                                                  shift ? window / 2 : 0, drop_path));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(embed_dims));
  const auto hidden = static_cast<int64_t>(static_cast<double>(embed_dims) * ffn_ratio);
  ffn = register_module("ffn", std::make_shared<FFN>(embed_dims, hidden, drop_path));
}

Tensor SwinBlock::forward(const Tensor& x) {
  const Tensor y = ops::add(x, attn->forward(norm1->forward(x)));
  return ffn->forward(norm2->forward(y), y);
}

PatchMerging::PatchMerging(int64_t in_channels, int64_t out_channels) {
  norm = register_module("norm", std::make_shared<LayerNorm>(4 * in_channels));
  reduction = register_module("reduction", std::make_shared<Linear>(4 * in_channels, out_channels, false));
}

Tensor PatchMerging::forward(const Tensor& x) {
  NKD_CHECK(x.ndim() == 4 && 4 * x.size(3) == norm->weight.size(0), "PatchMerging: expected [B, H, W, ",
            norm->weight.size(0) / 4, "], got ", to_string(x.shape()));
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const Tensor xp = h % 2 || w % 2 ? ops::pad(x, {0, 0, 0, w % 2, 0, h % 2}) : x;
  const int64_t p = (h + 1) / 2, q = (w + 1) / 2;
  // [B, P, kh, Q, kw, C] -> [B, P, Q, C, kh, kw]: nn.Unfold's channel order c * 4 + kh * 2 + kw.
  const Tensor v = ops::reshape(xp, {b, p, 2, q, 2, c});
  const Tensor merged = ops::reshape(ops::permute(v, {0, 1, 3, 5, 2, 4}), {b, p, q, 4 * c});
  return reduction->forward(norm->forward(merged));
}

SwinBlockSequence::SwinBlockSequence(int64_t embed_dims, int64_t depth, int64_t num_heads, int64_t window,
                                     const std::vector<double>& drop_paths, bool with_downsample)
    : embed_dims_(embed_dims) {
  NKD_CHECK(static_cast<int64_t>(drop_paths.size()) == depth, "SwinBlockSequence: ", drop_paths.size(),
            " drop-path rates for ", depth, " blocks");
  blocks = register_module("blocks", std::make_shared<ModuleList<SwinBlock>>());
  for (int64_t i = 0; i < depth; ++i)
    blocks->add(std::make_shared<SwinBlock>(embed_dims, num_heads, window, i % 2 == 1, drop_paths[i]));
  if (with_downsample)
    downsample = register_module("downsample", std::make_shared<PatchMerging>(embed_dims, 2 * embed_dims));
}

Tensor SwinBlockSequence::forward(const Tensor& x) {
  Tensor y = x;
  for (size_t i = 0; i < blocks->size(); ++i) y = (*blocks)[i].forward(y);
  return y;
}

}  // namespace nkd::nets
