// A cache-blocked float transpose for the direct 3x3 convolutions' operand rearrangements (weights
// to [C][9][K], dy to channel blocks, the weight gradient back to [K][C][9]): done element by element
// in the order of either side, one side's accesses are a stride apart, which cost as much as 15% of a
// 256->256 14x14 pass (issue 17). In 16 x 16 tiles both sides stay within a few cache lines.
#pragma once
#include <algorithm>
#include <cstdint>

namespace nkd::ops::detail {

// dst[j * dst_stride + i] = src[i * src_row + j * src_col] for i < rows, j < cols.
inline void transpose_tiles(int64_t rows, int64_t cols, const float* src, int64_t src_row, int64_t src_col, float* dst,
                            int64_t dst_stride) {
  constexpr int64_t kTile = 16;
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    const int64_t i1 = std::min(rows, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t j1 = std::min(cols, j0 + kTile);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) dst[j * dst_stride + i] = src[i * src_row + j * src_col];
    }
  }
}

}  // namespace nkd::ops::detail
