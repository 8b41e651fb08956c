// The team form of a row functor: the per-row math of a kernel written once against a "team" that
// walks the row's C columns, so the same code runs as one thread per row (SerialRow: the CPU loops
// and the GPU for short rows) and as one warp or block per row on a GPU (engine/cuda/row_team.cuh).
// A row functor with a team form has
//   template <typename Team> NKD_HD void row(const Team& tm, int64_t r) const;
//   NKD_HD void operator()(int64_t r) const { row(SerialRow{}, r); }
// and launches with launch_rows (engine/launch.h), which picks the form. Every thread of a team runs
// row() with the same r; a team offers:
//   sum(n, f)           sum_j f(j), j in [0, n)                     (every thread gets the result)
//   max(n, f)           max_j f(j), NaN winning, -inf when n = 0     (as ops::math::row_max)
//   argmax(n, skip, f)  the first j != skip of the largest f(j)     (as losses' row_argmax / top2)
//   for_each(n, f)      f(j) for every j, each j by one thread; two for_each over the same n give
//                       column j to the same thread (a later one may read what an earlier wrote)
//   leader()            true for one thread: the one that writes the row's scalars
// SerialRow walks j in index order: exactly the arithmetic of the plain loops. LanesRow<kTeam> runs
// a team's partition (thread l takes j = l, l + kTeam, ...) and combine order (a butterfly within
// each warp of 32, then the warps in order) on one CPU thread, so a CPU test can check the team form
// against SerialRow; the GPU team (engine/cuda/row_team.cuh) differs from it only in exp/log.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "engine/host_device.h"

namespace nkd {

// The value type f(j) returns.
template <typename F>
using RowValueOf = std::decay_t<decltype(std::declval<const F&>()(int64_t{0}))>;

namespace row_team {

inline constexpr int kWarp = 32;

// Max step of a fold started at -inf: a NaN wins and stays (nothing compares greater than it).
template <typename A>
NKD_HD A fold_max(A m, A v) {
  return (v > m || v != v) ? v : m;
}

// A candidate of an argmax. Its rank orders candidates strictly, as the serial scan of
// SerialRow::argmax decides: a NaN at the first considered column beats everything (the scan starts
// there and nothing compares greater), other NaNs lose to everything, then the larger value, then
// the smaller index; rank -1 marks "no candidate" (a thread with no column).
template <typename A>
struct ArgBest {
  A v;
  int64_t i;
  int rank;  // -1 none, 0 NaN elsewhere, 1 a number, 2 NaN at the first column
};

template <typename A>
NKD_HD ArgBest<A> arg_candidate(A v, int64_t j, int64_t first) {
  const bool nan = v != v;
  return {v, j, nan ? (j == first ? 2 : 0) : 1};
}

template <typename A>
NKD_HD bool beats(const ArgBest<A>& a, const ArgBest<A>& b) {
  if (a.rank != b.rank) return a.rank > b.rank;
  if (a.rank == 1 && a.v != b.v) return a.v > b.v;
  return a.i < b.i;
}

struct SumOp {
  template <typename A>
  NKD_HD A operator()(A a, A b) const {
    return a + b;
  }
};
struct MaxOp {
  template <typename A>
  NKD_HD A operator()(A a, A b) const {
    return (a != a || a >= b) ? a : b;  // NaN wins (ops::math::nan_max)
  }
};
struct ArgOp {
  template <typename A>
  NKD_HD ArgBest<A> operator()(const ArgBest<A>& a, const ArgBest<A>& b) const {
    return beats(b, a) ? b : a;
  }
};

// The first column an argmax over [0, n) without `skip` considers.
NKD_HD int64_t first_column(int64_t skip) { return skip == 0 ? 1 : 0; }

}  // namespace row_team

// One thread walks the whole row in index order.
struct SerialRow {
  NKD_HD static constexpr bool leader() { return true; }

  template <typename F>
  NKD_HD RowValueOf<F> sum(int64_t n, const F& f) const {
    RowValueOf<F> s = 0;
    for (int64_t j = 0; j < n; ++j) s += f(j);
    return s;
  }
  template <typename F>
  NKD_HD RowValueOf<F> max(int64_t n, const F& f) const {
    using A = RowValueOf<F>;
    A m = -static_cast<A>(HUGE_VAL);
    for (int64_t j = 0; j < n; ++j) {
      const A v = f(j);
      if (v > m || v != v) m = v;
      if (m != m) break;
    }
    return m;
  }
  // best = the first considered column; then every later j != skip with f(j) > f(best).
  template <typename F>
  NKD_HD int64_t argmax(int64_t n, int64_t skip, const F& f) const {
    int64_t best = row_team::first_column(skip);
    for (int64_t j = best + 1; j < n; ++j)
      if (j != skip && f(j) > f(best)) best = j;
    return best;
  }
  template <typename F>
  NKD_HD void for_each(int64_t n, const F& f) const {
    for (int64_t j = 0; j < n; ++j) f(j);
  }
};

// A team of kTeam threads (32: a warp, 256: a block) emulated on one CPU thread (tests).
template <int kTeam>
struct LanesRow {
  static_assert(kTeam % row_team::kWarp == 0, "a team is whole warps");
  static constexpr bool leader() { return true; }

  // The GPU's combine of the per-thread values v[kTeam]: an xor butterfly in each warp (every lane
  // ends with the same value), then the warps' values in order.
  template <typename A, typename Op>
  static A combine(A* v, Op op) {
    constexpr int w = row_team::kWarp;
    for (int base = 0; base < kTeam; base += w)
      for (int d = w / 2; d > 0; d /= 2) {
        A next[w];
        for (int l = 0; l < w; ++l) next[l] = op(v[base + l], v[base + (l ^ d)]);
        for (int l = 0; l < w; ++l) v[base + l] = next[l];
      }
    A out = v[0];
    for (int base = w; base < kTeam; base += w) out = op(out, v[base]);
    return out;
  }

  template <typename F>
  RowValueOf<F> sum(int64_t n, const F& f) const {
    RowValueOf<F> v[kTeam];
    for (int l = 0; l < kTeam; ++l) {
      v[l] = 0;
      for (int64_t j = l; j < n; j += kTeam) v[l] += f(j);
    }
    return combine(v, row_team::SumOp{});
  }
  template <typename F>
  RowValueOf<F> max(int64_t n, const F& f) const {
    using A = RowValueOf<F>;
    A v[kTeam];
    for (int l = 0; l < kTeam; ++l) {
      v[l] = -static_cast<A>(HUGE_VAL);
      for (int64_t j = l; j < n; j += kTeam) v[l] = row_team::fold_max(v[l], f(j));
    }
    return combine(v, row_team::MaxOp{});
  }
  template <typename F>
  int64_t argmax(int64_t n, int64_t skip, const F& f) const {
    using A = RowValueOf<F>;
    const int64_t first = row_team::first_column(skip);
    row_team::ArgBest<A> v[kTeam];
    for (int l = 0; l < kTeam; ++l) {
      v[l] = {A(0), n, -1};
      for (int64_t j = l; j < n; j += kTeam)
        if (j != skip) v[l] = row_team::ArgOp{}(v[l], row_team::arg_candidate(static_cast<A>(f(j)), j, first));
    }
    return combine(v, row_team::ArgOp{}).i;
  }
  template <typename F>
  void for_each(int64_t n, const F& f) const {
    for (int l = 0; l < kTeam; ++l)
      for (int64_t j = l; j < n; j += kTeam) f(j);
  }
};

}  // namespace nkd
