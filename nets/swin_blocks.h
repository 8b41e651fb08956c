// The Swin Transformer's blocks as mmcls 0.23 (SwinTransformer and its mmcv bricks), with mmcls state
// names: PatchEmbed, WindowMSA, ShiftWindowMSA, FFN, SwinBlock, PatchMerging, SwinBlockSequence.
// Tokens travel as [N, H, W, D] tensors (mmcls uses [N, H*W, D] plus hw_shape; same memory order).
// Window attention math: nets/swin_attention.cpp; blocks and stages: nets/swin_blocks.cpp.
#pragma once
#include <memory>
#include <vector>

#include "layers/basic.h"
#include "layers/conv.h"
#include "layers/module.h"
#include "layers/norm.h"

namespace nkd::nets {

// relative_position_index of a window (I64 [window^2 * window^2], CPU): entry (p, q) with
// p = (i1, j1), q = (i2, j2) is (i1 - i2 + window - 1) * (2 window - 1) + (j1 - j2 + window - 1),
// mmcls WindowMSA's double_step_seq construction (equal to torchvision's meshgrid one).
Tensor relative_position_index(int64_t window);

// The shifted-window attention mask of mmcls ShiftWindowMSA.get_attn_mask on a padded map
// [hp, wp] (multiples of window): [nW, N, N] with N = window^2, nW = (hp / window) (wp / window)
// in row-major window order; 0 where both tokens come from the same region of the cyclically
// shifted map, -100 otherwise. shift > 0.
Tensor shifted_window_mask(int64_t hp, int64_t wp, int64_t window, int64_t shift, TensorOptions options);

// x [B, Hp, Wp, C] -> [B * nW, window^2, C] (windows row-major, tokens row-major in a window).
Tensor window_partition(const Tensor& x, int64_t window);
// The inverse: windows [B * nW, window^2, C] -> [B, hp, wp, C].
Tensor window_reverse(const Tensor& windows, int64_t hp, int64_t wp, int64_t window);

// mmcv PatchEmbed (conv_type Conv2d, padding "corner", LN): x [N, Cin, H, W] is zero-padded at
// the bottom / right to a multiple of `patch`, then projection (conv patch x patch, stride patch,
// bias) and norm -> [N, ceil(H / patch), ceil(W / patch), D].
class PatchEmbed final : public layers::UnaryModule {
 public:
  PatchEmbed(int64_t in_channels, int64_t embed_dims, int64_t patch);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<layers::Conv2d> projection;
  std::shared_ptr<layers::LayerNorm> norm;

 private:
  int64_t patch_;
};

// Window multi-head self-attention with relative position bias (mmcls WindowMSA): qkv Linear with
// bias, scale head_dim^-1/2, bias table [(2 window - 1)^2, heads] indexed by
// relative_position_index (kept outside the state dict), optional additive mask, softmax, proj.
class WindowMSA final : public layers::Module {
 public:
  WindowMSA(int64_t embed_dims, int64_t num_heads, int64_t window);
  // x [B_, N, C] with N = window^2; mask [nW, N, N] (B_ a multiple of nW) or undefined.
  Tensor forward(const Tensor& x, const Tensor& mask);
  Tensor relative_position_bias_table;  // [(2 window - 1)^2, heads]
  std::shared_ptr<layers::Linear> qkv, proj;  // [3C, C] (rows: q, k, v; each head-major), [C, C]
  int64_t num_heads() const { return heads_; }

 private:
  // [heads, N, N] bias gathered from the table (differentiable in the table).
  Tensor position_bias();
  int64_t heads_, window_;
  double scale_;
  Tensor index_;  // I64 [N * N], moved to the table's device on use
};

// mmcls ShiftWindowMSA: pad to window multiples, cyclic shift by -shift (ops::roll), window
// partition, WindowMSA with the shifted-window mask, reverse, unshift, crop, DropPath ("drop").
// Small maps: mmcls disables the shift when min(H, W) == window and asserts when it is smaller
// (pad_small_map = False); here the shift is disabled whenever min(H, W) <= window and smaller
// maps are zero-padded to the window (what torchvision does for square maps).
class ShiftWindowMSA final : public layers::Module {
 public:
  ShiftWindowMSA(int64_t embed_dims, int64_t num_heads, int64_t window, int64_t shift, double drop_path);
  Tensor forward(const Tensor& x);  // [B, H, W, C] -> [B, H, W, C]
  // The shift applied to an [h, w] map (0 when min(h, w) <= window).
  int64_t effective_shift(int64_t h, int64_t w) const;
  std::shared_ptr<WindowMSA> w_msa;
  std::shared_ptr<layers::DropPath> drop;

 private:
  const Tensor& mask_for(int64_t hp, int64_t wp, int64_t shift, TensorOptions options);
  int64_t window_, shift_;
  Tensor mask_;  // cached [nW, N, N] for mask_key_ (map, shift, device, dtype)
  std::vector<int64_t> mask_key_;
};

// mmcv FFN (num_fcs 2, GELU, ffn_drop 0): layers.0.0 Linear(C, hidden), GELU, layers.1
// Linear(hidden, C); output identity + DropPath(layers(x)) (child "dropout_layer").
class FFN final : public layers::Module {
 public:
  FFN(int64_t embed_dims, int64_t hidden, double drop_path);
  Tensor forward(const Tensor& x, const Tensor& identity);
  std::shared_ptr<nkd::layers::Sequential> layers;  // mmcv's name (it hides namespace layers here)
  std::shared_ptr<nkd::layers::DropPath> dropout_layer;
};

// Pre-norm Swin block: x += attn(norm1(x)); x += ffn(norm2(x)) (DropPath inside both).
class SwinBlock final : public layers::UnaryModule {
 public:
  SwinBlock(int64_t embed_dims, int64_t num_heads, int64_t window, bool shift, double drop_path,
            double ffn_ratio = 4.0);
  Tensor forward(const Tensor& x) override;  // [B, H, W, C]
  std::shared_ptr<layers::LayerNorm> norm1, norm2;
  std::shared_ptr<ShiftWindowMSA> attn;
  std::shared_ptr<FFN> ffn;
};

// mmcv PatchMerging (nn.Unfold(2, stride 2), padding "corner"): [B, H, W, C] is zero-padded to
// even H, W; output channel c * 4 + kh * 2 + kw of token (i, j) is x[2i + kh, 2j + kw, c]
// (torchvision concatenates [x(0,0), x(1,0), x(0,1), x(1,1)] instead: channel (kw*2 + kh) C + c);
// then norm (LN 4C) and reduction Linear(4C, out, no bias) -> [B, ceil(H/2), ceil(W/2), out].
class PatchMerging final : public layers::UnaryModule {
 public:
  PatchMerging(int64_t in_channels, int64_t out_channels);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<layers::LayerNorm> norm;
  std::shared_ptr<layers::Linear> reduction;
};

// A stage: blocks.0 .. blocks.{depth-1} (odd blocks shifted by window / 2) and, except for the
// last stage, downsample (PatchMerging to 2C). forward() runs the blocks only, so the backbone can
// take the stage output before the downsample (out_after_downsample = False).
class SwinBlockSequence final : public layers::UnaryModule {
 public:
  SwinBlockSequence(int64_t embed_dims, int64_t depth, int64_t num_heads, int64_t window,
                    const std::vector<double>& drop_paths, bool downsample);
  Tensor forward(const Tensor& x) override;  // the blocks: [B, H, W, C] -> [B, H, W, C]
  int64_t out_channels() const { return downsample ? 2 * embed_dims_ : embed_dims_; }
  std::shared_ptr<layers::ModuleList<SwinBlock>> blocks;
  std::shared_ptr<PatchMerging> downsample;  // null in the last stage

 private:
  int64_t embed_dims_;
};

}  // namespace nkd::nets
