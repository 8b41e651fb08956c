// Op-table cases: concat, split, chunk, roll, pad, channel_shuffle (the indexing ops are in
// shape_index_cases.cpp). References rebuild every output by coordinates from a host copy.
#include "engine/ops/shape_ops.h"
#include "tests/support/op_table.h"
#include "tests/support/reference.h"

namespace nkd::testing {
namespace {

using V = std::vector<Tensor>;
using Idx = std::vector<int64_t>;

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

Tensor ref_concat(const V& xs, int64_t d) {
  std::vector<HostArray> hs;
  Shape out = xs[0].shape();
  out[d] = 0;
  for (const Tensor& x : xs) {
    hs.emplace_back(x);
    out[d] += x.size(d);
  }
  HostArray r(out);
  for_each_index(out, [&](const Idx& idx) {
    Idx j = idx;
    size_t k = 0;
    while (j[d] >= hs[k].shape[d]) j[d] -= hs[k++].shape[d];
    r.at(idx) = hs[k].at(j);
  });
  return r.tensor();
}

// Pieces of sizes `sizes` along d.
V ref_split(const Tensor& x, const Idx& sizes, int64_t d) {
  const HostArray h(x);
  V out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    Shape shape = h.shape;
    shape[d] = s;
    HostArray r(shape);
    for_each_index(shape, [&](const Idx& idx) {
      Idx j = idx;
      j[d] += start;
      r.at(idx) = h.at(j);
    });
    out.push_back(r.tensor());
    start += s;
  }
  return out;
}

void concat_case(std::vector<OpCase>& cases, const std::string& tag, std::vector<Shape> shapes, int64_t dim) {
  std::vector<InputSpec> inputs;
  std::string names;
  for (size_t i = 0; i < shapes.size(); ++i) {
    inputs.push_back({shapes[i]});
    names += (i ? ", x" : "x") + std::to_string(i);
  }
  const int64_t d = dim < 0 ? dim + static_cast<int64_t>(shapes[0].size()) : dim;
  cases.push_back({.op = "concat",
                   .name = "concat/" + tag,
                   .inputs = inputs,
                   .fn = [=](const V& x) { return V{ops::concat(x, dim)}; },
                   .reference = [=](const V& x) { return V{ref_concat(x, d)}; },
                   .torch = "torch.cat([" + names + "], dim=" + std::to_string(dim) + ")"});
}

void split_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, Idx sizes, int64_t dim) {
  const int64_t d = dim < 0 ? dim + static_cast<int64_t>(s.size()) : dim;
  cases.push_back({.op = "split",
                   .name = "split/" + tag,
                   .inputs = {{s}},
                   .fn = [=](const V& x) { return ops::split(x[0], sizes, dim); },
                   .reference = [=](const V& x) { return ref_split(x[0], sizes, d); },
                   .torch = "torch.split(x0, [" + join(sizes) + "], dim=" + std::to_string(dim) + ")"});
}

void chunk_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, int64_t n, int64_t dim,
                Idx expect_sizes) {
  const int64_t d = dim < 0 ? dim + static_cast<int64_t>(s.size()) : dim;
  cases.push_back({.op = "chunk",
                   .name = "chunk/" + tag,
                   .inputs = {{s}},
                   .fn = [=](const V& x) { return ops::chunk(x[0], n, dim); },
                   .reference = [=](const V& x) { return ref_split(x[0], expect_sizes, d); },
                   .torch = "torch.chunk(x0, " + std::to_string(n) + ", dim=" + std::to_string(dim) + ")"});
}

// out[k] = x[(k - shift) mod n] along each rolled dim (shifts per dim already summed).
Tensor ref_roll(const Tensor& x, const Idx& shift_per_dim) {
  const HostArray h(x);
  HostArray r(h.shape);
  for_each_index(h.shape, [&](const Idx& idx) {
    Idx j = idx;
    for (size_t d = 0; d < j.size(); ++d) {
      const int64_t n = h.shape[d];
      j[d] = (((idx[d] - shift_per_dim[d]) % n) + n) % n;
    }
    r.at(idx) = h.at(j);
  });
  return r.tensor();
}

void roll_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, Idx shifts, Idx dims,
               Idx shift_per_dim, const std::string& torch) {
  cases.push_back({.op = "roll",
                   .name = "roll/" + tag,
                   .inputs = {{s}},
                   .fn = [=](const V& x) { return V{ops::roll(x[0], shifts, dims)}; },
                   .reference = [=](const V& x) {
                     if (!dims.empty()) return V{ref_roll(x[0], shift_per_dim)};
                     const Tensor flat = HostArray(x[0]).tensor().reshape({x[0].numel()});
                     return V{ref_roll(flat, shift_per_dim).reshape(x[0].shape())};
                   },
                   .torch = torch});
}

// out[k] = x[k - left] inside x, else value (pads in F.pad order).
Tensor ref_pad(const Tensor& x, const Idx& pads, double value) {
  const HostArray h(x);
  Shape out = h.shape;
  Idx left(out.size(), 0);
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const size_t d = out.size() - 1 - k;
    out[d] += pads[2 * k] + pads[2 * k + 1];
    left[d] = pads[2 * k];
  }
  HostArray r(out, value);
  for_each_index(out, [&](const Idx& idx) {
    Idx j = idx;
    for (size_t d = 0; d < j.size(); ++d) {
      j[d] -= left[d];
      if (j[d] < 0 || j[d] >= h.shape[d]) return;
    }
    r.at(idx) = h.at(j);
  });
  return r.tensor();
}

void pad_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, Idx pads, double value,
              const std::string& value_str) {
  cases.push_back({.op = "pad",
                   .name = "pad/" + tag,
                   .inputs = {{s}},
                   .fn = [=](const V& x) { return V{ops::pad(x[0], pads, value)}; },
                   .reference = [=](const V& x) { return V{ref_pad(x[0], pads, value)}; },
                   .torch = "F.pad(x0, (" + join(pads) + "), value=" + value_str + ")"});
}

// Output channel c = i * g + k holds input channel k * (C / g) + i.
Tensor ref_channel_shuffle(const Tensor& x, int64_t g) {
  const HostArray h(x);
  HostArray r(h.shape);
  const int64_t per = h.shape[1] / g;
  for_each_index(h.shape, [&](const Idx& idx) {
    Idx j = idx;
    j[1] = (idx[1] % g) * per + idx[1] / g;
    r.at(idx) = h.at(j);
  });
  return r.tensor();
}

void shuffle_case(std::vector<OpCase>& cases, const std::string& tag, Shape s, int64_t g) {
  const std::string n = std::to_string(s[0]), c = std::to_string(s[1]), gs = std::to_string(g),
                    per = std::to_string(s[1] / g), hw = std::to_string(s[2]) + ", " + std::to_string(s[3]);
  cases.push_back({.op = "channel_shuffle",
                   .name = "channel_shuffle/" + tag,
                   .inputs = {{s}},
                   .fn = [=](const V& x) { return V{ops::channel_shuffle(x[0], g)}; },
                   .reference = [=](const V& x) { return V{ref_channel_shuffle(x[0], g)}; },
                   .torch = "x0.reshape(" + n + ", " + gs + ", " + per + ", " + hw + ").transpose(1, 2).reshape(" +
                            n + ", " + c + ", " + hw + ")"});
}

}  // namespace

NKD_OP_CASES(shape) {
  concat_case(cases, "dim1_three", {{2, 3}, {2, 1}, {2, 4}}, 1);
  concat_case(cases, "dim0_batch1", {{1, 3, 2}, {3, 3, 2}}, 0);
  concat_case(cases, "neg_dim", {{2, 2, 3}, {2, 2, 2}}, -1);
  concat_case(cases, "channels_C2", {{2, 1, 3, 3}, {2, 1, 3, 3}}, 1);

  split_case(cases, "dim1", {3, 7}, {2, 4, 1}, 1);
  split_case(cases, "dim0_empty_piece", {5, 2}, {1, 0, 4}, 0);
  split_case(cases, "neg_dim", {2, 3, 5}, {3, 2}, -1);

  chunk_case(cases, "5_into_3", {2, 5}, 3, 1, {2, 2, 1});
  chunk_case(cases, "even_dim0", {6, 2}, 3, 0, {2, 2, 2});
  chunk_case(cases, "6_into_4_gives_3", {6, 3}, 4, 0, {2, 2, 2});
  chunk_case(cases, "neg_dim_C2", {3, 2}, 2, -1, {1, 1});

  // Swin's shifted windows: [N, H, W, C] rolled by -shift over H and W.
  roll_case(cases, "swin_hw", {2, 5, 4, 3}, {-2, -2}, {1, 2}, {0, -2, -2, 0},
            "torch.roll(x0, shifts=(-2, -2), dims=(1, 2))");
  roll_case(cases, "flat", {3, 4}, {5}, {}, {5}, "torch.roll(x0, 5)");
  roll_case(cases, "beyond_size_neg_dim", {3, 4}, {7, -5}, {0, -1}, {7, -5},
            "torch.roll(x0, shifts=(7, -5), dims=(0, -1))");
  roll_case(cases, "repeated_dim", {5, 2}, {2, 1}, {0, 0}, {3, 0}, "torch.roll(x0, shifts=(2, 1), dims=(0, 0))");

  pad_case(cases, "last_two", {2, 3, 4, 5}, {1, 2, 0, 1}, 0.0, "0.0");
  pad_case(cases, "value", {3, 4}, {2, 1}, 1.5, "1.5");
  pad_case(cases, "negative_crops", {3, 6}, {-1, 2, 1, -1}, 0.0, "0.0");
  pad_case(cases, "all_dims", {2, 3}, {1, 0, 0, 2}, -0.5, "-0.5");

  shuffle_case(cases, "g3", {2, 6, 3, 3}, 3);
  shuffle_case(cases, "batch1_odd", {1, 4, 3, 5}, 2);
  shuffle_case(cases, "C2", {3, 2, 1, 3}, 2);
}

}  // namespace nkd::testing
