// Winograd F(4x4, 3x3) on the CPU (detail/conv_winograd_cpu.h): the weight transform, and the
// forward as input transform -> 36 OpenBLAS GEMMs -> output transform with the epilogue, over
// chunks of tile rows so that the transformed data of a chunk stays in the caches.
//
// A tile row is the TX = ceil(W / 4) tiles of one image whose outputs are rows 4 ty .. 4 ty + 3.
// Both transforms work on whole tile rows, so their inner loops run over contiguous memory:
//   input:  the 6 input rows (zero-padded) -> B^T along the columns of the rows (contiguous) ->
//           B^T along each tile's 6 columns (stride-4 reads), one contiguous run of TX values per
//           element of the transformed tile: V [36][C][tiles of the chunk];
//   output: A^T along each tile's 6 columns of M [36][K][tiles] (contiguous reads, stride-4
//           writes) -> A^T along the rows (contiguous) -> the epilogue, row by row.
// Rows and columns past the plane (the bottom and right tiles of a plane not a multiple of 4) read
// zeros and are computed but not written.
#include <algorithm>
#include <vector>

#include "engine/cpu/blas.h"
#include "engine/cpu/parallel.h"
#include "engine/ops/detail/conv_winograd_cpu.h"

namespace nkd::ops::detail {
namespace {

constexpr int64_t kM = kWinogradTile, kA = kWinogradInput, kPoints = kWinogradPoints;

// Tiles per chunk (the GEMMs' column count): about 128. CPU ms of the forward (both threads), batch
// 8, 2-core AMD EPYC (Zen 3, AVX2) with another job on the cores, for chunks of 28 / 56 / 112 / 224 /
// 448 tiles: 64->64 56x56 19 / 15 / 14 / 16 / 15; 128->128 28x28 13 / 11 / 11 / 12 / 16; 256->256
// 14x14 14 / 16 / 14 / 16 / 16; 512->512 7x7 (32 tiles in all) 23 (two chunks) / 15-19 (one).
// Narrower GEMMs pack the weights U more often per tile; wider ones leave the caches.
constexpr int64_t kChunkTiles = 128;

struct Plan {
  int64_t tx, ty;        // tiles per row, tile rows per image
  int64_t rows;          // tile rows of the batch, N * ty
  int64_t chunk_rows;    // tile rows per chunk
  int64_t chunk_tiles;   // chunk_rows * tx: the GEMMs' column count
  int64_t v_elems, m_elems;
};

Plan make_plan(const ConvGeom& g) {
  Plan p{};
  p.tx = (g.q + kM - 1) / kM;
  p.ty = (g.p + kM - 1) / kM;
  p.rows = g.n * p.ty;
  const int64_t wanted = std::clamp<int64_t>((kChunkTiles + p.tx - 1) / p.tx, 1, p.rows);
  const int64_t chunks = (p.rows + wanted - 1) / wanted;  // then balanced
  p.chunk_rows = (p.rows + chunks - 1) / chunks;
  p.chunk_tiles = p.chunk_rows * p.tx;
  p.v_elems = kPoints * g.c * p.chunk_tiles;
  p.m_elems = kPoints * g.k * p.chunk_tiles;
  return p;
}

// The transforms along one direction, over n tiles at once: each argument is a run of n values,
// one per tile (the restrict parameters let GCC vectorize the loops; as locals it does not).
// v = B^T d:
inline void input_transform(int64_t n, const float* __restrict d0, const float* __restrict d1,
                            const float* __restrict d2, const float* __restrict d3, const float* __restrict d4,
                            const float* __restrict d5, float* __restrict v0, float* __restrict v1,
                            float* __restrict v2, float* __restrict v3, float* __restrict v4, float* __restrict v5) {
  for (int64_t j = 0; j < n; ++j) {
    v0[j] = 4 * d0[j] - 5 * d2[j] + d4[j];
    v1[j] = d3[j] + d4[j] - 4 * (d1[j] + d2[j]);
    v2[j] = d4[j] - d3[j] + 4 * (d1[j] - d2[j]);
    v3[j] = d4[j] - d2[j] + 2 * (d3[j] - d1[j]);
    v4[j] = d4[j] - d2[j] + 2 * (d1[j] - d3[j]);
    v5[j] = 4 * d1[j] - 5 * d3[j] + d5[j];
  }
}

// y = A^T m, as four runs; and the same with the 4 values of tile j at y[4 j .. 4 j + 3] (one
// output row).
inline void output_transform(int64_t n, const float* __restrict m0, const float* __restrict m1,
                             const float* __restrict m2, const float* __restrict m3, const float* __restrict m4,
                             const float* __restrict m5, float* __restrict y0, float* __restrict y1,
                             float* __restrict y2, float* __restrict y3) {
  for (int64_t j = 0; j < n; ++j) {
    const float a = m1[j] + m2[j], b = m1[j] - m2[j], c = m3[j] + m4[j], d = m3[j] - m4[j];
    y0[j] = m0[j] + a + c;
    y1[j] = b + 2 * d;
    y2[j] = a + 4 * c;
    y3[j] = b + 8 * d + m5[j];
  }
}
inline void output_transform_interleaved(int64_t n, const float* __restrict m0, const float* __restrict m1,
                                         const float* __restrict m2, const float* __restrict m3,
                                         const float* __restrict m4, const float* __restrict m5,
                                         float* __restrict y) {
  for (int64_t j = 0; j < n; ++j) {
    const float a = m1[j] + m2[j], b = m1[j] - m2[j], c = m3[j] + m4[j], d = m3[j] - m4[j];
    y[4 * j] = m0[j] + a + c;
    y[4 * j + 1] = b + 2 * d;
    y[4 * j + 2] = a + 4 * c;
    y[4 * j + 3] = b + 8 * d + m5[j];
  }
}

// e_b[j] = s[4 j + b] for j < n: the tiles' columns b = 0..3 as contiguous runs (and, called on
// s + 4, columns 4 and 5 through e0 and e1 only: deinterleave2).
inline void deinterleave4(int64_t n, const float* __restrict s, float* __restrict e0, float* __restrict e1,
                          float* __restrict e2, float* __restrict e3) {
  for (int64_t j = 0; j < n; ++j) {
    e0[j] = s[4 * j];
    e1[j] = s[4 * j + 1];
    e2[j] = s[4 * j + 2];
    e3[j] = s[4 * j + 3];
  }
}
inline void deinterleave2(int64_t n, const float* __restrict s, float* __restrict e0, float* __restrict e1) {
  for (int64_t j = 0; j < n; ++j) {
    e0[j] = s[4 * j];
    e1[j] = s[4 * j + 1];
  }
}

// Floats of scratch input_chunk and output_chunk need.
int64_t input_scratch(const Plan& pl) { return 2 * kA * (kM * pl.tx + 2) + kPoints * pl.chunk_tiles; }
int64_t output_scratch(const Plan& pl) { return (kM * kA + kM * kM) * pl.chunk_tiles; }

// The input transform of channel c for the chunk's tile rows [r0, r0 + nr) (r = n * ty + tile row):
// writes V[i][c][0 .. nr tx) at v + i * ld_i. x: the input [N, C, H, W]. Per tile row: the 6 input
// rows (zero-padded), B^T down their columns, each result row split by tile column (6 runs of tx);
// then B^T across the tile columns, over the whole chunk at once (runs of nr tx).
[[gnu::target_clones("avx512f", "avx2", "default")]] void input_chunk(const ConvGeom& g, const Plan& pl,
                                                                         const float* x, int64_t c, int64_t r0,
                                                                         int64_t nr, float* v, int64_t ld_i,
                                                                         float* scratch) {
  const int64_t tx = pl.tx, tiles = nr * tx;
  const int64_t wp = kM * tx + 2;   // the padded row: column -1 .. 4 tx (4 tx + 1 values read per row)
  float* pad = scratch;             // [6][wp]
  float* t = pad + kA * wp;         // [6][wp]: B^T down the columns
  float* e = t + kA * wp;           // [6 a][6 b][tiles]: t's row a, column b of each tile
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t n = (r0 + r) / pl.ty, ty = (r0 + r) % pl.ty;
    const float* plane = x + (n * g.c + c) * g.h * g.w;
    for (int64_t a = 0; a < kA; ++a) {
      float* row = pad + a * wp;
      const int64_t h = kM * ty - 1 + a;
      if (h < 0 || h >= g.h) {
        std::fill(row, row + wp, 0.0f);
        continue;
      }
      const float* src = plane + h * g.w;
      row[0] = 0.0f;
      for (int64_t j = 0; j < g.w; ++j) row[j + 1] = src[j];
      std::fill(row + g.w + 1, row + wp, 0.0f);
    }
    input_transform(wp, pad, pad + wp, pad + 2 * wp, pad + 3 * wp, pad + 4 * wp, pad + 5 * wp, t, t + wp, t + 2 * wp,
                    t + 3 * wp, t + 4 * wp, t + 5 * wp);
    for (int64_t a = 0; a < kA; ++a) {
      float* ea = e + a * kA * tiles + r * tx;
      deinterleave4(tx, t + a * wp, ea, ea + tiles, ea + 2 * tiles, ea + 3 * tiles);
      deinterleave2(tx, t + a * wp + kM, ea + 4 * tiles, ea + 5 * tiles);
    }
  }
  for (int64_t a = 0; a < kA; ++a) {
    const float* ea = e + a * kA * tiles;
    float* o = v + a * kA * ld_i;
    input_transform(tiles, ea, ea + tiles, ea + 2 * tiles, ea + 3 * tiles, ea + 4 * tiles, ea + 5 * tiles, o,
                    o + ld_i, o + 2 * ld_i, o + 3 * ld_i, o + 4 * ld_i, o + 5 * ld_i);
  }
}

// The output transform of output channel k for the chunk's tile rows [r0, r0 + nr), then the
// epilogue: reads M[i][k][0 .. nr tx) at m + i * ld_i, writes y [N, K, P, Q] (residual: the same
// shape, or null). A^T down the tiles' columns and then across them, both over the whole chunk;
// then one output row at a time through the epilogue.
[[gnu::target_clones("avx512f", "avx2", "default")]] void output_chunk(const ConvGeom& g, const Plan& pl,
                                                                          const float* m, int64_t ld_i, int64_t k,
                                                                          int64_t r0, int64_t nr,
                                                                          const ConvEpilogue<float>& ep, float* y,
                                                                          float* scratch) {
  const int64_t tx = pl.tx, tiles = nr * tx, wo = kM * tx;
  float* s = scratch;                  // [4 o][6 b][tiles]: A^T down the columns
  float* rows = s + kM * kA * tiles;   // [4 o][4 tiles]: output row o of tile row r at rows[o] + r wo
  for (int64_t b = 0; b < kA; ++b) {
    const float* mb = m + b * ld_i;  // element (a, b) at mb + 6 a ld_i
    output_transform(tiles, mb, mb + kA * ld_i, mb + 2 * kA * ld_i, mb + 3 * kA * ld_i, mb + 4 * kA * ld_i,
                     mb + 5 * kA * ld_i, s + b * tiles, s + (kA + b) * tiles, s + (2 * kA + b) * tiles,
                     s + (3 * kA + b) * tiles);
  }
  for (int64_t o = 0; o < kM; ++o) {
    const float* so = s + o * kA * tiles;
    output_transform_interleaved(tiles, so, so + tiles, so + 2 * tiles, so + 3 * tiles, so + 4 * tiles,
                                 so + 5 * tiles, rows + o * kM * tiles);
  }
  const float bias = ep.bias ? ep.bias[k] : 0.0f;
  for (int64_t r = 0; r < nr; ++r) {
    const int64_t n = (r0 + r) / pl.ty, ty = (r0 + r) % pl.ty;
    const int64_t plane = (n * g.k + k) * g.p * g.q, p0 = kM * ty, p1 = std::min(p0 + kM, g.p);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t at = plane + p * g.q;
      apply_epilogue(y + at, rows + (p - p0) * kM * tiles + r * wo, g.q, bias, ep.residual ? ep.residual + at : nullptr,
                     ep.act);
    }
  }
}

// Runs fn(i, scratch) for i in [0, n) in parallel, each thread with its own `scratch_floats` floats.
template <typename Fn>
void parallel_tasks(int64_t n, int64_t task_work, int64_t scratch_floats, const Fn& fn) {
  cpu::parallel_for(n, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(task_work, 1)),
                    [&](int64_t b, int64_t e) {
                      std::vector<float> scratch(scratch_floats);
                      for (int64_t i = b; i < e; ++i) fn(i, scratch.data());
                    });
}

}  // namespace

void winograd_transform_weights(int64_t k, int64_t c, const float* w, float* u) {
  // G (6x3) for the points 0, 1, -1, 2, -2 and infinity.
  static constexpr double G[kA][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};
  cpu::parallel_for(k * c, 256, [&](int64_t b, int64_t e) {
    for (int64_t kc = b; kc < e; ++kc) {
      const float* g = w + kc * 9;
      double gg[kA][3];  // G g
      for (int64_t a = 0; a < kA; ++a)
        for (int64_t s = 0; s < 3; ++s) gg[a][s] = G[a][0] * g[s] + G[a][1] * g[3 + s] + G[a][2] * g[6 + s];
      for (int64_t a = 0; a < kA; ++a)
        for (int64_t bb = 0; bb < kA; ++bb)
          u[(a * kA + bb) * k * c + kc] =
              static_cast<float>(gg[a][0] * G[bb][0] + gg[a][1] * G[bb][1] + gg[a][2] * G[bb][2]);
    }
  });
}

int64_t winograd_workspace_elems(const ConvGeom& g) {
  const Plan p = make_plan(g);
  return p.v_elems + p.m_elems;
}

void winograd_forward(const ConvGeom& g, const float* x, const float* u, const ConvEpilogue<float>& ep, float* y,
                      float* ws) {
  const Plan pl = make_plan(g);
  float* v = ws;                // [36][C][chunk_tiles]
  float* m = ws + pl.v_elems;   // [36][K][chunk_tiles]
  for (int64_t r0 = 0; r0 < pl.rows; r0 += pl.chunk_rows) {
    const int64_t nr = std::min(pl.chunk_rows, pl.rows - r0), tiles = nr * pl.tx;
    const int64_t ld = tiles;  // V_i and M_i rows hold this chunk's tiles
    const int64_t work = kPoints * tiles;  // per channel, each way
    parallel_tasks(g.c, work, input_scratch(pl), [&](int64_t c, float* scratch) {
      input_chunk(g, pl, x, c, r0, nr, v + c * ld, g.c * ld, scratch);
    });
    cpu::parallel_for(kPoints, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        cpu::gemm<float>(false, false, g.k, tiles, g.c, 1.0f, u + i * g.k * g.c, g.c, v + i * g.c * ld, ld, 0.0f,
                         m + i * g.k * ld, ld);
    });
    parallel_tasks(g.k, work, output_scratch(pl), [&](int64_t k, float* scratch) {
      output_chunk(g, pl, m + k * ld, g.k * ld, k, r0, nr, ep, y, scratch);
    });
  }
}

}  // namespace nkd::ops::detail
