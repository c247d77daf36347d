// Decode attention split over the context (TCOBENCH_CUDA_ATTENTION=split):
// the pieces written once for the GPU and the host (__host__ __device__),
// so cuda_blocks_test runs them on the CPU; the kernels (launch, shared
// memory, block reductions) are in cuda_kernels.cu.
//
// The block kernel (one block per token and head, its warps walking the
// positions one after another) leaves a single token's decode with a block
// per head and a chain of dependent loads per warp: latency-bound. Here a
// token's visible positions are cut into splits of kSplitChunk; a block
// takes one split of one KV head for up to kSplitHeads of its query heads
// (grouped-query attention reads each key and value once for them), a
// thread per position for the scores (its key row's loads all independent),
// then a thread per dimension for the values. Each block writes its
// split's running max, sum of exponentials and weighted values; a second
// kernel combines the splits (the same softmax, rescaled per split).
#pragma once

#include <cmath>
#include <cstdint>

#include "workers/engine/cuda/blocks.cuh"
#include "workers/engine/cuda/cuda_kernels.h"

namespace tcobench::cuda {

constexpr int kSplitThreads = kSplitChunk;  // threads per block, a position each
constexpr int kSplitHeads = 8;     // query heads per block at most

// Token t's visible positions: [j0, n_vis).
struct SplitRange {
  int j0 = 0, n_vis = 0;
};
TCOBENCH_HD SplitRange VisibleRange(const AttentionLaunch& a, int t) {
  SplitRange r;
  r.n_vis = a.pos[t] + 1;
  r.j0 = a.window > 0 && r.n_vis > a.window ? r.n_vis - a.window : 0;
  return r;
}
// Splits with positions for a range.
TCOBENCH_HD int ActiveSplits(const SplitRange& r) {
  return (r.n_vis - r.j0 + kSplitChunk - 1) / kSplitChunk;
}
// Blocks per KV head: its query heads in groups of kSplitHeads.
TCOBENCH_HD int HeadGroups(const AttentionLaunch& a) {
  const int per_kv = a.n_head / a.n_head_kv;
  return (per_kv + kSplitHeads - 1) / kSplitHeads;
}

// The query heads of block row `y` (a KV head and one group of its query
// heads): the first, and how many.
struct SplitHeads {
  int kvh = 0, h0 = 0, nh = 0;
};
TCOBENCH_HD SplitHeads HeadsOf(const AttentionLaunch& a, int y) {
  const int per_kv = a.n_head / a.n_head_kv, groups = HeadGroups(a);
  SplitHeads s;
  s.kvh = y / groups;
  const int g = y % groups;
  s.h0 = s.kvh * per_kv + g * kSplitHeads;
  s.nh = per_kv - g * kSplitHeads < kSplitHeads ? per_kv - g * kSplitHeads : kSplitHeads;
  return s;
}

// Where a split's results go in the scratch (AttentionLaunch::split): for
// each token, query head and split, {max, sum} (float2), then its head_dim
// weighted values.
TCOBENCH_HD int64_t SplitSlot(const AttentionLaunch& a, int t, int h, int split) {
  return (static_cast<int64_t>(t) * a.n_head + h) * a.n_splits + split;
}
TCOBENCH_HD float2* SplitStats(const AttentionLaunch& a) { return reinterpret_cast<float2*>(a.split); }
TCOBENCH_HD float* SplitValuesOut(const AttentionLaunch& a) {
  return a.split + 2 * static_cast<int64_t>(a.n_tokens) * a.n_head * a.n_splits;
}

// Thread i's position of split `split` (token t, heads `hs`): its scaled
// scores against the block's query heads (qs: nh rows of head_dim, in
// shared memory) into s. False when the position is past the range.
TCOBENCH_HD bool SplitScores(const AttentionLaunch& a, int t, const SplitHeads& hs, int split, int i,
                             const float* qs, float (&s)[kSplitHeads]) {
  const SplitRange r = VisibleRange(a, t);
  const int j = r.j0 + split * kSplitChunk + i;
  if (j >= r.n_vis) return false;
  const int hd = a.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(a.n_head_kv) * hd;
  const float* k = a.k_cache + a.seq[t] * a.seq_stride + j * kv_dim + hs.kvh * hd;
TCOBENCH_UNROLL
  for (int h = 0; h < kSplitHeads; ++h) s[h] = 0.0f;
  for (int d = 0; d < hd; d += 4) {
    const float4 k4 = LoadFloat4(k + d);
TCOBENCH_UNROLL
    for (int h = 0; h < kSplitHeads; ++h) {
      if (h < hs.nh) {
        const float4 q4 = LoadAs<float4>(qs + h * hd + d);
        s[h] += q4.x * k4.x + q4.y * k4.y + q4.z * k4.z + q4.w * k4.w;
      }
    }
  }
TCOBENCH_UNROLL
  for (int h = 0; h < kSplitHeads; ++h) s[h] *= a.scale;
  return true;
}

// Dimension d's weighted values over split `split`: acc[h] = the sum over
// its positions i of p[h * kSplitChunk + i] * v(i)[d] (p: the block's
// exponentials, in shared memory).
TCOBENCH_HD void SplitValues(const AttentionLaunch& a, int t, const SplitHeads& hs, int split, int d,
                             const float* p, float (&acc)[kSplitHeads]) {
  const SplitRange r = VisibleRange(a, t);
  const int first = r.j0 + split * kSplitChunk;
  const int count = r.n_vis - first < kSplitChunk ? r.n_vis - first : kSplitChunk;
  const int64_t kv_dim = static_cast<int64_t>(a.n_head_kv) * a.head_dim;
  const float* v = a.v_cache + a.seq[t] * a.seq_stride + first * kv_dim + hs.kvh * a.head_dim + d;
TCOBENCH_UNROLL
  for (int h = 0; h < kSplitHeads; ++h) acc[h] = 0.0f;
  for (int i = 0; i < count; ++i) {
    const float vi = v[i * kv_dim];
TCOBENCH_UNROLL
    for (int h = 0; h < kSplitHeads; ++h) acc[h] += p[h * kSplitChunk + i] * vi;
  }
}

// Output dimension d of token t, head h: the splits' values, each rescaled
// from its own max to the largest, over the rescaled sums.
TCOBENCH_HD float CombineSplits(const AttentionLaunch& a, int t, int h, int d) {
  const int n = ActiveSplits(VisibleRange(a, t));
  const float2* stats = SplitStats(a) + SplitSlot(a, t, h, 0);
  const float* values = SplitValuesOut(a) + SplitSlot(a, t, h, 0) * a.head_dim + d;
  float top = -INFINITY;
  for (int s = 0; s < n; ++s) top = fmaxf(top, stats[s].x);
  float sum = 0.0f, out = 0.0f;
  for (int s = 0; s < n; ++s) {
    const float w = expf(stats[s].x - top);
    sum += w * stats[s].y;
    out += w * values[static_cast<int64_t>(s) * a.head_dim];
  }
  return out / sum;
}

}  // namespace tcobench::cuda
