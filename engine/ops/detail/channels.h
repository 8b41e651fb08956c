// The per-channel view [N, C, L] of a contiguous tensor (channel c = N runs of L elements) that
// batch norm and conv2d's bias share on the GPU (detail/channel_cuda.cuh), with the chunking of
// the per-channel sums and the scratch the launchers need. CUDA-free header.
#pragma once
#include <algorithm>
#include <cstdint>

namespace nkd::ops::gpu {

struct ChannelShape {
  int64_t N = 0, C = 0, L = 1;
};

// The per-channel reductions split each channel's N L elements into this many chunks, one block
// each: about 1024 blocks in all (so that a few channels still fill the GPU), chunks of at least
// 2048 elements, at most 1024 chunks. The result depends on the shape only (deterministic sums).
inline int64_t reduction_chunks(const ChannelShape& s) {
  const int64_t M = s.N * s.L;
  const int64_t by_size = std::max<int64_t>(1, (M + 2047) / 2048);
  const int64_t by_grid = std::max<int64_t>(1, (1024 + s.C - 1) / std::max<int64_t>(s.C, 1));
  const int64_t chunks = std::min({by_size, by_grid, int64_t{1024}});
  const int64_t per = std::max<int64_t>(1, (M + chunks - 1) / chunks);
  return std::max<int64_t>(1, (M + per - 1) / per);  // no empty chunk
}

// Doubles of scratch every per-channel launcher needs: two partial sums per chunk and channel, then up
// to three coefficients per channel.
inline int64_t channel_scratch_doubles(const ChannelShape& s) {
  return 2 * s.C * reduction_chunks(s) + 3 * s.C;
}

}  // namespace nkd::ops::gpu
