// Pack<T, V>: V consecutive elements loaded and stored as one access of sizeof(T) * V bytes, for
// the memory-bound contiguous kernels (nkd::launch_vec, engine/launch.h). CUDA-free, so a functor
// whose run<V>(i) uses packs compiles for the host too; for_each_lane<V> is the per-element loop,
// unrolled by construction.
#pragma once
#include <cstdint>
#include <utility>

#include "engine/host_device.h"

namespace nkd {

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// The V elements at p + i (p + i aligned to the Pack), or zeros when p is null.
template <int V, typename T>
NKD_HD Pack<T, V> load_pack(const T* p, int64_t i) {
  if (p == nullptr) return Pack<T, V>{};
  return *reinterpret_cast<const Pack<T, V>*>(p + i);
}
template <int V, typename T>
NKD_HD void store_pack(T* p, int64_t i, const Pack<T, V>& v) {
  *reinterpret_cast<Pack<T, V>*>(p + i) = v;
}

// f(k) for k = 0, 1, ..., V - 1, fully unrolled (a fold over the index pack).
template <int V, typename F>
NKD_HD void for_each_lane(const F& f) {
  [&]<int... K>(std::integer_sequence<int, K...>) { (f(K), ...); }(std::make_integer_sequence<int, V>{});
}

// Elements per 16-byte Pack.
template <typename T>
inline constexpr int kVecOf = 16 / static_cast<int>(sizeof(T)) > 0 ? 16 / static_cast<int>(sizeof(T)) : 1;

// True for null or a 16-byte aligned pointer: the operands a Pack may read or write.
inline bool aligned16(const void* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace nkd
