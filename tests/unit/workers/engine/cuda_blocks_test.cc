// The CUDA kernels' block readers (workers/engine/cuda/blocks.cuh) run on
// the host here, against the reference quants: every weight Dq4 decodes,
// the int8 activations, and the direct kernels' per-lane work (matvec.cuh:
// Unit<T> dot products) summed as a warp sums it. Built
// wherever the CUDA toolkit's headers are (with or without -DTCOBENCH_CUDA),
// it needs no GPU.
#define BOOST_TEST_MODULE cuda_blocks
#include "workers/engine/cuda/attention.cuh"
#include "workers/engine/cuda/blocks.cuh"
#include "workers/engine/cuda/matvec.cuh"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "tests/test_support.h"
#include "workers/engine/quants.h"
#include "workers/engine/rng.h"

namespace tcobench::testing {
namespace {

constexpr int64_t kIn = 1024;  // four super-blocks
constexpr int kRows = 3;

// `rows` rows of `n_in` random weights (a few outliers, as real rows have)
// in `type`, 16-byte aligned as the GPU holds them, and their reference
// floats.
struct Rows {
  std::vector<uint4> storage;
  const uint8_t* data = nullptr;
  int64_t row_bytes = 0;
  std::vector<float> ref;  // dequantized by the reference
};

Rows MakeRows(TensorType type, uint64_t seed, int rows = kRows, int64_t n_in = kIn) {
  const TypeOps* ops = GetReferenceOps(type);
  BOOST_REQUIRE(ops != nullptr && ops->quantize != nullptr);
  Rng rng(seed);
  std::vector<float> src(rows * n_in);
  for (float& v : src) v = static_cast<float>(rng.Normal() * (rng.Uniform() < 0.02 ? 4.0 : 1.0));
  Rows r;
  r.row_bytes = RowBytes(type, n_in);
  r.storage.resize((rows * r.row_bytes + 15) / 16 + 1);
  uint8_t* bytes = reinterpret_cast<uint8_t*>(r.storage.data());
  r.ref.resize(src.size());
  for (int i = 0; i < rows; ++i) {
    ops->quantize(src.data() + i * n_in, bytes + i * r.row_bytes, n_in);
    ops->to_float(bytes + i * r.row_bytes, r.ref.data() + i * n_in, n_in);
  }
  r.data = bytes;
  return r;
}

template <int T>
void CheckDq4(TensorType type) {
  const Rows rows = MakeRows(type, 11 + T);
  int mismatches = 0;
  for (int i = 0; i < kRows; ++i) {
    for (int64_t e = 0; e < kIn; e += 4) {
      float w[4];
      cuda::Dq4<T>::Four(rows.data + i * rows.row_bytes, e, w);
      for (int k = 0; k < 4; ++k) {
        if (w[k] != rows.ref[i * kIn + e + k] && ++mismatches <= 3) {
          BOOST_ERROR(TypeName(type) << " row " << i << " weight " << e + k << ": Dq4 " << w[k]
                                     << ", reference " << rows.ref[i * kIn + e + k]);
        }
      }
    }
  }
  BOOST_TEST(mismatches == 0, TypeName(type) << ": " << mismatches << " weights differ");
}

// f(std::integral_constant<int, T>(), T's TensorType) for every type the
// GPU reads (cuda::ForType, the kernels' own dispatch); how many there were.
template <typename F>
int ForGpuTypes(F&& f) {
  int n = 0;
  for (int id = 0; id <= cuda::kBF16; ++id) {
    n += cuda::ForType(id, [&](auto t) { f(t, static_cast<TensorType>(id)); }) ? 1 : 0;
  }
  return n;
}

BOOST_AUTO_TEST_CASE(dq4_decodes_every_weight_as_the_reference) {
  const int types = ForGpuTypes([](auto t, TensorType type) { CheckDq4<decltype(t)::value>(type); });
  BOOST_TEST(types == 11);
}

BOOST_AUTO_TEST_CASE(activations_quantize_per_32_within_half_a_step) {
  Rng rng(5);
  alignas(16) float x[32];
  alignas(16) int8_t q[32];
  for (int trial = 0; trial < 200; ++trial) {
    const double scale = trial == 0 ? 0.0 : std::exp(rng.Normal() * 3);
    for (float& v : x) v = static_cast<float>(rng.Normal() * scale);
    float2 ds;
    cuda::QuantizeBlock32(x, q, &ds);
    float amax = 0;
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      amax = std::max(amax, std::fabs(x[i]));
      sum += q[i];
      BOOST_REQUIRE(std::fabs(ds.x * q[i] - x[i]) <= ds.x * 0.5f * 1.0001f + 1e-30f);
    }
    BOOST_TEST(ds.x == amax / 127.0f);
    BOOST_TEST(ds.y == static_cast<float>(sum));
  }
}

// The direct kernels' work on the host: every thread's share of the
// activation quantization, every warp's rows, every lane's partial sums
// (added up as the warp's shuffles add them), then Finish. Three matrices in
// one launch with row counts that leave warps half full; a row long enough
// that lanes take several units and the last round is partial; fewer tokens
// than the kernel's width. With `norm`, an RMS norm fused in front: the
// input is normalized by each block (the token scales as the kernel's
// warps compute them, NormScale of the sum of squares), and block 0's
// threads write the norm's output.
template <int T, int NT, int MODE>
void CheckDirect(TensorType type, int n, bool norm = false) {
  using Warp = cuda::DirectWarp<T, NT, MODE>;
  constexpr int64_t kLong = 2560;  // ten super-blocks
  const bool swiglu = MODE == cuda::kSwiGluMode;
  const std::vector<int> n_out = swiglu ? std::vector<int>{7, 7} : std::vector<int>{5, 3, 4};
  std::vector<Rows> mats;
  for (size_t m = 0; m < n_out.size(); ++m) mats.push_back(MakeRows(type, 31 * T + m, n_out[m], kLong));
  Rng rng(3 + NT);
  std::vector<float4> x_store(n * kLong / 4);
  float* x = reinterpret_cast<float*>(x_store.data());  // the product's input
  for (int64_t i = 0; i < n * kLong; ++i) x[i] = static_cast<float>(rng.Normal());
  // With a norm: its input, weights and token scales; x becomes its output.
  std::vector<float4> raw_store(n * kLong / 4), weight_store(kLong / 4), y_store(n * kLong / 4);
  float* raw = reinterpret_cast<float*>(raw_store.data());
  float* weight = reinterpret_cast<float*>(weight_store.data());
  float scales[cuda::kMaxDirectTokens] = {};
  constexpr float kEps = 1e-5f;
  if (norm) {
    for (int64_t e = 0; e < kLong; ++e) weight[e] = static_cast<float>(1.0 + 0.3 * rng.Normal());
    for (int t = 0; t < n; ++t) {
      const double spread = 0.05 * (t + 1);  // tokens of different sizes
      float sum_sq = 0.0f;
      for (int64_t e = 0; e < kLong; ++e) {
        raw[t * kLong + e] = static_cast<float>(rng.Normal() * spread);
        sum_sq += raw[t * kLong + e] * raw[t * kLong + e];
      }
      scales[t] = cuda::NormScale(sum_sq, kLong, kEps);
      BOOST_REQUIRE(std::fabs(scales[t] - 1.0 / std::sqrt(sum_sq / kLong + kEps)) <= 1e-6 * scales[t]);
      for (int64_t e = 0; e < kLong; ++e) x[t * kLong + e] = (raw[t * kLong + e] * scales[t]) * weight[e];
    }
  }

  cuda::MatVecParams p{};
  for (size_t m = 0; m < mats.size(); ++m) p.w[m] = mats[m].data;
  p.n_mats = swiglu ? 1 : static_cast<int>(mats.size());
  for (int m = 0; m < p.n_mats; ++m) p.n_out[m] = n_out[m];
  p.n_in = kLong;
  p.row_bytes = mats[0].row_bytes;
  p.n = n;
  p.xvec = true;
  float* y_out = reinterpret_cast<float*>(y_store.data());  // block 0's copy of the norm's output
  if (norm) {
    p.norm_x = raw;
    p.norm_w = weight;
    p.norm_y = y_out;
    p.norm_eps = kEps;
    p.x = y_out;
  } else {
    p.x = x;
  }
  // The block's shared memory, as the launch sizes it.
  std::vector<float4> smem(cuda::DirectSharedBytes(T, n, kLong, norm) / 16 + 1);
  int8_t* qx = reinterpret_cast<int8_t*>(smem.data());
  float2* ds = reinterpret_cast<float2*>(qx + n * kLong);
  cuda::DirectInputs in;
  in.xf = x;
  const int threads = cuda::DirectThreads<NT, MODE>();
  if (Warp::kQuant) {
    for (int tid = 0; tid < threads; ++tid) cuda::DirectQuantize(p, tid, threads, scales, y_out, qx, ds);
    in.qx = qx;
    in.ds = ds;
  } else if (norm) {
    float* xs = reinterpret_cast<float*>(smem.data());
    for (int tid = 0; tid < threads; ++tid) cuda::DirectNormFloats(p, tid, threads, scales, y_out, xs);
    BOOST_TEST(std::memcmp(xs, x, sizeof(float) * n * kLong) == 0, "normalized activations in shared memory");
    in.xf = xs;
    in.xf_shared = true;
  }
  if (norm) {  // bit for bit what the unfused norm writes
    BOOST_TEST(std::memcmp(y_out, x, sizeof(float) * n * kLong) == 0, TypeName(type) << ": the norm's output");
  }
  // What a token's activation e is multiplied with.
  auto act = [&](int t, int64_t e) {
    return Warp::kQuant ? static_cast<double>(ds[t * (kLong / 32) + e / 32].x) * qx[t * kLong + e]
                        : static_cast<double>(x[t * kLong + e]);
  };
  auto dot = [&](const Rows& m, int64_t row, int t, double* magnitude) {
    double sum = 0.0;
    *magnitude = 0.0;
    for (int64_t e = 0; e < kLong; ++e) {
      sum += m.ref[row * kLong + e] * act(t, e);
      *magnitude += std::fabs(m.ref[row * kLong + e] * act(t, e));
    }
    return sum;
  };
  int64_t total = 0;
  for (int m = 0; m < p.n_mats; ++m) total += p.n_out[m];
  int64_t checked = 0;
  for (int64_t first = 0; first < total + Warp::R; first += Warp::R) {
    const Warp w(p, first);
    if (!w.active()) {
      BOOST_REQUIRE_MESSAGE(first >= total, "warp at row " << first << " of " << total << " idle");
      continue;
    }
    float acc[Warp::RR][NT];
    cuda::Zero(acc);
    for (int lane = 0; lane < 32; ++lane) w.LaneSums(p, lane, in, acc);
    float out[Warp::R][NT];
    Warp::Finish(acc, out);
    for (int r = 0; r < Warp::R; ++r) {
      if (w.refs[r].row == nullptr) continue;
      int m = 0;
      while (w.refs[r].row < mats[m].data || w.refs[r].row >= mats[m].data + n_out[m] * p.row_bytes) ++m;
      const int64_t row = w.refs[r].idx;
      BOOST_REQUIRE(w.refs[r].row == mats[m].data + row * p.row_bytes);
      ++checked;
      for (int t = 0; t < NT; ++t) {
        if (t >= n) {
          BOOST_TEST(out[r][t] == 0.0f);  // no token there: nothing added
          continue;
        }
        double mag_g = 0.0, mag_u = 0.0;
        const double g = dot(mats[m], row, t, &mag_g);
        if (!swiglu) {
          BOOST_TEST(std::fabs(out[r][t] - g) <= 1e-5 * mag_g,
                     TypeName(type) << " NT " << NT << " n " << n << " matrix " << m << " row " << row
                                    << " token " << t << ": " << out[r][t] << ", want " << g);
          // And close to the float product (int8 activations lose ~0.4% per value).
          double exact = 0.0;
          for (int64_t e = 0; e < kLong; ++e) exact += mats[m].ref[row * kLong + e] * x[t * kLong + e];
          BOOST_TEST(std::fabs(out[r][t] - exact) <= 0.02 * mag_g,
                     TypeName(type) << " row " << row << ": " << out[r][t] << " vs float product " << exact);
          continue;
        }
        const double u = dot(mats[1], row, t, &mag_u);
        const double silu = g / (1.0 + std::exp(-g));
        const double want = silu * u;
        const double tol = 1.2 * std::fabs(u) * 1e-5 * mag_g + std::fabs(silu) * 1e-5 * mag_u + 1e-6;
        BOOST_TEST(std::fabs(out[r][t] - want) <= tol,
                   TypeName(type) << " SwiGLU NT " << NT << " n " << n << " row " << row << " token "
                                  << t << ": " << out[r][t] << ", want " << want);
      }
    }
  }
  BOOST_TEST(checked == total, TypeName(type) << ": " << checked << " of " << total << " rows computed");
}

template <int T>
void CheckDirectType(TensorType type) {
  CheckDirect<T, 1, cuda::kStoreMode>(type, 1);
  CheckDirect<T, 2, cuda::kStoreMode>(type, 2);
  CheckDirect<T, 4, cuda::kStoreMode>(type, 3);
  CheckDirect<T, 8, cuda::kStoreMode>(type, 8);
  CheckDirect<T, 1, cuda::kSwiGluMode>(type, 1);
  CheckDirect<T, 4, cuda::kSwiGluMode>(type, 4);
  CheckDirect<T, 8, cuda::kSwiGluMode>(type, 5);
  CheckDirect<T, 1, cuda::kStoreMode>(type, 1, /*norm=*/true);
  CheckDirect<T, 8, cuda::kStoreMode>(type, 6, /*norm=*/true);
  CheckDirect<T, 1, cuda::kSwiGluMode>(type, 1, /*norm=*/true);
  CheckDirect<T, 4, cuda::kSwiGluMode>(type, 3, /*norm=*/true);
}

BOOST_AUTO_TEST_CASE(direct_kernels_lane_by_lane) {
  int direct = 0;
  ForGpuTypes([&](auto t, TensorType type) {
    if constexpr (cuda::DirectType(decltype(t)::value)) {
      CheckDirectType<decltype(t)::value>(type);
      ++direct;
    }
  });
  BOOST_TEST(direct == 10);  // all but F32
}

// Split attention on the host: every block of SplitAttentionKernel (its
// threads' scores, the split's max and exponentials as its reductions take
// them, every dimension's weighted values), then SplitCombineKernel, against
// softmax attention in double. Grouped-query heads in two groups per KV head
// (10 query heads per KV head: 8, then 2), a head size that is no multiple of
// 32, two sequences, positions at a split's edge, with and without a window.
void CheckSplitAttention(int window) {
  constexpr int kNHeadKv = 2, kNHead = 20, kHd = 12, kCtx = 200, kSeqs = 2;
  const std::vector<int> seqs = {0, 1, 1, 0}, positions = {0, 127, 199, 64};
  const int n = static_cast<int>(seqs.size());
  const int64_t kv_dim = kNHeadKv * kHd;
  const int64_t seq_stride = 3 * kCtx * kv_dim;  // as if three layers
  Rng rng(17 + window);
  std::vector<float4> k_store(kSeqs * seq_stride / 4), v_store(kSeqs * seq_stride / 4), q_store(n * kNHead * kHd / 4);
  auto fill = [&](std::vector<float4>& v, double scale) {
    for (float4& f : v) {
      f = make_float4(static_cast<float>(rng.Normal() * scale), static_cast<float>(rng.Normal() * scale),
                      static_cast<float>(rng.Normal() * scale), static_cast<float>(rng.Normal() * scale));
    }
  };
  fill(k_store, 1.0);
  fill(v_store, 1.0);
  fill(q_store, 2.0);
  const float* k_cache = reinterpret_cast<const float*>(k_store.data()) + kCtx * kv_dim;  // layer 1
  const float* v_cache = reinterpret_cast<const float*>(v_store.data()) + kCtx * kv_dim;
  const float* q = reinterpret_cast<const float*>(q_store.data());
  std::vector<int32_t> seq_dev(seqs.begin(), seqs.end()), pos_dev(positions.begin(), positions.end());

  cuda::AttentionLaunch a;
  a.q = q;
  a.k_cache = k_cache;
  a.v_cache = v_cache;
  a.seq = seq_dev.data();
  a.pos = pos_dev.data();
  a.n_tokens = n;
  a.n_head = kNHead;
  a.n_head_kv = kNHeadKv;
  a.head_dim = kHd;
  a.seq_stride = seq_stride;
  a.n_ctx = kCtx;
  a.scale = 1.0f / std::sqrt(static_cast<float>(kHd));
  a.window = window;
  a.n_splits = cuda::SplitCount(kCtx);
  std::vector<float> scratch(cuda::SplitScratchBytes(n, kNHead, kHd, kCtx) / 4,
                             std::numeric_limits<float>::quiet_NaN());  // poisoned
  a.split = scratch.data();
  std::vector<float> out(n * kNHead * kHd, std::numeric_limits<float>::quiet_NaN());
  a.out = out.data();
  BOOST_REQUIRE(cuda::HeadGroups(a) == 2);

  int blocks = 0;
  for (int t = 0; t < n; ++t) {
    for (int y = 0; y < kNHeadKv * cuda::HeadGroups(a); ++y) {
      for (int split = 0; split < a.n_splits; ++split) {
        if (split >= cuda::ActiveSplits(cuda::VisibleRange(a, t))) continue;  // the block returns
        ++blocks;
        const cuda::SplitHeads hs = cuda::HeadsOf(a, y);
        std::vector<float4> smem_store(cuda::kSplitHeads * (kHd + cuda::kSplitChunk) / 4);
        float* qs = reinterpret_cast<float*>(smem_store.data());
        float* p = qs + cuda::kSplitHeads * kHd;
        for (int i = 0; i < hs.nh * kHd; ++i) qs[i] = q[(t * kNHead + hs.h0) * kHd + i];
        float sc[cuda::kSplitThreads][cuda::kSplitHeads];
        bool valid[cuda::kSplitThreads];
        float m[cuda::kSplitHeads], l[cuda::kSplitHeads];
        std::fill(m, m + cuda::kSplitHeads, -INFINITY);
        std::fill(l, l + cuda::kSplitHeads, 0.0f);
        for (int i = 0; i < cuda::kSplitThreads; ++i) {
          valid[i] = cuda::SplitScores(a, t, hs, split, i, qs, sc[i]);
          for (int h = 0; h < cuda::kSplitHeads; ++h) m[h] = std::max(m[h], valid[i] ? sc[i][h] : -INFINITY);
        }
        for (int i = 0; i < cuda::kSplitThreads; ++i) {
          for (int h = 0; h < cuda::kSplitHeads; ++h) {
            p[h * cuda::kSplitChunk + i] = valid[i] ? std::exp(sc[i][h] - m[h]) : 0.0f;
            l[h] += p[h * cuda::kSplitChunk + i];
          }
        }
        for (int h = 0; h < hs.nh; ++h) {
          cuda::SplitStats(a)[cuda::SplitSlot(a, t, hs.h0 + h, split)] = make_float2(m[h], l[h]);
        }
        for (int d = 0; d < kHd; ++d) {
          float acc[cuda::kSplitHeads];
          cuda::SplitValues(a, t, hs, split, d, p, acc);
          for (int h = 0; h < hs.nh; ++h) {
            cuda::SplitValuesOut(a)[cuda::SplitSlot(a, t, hs.h0 + h, split) * kHd + d] = acc[h];
          }
        }
      }
    }
  }
  for (int t = 0; t < n; ++t) {
    for (int h = 0; h < kNHead; ++h) {
      for (int d = 0; d < kHd; ++d) out[(t * kNHead + h) * kHd + d] = cuda::CombineSplits(a, t, h, d);
    }
  }
  // The reference: softmax over the visible positions, in double.
  int64_t wrong = 0;
  for (int t = 0; t < n; ++t) {
    const int n_vis = positions[t] + 1;
    const int j0 = window > 0 ? std::max(0, n_vis - window) : 0;
    for (int h = 0; h < kNHead; ++h) {
      const int kvh = h / (kNHead / kNHeadKv);
      std::vector<double> w(n_vis, 0.0);
      double top = -1e300, sum = 0.0;
      for (int j = j0; j < n_vis; ++j) {
        double dot = 0.0;
        for (int d = 0; d < kHd; ++d) {
          dot += static_cast<double>(q[(t * kNHead + h) * kHd + d]) *
                 k_cache[seqs[t] * seq_stride + j * kv_dim + kvh * kHd + d];
        }
        w[j] = dot * a.scale;
        top = std::max(top, w[j]);
      }
      for (int j = j0; j < n_vis; ++j) sum += (w[j] = std::exp(w[j] - top));
      for (int d = 0; d < kHd; ++d) {
        double want = 0.0;
        for (int j = j0; j < n_vis; ++j) want += w[j] / sum * v_cache[seqs[t] * seq_stride + j * kv_dim + kvh * kHd + d];
        const float got = out[(t * kNHead + h) * kHd + d];
        if (!(std::fabs(got - want) <= 1e-5) && ++wrong <= 5) {
          BOOST_ERROR("window " << window << " token " << t << " head " << h << " dim " << d << ": " << got
                                << ", want " << want);
        }
      }
    }
  }
  BOOST_TEST(wrong == 0, "window " << window << ": " << wrong << " outputs differ");
  // Blocks that ran: the splits of each token's visible range, per KV head and group.
  int want_blocks = 0;
  for (int t = 0; t < n; ++t) {
    const int n_vis = positions[t] + 1;
    const int span = window > 0 ? std::min(n_vis, window) : n_vis;
    want_blocks += (span + cuda::kSplitChunk - 1) / cuda::kSplitChunk * kNHeadKv * 2;
  }
  BOOST_TEST(blocks == want_blocks);
}

BOOST_AUTO_TEST_CASE(split_attention_matches_softmax_attention) {
  CheckSplitAttention(0);
  CheckSplitAttention(70);
}

}  // namespace
}  // namespace tcobench::testing
