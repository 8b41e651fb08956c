// Swin window attention: relative position index, shifted-window mask, window partition and
// reverse, WindowMSA and ShiftWindowMSA (mmcls 0.23 mmcls/models/utils/attention.py).
#include <algorithm>
#include <cmath>

#include "engine/autocast.h"
#include "engine/factory.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "engine/ops/view.h"
#include "nets/swin_blocks.h"

namespace nkd::nets {

using layers::DropPath;
using layers::Linear;

Tensor relative_position_index(int64_t window) {
  NKD_CHECK(window > 0, "relative_position_index: window must be positive, got ", window);
  const int64_t n = window * window, span = 2 * window - 1;
  std::vector<int64_t> index(n * n);
  for (int64_t p = 0; p < n; ++p)
    for (int64_t q = 0; q < n; ++q) {
      const int64_t di = p / window - q / window + window - 1;
      const int64_t dj = p % window - q % window + window - 1;
      index[p * n + q] = di * span + dj;
    }
  return from_vector(index, {n * n});
}

Tensor shifted_window_mask(int64_t hp, int64_t wp, int64_t window, int64_t shift, TensorOptions options) {
  NKD_CHECK(window > 0 && shift > 0 && shift < window && hp > 0 && wp > 0 && hp % window == 0 &&
                wp % window == 0,
            "shifted_window_mask: map [", hp, ", ", wp, "] must be a positive multiple of window ", window,
            " and 0 < shift ", shift, " < window");
  // Region of a row (column) of the shifted map: the slices (0, -window), (-window, -shift), (-shift, end).
  auto region = [&](int64_t k, int64_t size) { return k < size - window ? 0 : (k < size - shift ? 1 : 2); };
  const int64_t nh = hp / window, nw = wp / window, n = window * window;
  std::vector<double> mask(nh * nw * n * n);
  std::vector<int64_t> id(n);  // region of each token of a window
  for (int64_t w = 0; w < nh * nw; ++w) {
    for (int64_t t = 0; t < n; ++t)
      id[t] = 3 * region((w / nw) * window + t / window, hp) + region((w % nw) * window + t % window, wp);
    double* m = mask.data() + w * n * n;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = 0; q < n; ++q) m[p * n + q] = id[p] == id[q] ? 0.0 : -100.0;
  }
  return from_vector(mask, {nh * nw, n, n}).to(options.dtype).to(options.device);
}

Tensor window_partition(const Tensor& x, int64_t window) {
  NKD_CHECK(x.ndim() == 4 && x.size(1) % window == 0 && x.size(2) % window == 0,
            "window_partition: expected [B, H, W, C] with H, W multiples of ", window, ", got ",
            to_string(x.shape()));
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const Tensor v = ops::reshape(x, {b, h / window, window, w / window, window, c});
  return ops::reshape(ops::permute(v, {0, 1, 3, 2, 4, 5}), {-1, window * window, c});
}

Tensor window_reverse(const Tensor& windows, int64_t hp, int64_t wp, int64_t window) {
  NKD_CHECK(windows.ndim() == 3 && windows.size(1) == window * window && hp % window == 0 &&
                wp % window == 0 && windows.size(0) % ((hp / window) * (wp / window)) == 0,
            "window_reverse: windows ", to_string(windows.shape()), " do not tile a [", hp, ", ", wp,
            "] map with window ", window);
  const int64_t c = windows.size(2);
  const Tensor v = ops::reshape(windows, {-1, hp / window, wp / window, window, window, c});
  return ops::reshape(ops::permute(v, {0, 1, 3, 2, 4, 5}), {-1, hp, wp, c});
}

WindowMSA::WindowMSA(int64_t embed_dims, int64_t num_heads, int64_t window)
    : heads_(num_heads), window_(window) {
  NKD_CHECK(num_heads > 0 && embed_dims % num_heads == 0, "WindowMSA: ", num_heads,
            " heads do not divide ", embed_dims, " channels");
  scale_ = 1.0 / std::sqrt(static_cast<double>(embed_dims / num_heads));
  const int64_t span = 2 * window - 1;
  relative_position_bias_table =
      register_parameter("relative_position_bias_table", zeros({span * span, num_heads}));
  index_ = relative_position_index(window);
  qkv = register_module("qkv", std::make_shared<Linear>(embed_dims, 3 * embed_dims));
  proj = register_module("proj", std::make_shared<Linear>(embed_dims, embed_dims));
}

Tensor WindowMSA::position_bias() {
  if (index_.device() != relative_position_bias_table.device())
    index_ = index_.to(relative_position_bias_table.device());
  const int64_t n = window_ * window_;
  const Tensor bias = ops::index_select(relative_position_bias_table, 0, index_);  // [N * N, heads]
  return ops::permute(ops::view(bias, {n, n, heads_}), {2, 0, 1});
}

Tensor WindowMSA::forward(const Tensor& x, const Tensor& mask) {
  const int64_t n = window_ * window_;
  NKD_CHECK(x.ndim() == 3 && x.size(1) == n && x.size(2) == qkv->weight.size(1),
            "WindowMSA: expected [B_, ", n, ", ", qkv->weight.size(1), "], got ", to_string(x.shape()));
  const int64_t bw = x.size(0), c = x.size(2), hd = c / heads_;
  // [B_, N, 3C] -> [3, B_, heads, N, hd]; q, k, v are strided views of it.
  const Tensor qkv5 = ops::permute(ops::view(qkv->forward(x), {bw, n, 3, heads_, hd}), {2, 0, 3, 1, 4});
  const Tensor q = ops::mul(ops::squeeze(ops::narrow(qkv5, 0, 0, 1), 0), scale_);
  const Tensor k = ops::squeeze(ops::narrow(qkv5, 0, 1, 1), 0);
  const Tensor v = ops::squeeze(ops::narrow(qkv5, 0, 2, 1), 0);
  // The two products follow the autocast policy (BF16 under an AutocastGuard); the bias, the mask
  // and the softmax are F32 (a BF16 product plus the F32 bias widens to F32).
  Tensor attn = ops::add(ops::matmul(autocast(q), autocast(ops::transpose(k, -2, -1))),
                         position_bias());  // [B_, heads, N, N]
  if (mask.defined()) {
    const int64_t nw = mask.size(0);
    NKD_CHECK(mask.ndim() == 3 && mask.size(1) == n && mask.size(2) == n && bw % nw == 0,
              "WindowMSA: mask ", to_string(mask.shape()), " does not fit ", bw, " windows of ", n,
              " tokens");
    attn = ops::add(ops::view(attn, {bw / nw, nw, heads_, n, n}), ops::view(mask, {1, nw, 1, n, n}));
    attn = ops::view(attn, {bw, heads_, n, n});
  }
  attn = ops::softmax(attn, -1);
  const Tensor out = ops::reshape(ops::transpose(ops::matmul(autocast(attn), autocast(v)), 1, 2), {bw, n, c});
  return proj->forward(out);
}

ShiftWindowMSA::ShiftWindowMSA(int64_t embed_dims, int64_t num_heads, int64_t window, int64_t shift,
                               double drop_path)
    : window_(window), shift_(shift) {
  NKD_CHECK(window > 0 && shift >= 0 && shift < window, "ShiftWindowMSA: need 0 <= shift ", shift,
            " < window ", window);
  w_msa = register_module("w_msa", std::make_shared<WindowMSA>(embed_dims, num_heads, window));
  drop = register_module("drop", std::make_shared<DropPath>(drop_path));
}

int64_t ShiftWindowMSA::effective_shift(int64_t h, int64_t w) const {
  return std::min(h, w) <= window_ ? 0 : shift_;
}

const Tensor& ShiftWindowMSA::mask_for(int64_t hp, int64_t wp, int64_t shift, TensorOptions options) {
  const std::vector<int64_t> key = {hp, wp, shift, static_cast<int64_t>(options.device.type), options.device.index,
                                    static_cast<int64_t>(options.dtype)};
  if (!mask_.defined() || key != mask_key_) {
    mask_ = shifted_window_mask(hp, wp, window_, shift, options);
    mask_key_ = key;
  }
  return mask_;
}

Tensor ShiftWindowMSA::forward(const Tensor& x) {
  NKD_CHECK(x.ndim() == 4, "ShiftWindowMSA: expected [B, H, W, C], got ", to_string(x.shape()));
  const int64_t h = x.size(1), w = x.size(2);
  const int64_t pad_b = (window_ - h % window_) % window_, pad_r = (window_ - w % window_) % window_;
  const int64_t hp = h + pad_b, wp = w + pad_r, shift = effective_shift(h, w);
  Tensor y = pad_b || pad_r ? ops::pad(x, {0, 0, 0, pad_r, 0, pad_b}) : x;
  if (shift > 0) y = ops::roll(y, {-shift, -shift}, {1, 2});
  const Tensor mask = shift > 0 ? mask_for(hp, wp, shift, x.options()) : Tensor();
  y = window_reverse(w_msa->forward(window_partition(y, window_), mask), hp, wp, window_);
  if (shift > 0) y = ops::roll(y, {shift, shift}, {1, 2});
  if (pad_b || pad_r) y = ops::narrow(ops::narrow(y, 1, 0, h), 2, 0, w);
  return drop->forward(y);
}

}  // namespace nkd::nets
