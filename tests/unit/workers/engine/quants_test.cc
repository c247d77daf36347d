#define BOOST_TEST_MODULE quants
#include "workers/engine/quants.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "tests/golden_facts.h"
#include "tests/test_support.h"
#include "workers/engine/fp16.h"
#include "workers/engine/gguf.h"
#include "workers/engine/repack.h"

namespace tcobench::testing {
namespace {

const TensorType kWeightTypes[] = {
    TensorType::kF32,  TensorType::kF16,  TensorType::kBF16, TensorType::kQ8_0, TensorType::kQ4_0,
    TensorType::kQ4_1, TensorType::kQ5_0, TensorType::kQ5_1, TensorType::kQ2_K, TensorType::kQ3_K,
    TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K};

BOOST_AUTO_TEST_CASE(geometry_matches_block_structs) {
  struct Want {
    TensorType t;
    int64_t block, bytes;
  };
  const Want wants[] = {
      {TensorType::kQ4_0, 32, sizeof(BlockQ4_0)},  {TensorType::kQ4_1, 32, sizeof(BlockQ4_1)},
      {TensorType::kQ5_0, 32, sizeof(BlockQ5_0)},  {TensorType::kQ5_1, 32, sizeof(BlockQ5_1)},
      {TensorType::kQ8_0, 32, sizeof(BlockQ8_0)},  {TensorType::kQ8_1, 32, sizeof(BlockQ8_1)},
      {TensorType::kQ2_K, 256, sizeof(BlockQ2_K)}, {TensorType::kQ3_K, 256, sizeof(BlockQ3_K)},
      {TensorType::kQ4_K, 256, sizeof(BlockQ4_K)}, {TensorType::kQ5_K, 256, sizeof(BlockQ5_K)},
      {TensorType::kQ6_K, 256, sizeof(BlockQ6_K)}, {TensorType::kQ8_K, 256, sizeof(BlockQ8_K)}};
  for (const Want& w : wants) {
    BOOST_TEST(Geometry(w.t).block_size == w.block);
    BOOST_TEST(Geometry(w.t).type_size == w.bytes);
  }
  for (TensorType t : kWeightTypes) {
    const TypeOps* ops = GetReferenceOps(t);
    BOOST_REQUIRE(ops != nullptr);
    BOOST_TEST((ops->vec_dot != nullptr && ops->to_float != nullptr));
    BOOST_TEST(GetReferenceOps(ops->vec_dot_type)->from_float != nullptr);
  }
}

BOOST_AUTO_TEST_CASE(fp16_and_bf16_conversions) {
  BOOST_TEST(Fp16ToFp32(0x3C00) == 1.0f);
  BOOST_TEST(Fp16ToFp32(0xC000) == -2.0f);
  BOOST_TEST(Fp16ToFp32(0x0001) == 0x1.0p-24f);  // smallest subnormal
  BOOST_TEST(std::isinf(Fp16ToFp32(0x7C00)));
  BOOST_TEST(Fp32ToFp16(1.0f) == 0x3C00);
  BOOST_TEST(Fp32ToFp16(65520.0f) == 0x7C00);           // rounds up to inf
  BOOST_TEST(Fp32ToFp16(1.0f + 0x1.0p-11f) == 0x3C00);  // tie to even
  BOOST_TEST(Fp32ToFp16(1.0f + 0x1.8p-11f) == 0x3C01);
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = Fp16ToFp32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) BOOST_REQUIRE(Fp32ToFp16(f) == h);
  }
  BOOST_TEST(Fp32ToBf16(1.0f) == 0x3F80);
  BOOST_TEST(Bf16ToFp32(0x3F80) == 1.0f);
  BOOST_TEST(Fp32ToBf16(FloatFromBits(0x3F808000u)) == 0x3F80);  // tie to even
  BOOST_TEST(Fp32ToBf16(FloatFromBits(0x3F818000u)) == 0x3F82);
}

// Random weight rows with finite, realistic scales.
std::vector<uint8_t> RandomRow(TensorType t, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const TypeOps* ops = GetReferenceOps(t);
  std::vector<uint8_t> row(RowBytes(t, n));
  if (ops->from_float != nullptr) {
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng) * 0.02f;
    ops->from_float(x.data(), row.data(), n);
    return row;
  }
  for (uint8_t& b : row) b = static_cast<uint8_t>(rng());
  const int64_t bs = Geometry(t).type_size;
  auto set = [&](int64_t block, size_t offset, float v) {
    const uint16_t h = Fp32ToFp16(v);
    std::memcpy(row.data() + block * bs + offset, &h, 2);
  };
  std::uniform_real_distribution<float> scale(0.0005f, 0.003f);
  for (int64_t b = 0; b < n / Geometry(t).block_size; ++b) {
    switch (t) {
      case TensorType::kQ4_0:
        set(b, offsetof(BlockQ4_0, d), scale(rng));
        break;
      case TensorType::kQ5_0:
        set(b, offsetof(BlockQ5_0, d), scale(rng));
        break;
      case TensorType::kQ4_1:
        set(b, offsetof(BlockQ4_1, d), scale(rng));
        set(b, offsetof(BlockQ4_1, m), -scale(rng) * 8);
        break;
      case TensorType::kQ5_1:
        set(b, offsetof(BlockQ5_1, d), scale(rng));
        set(b, offsetof(BlockQ5_1, m), -scale(rng) * 16);
        break;
      case TensorType::kQ2_K:
        set(b, offsetof(BlockQ2_K, d), scale(rng));
        set(b, offsetof(BlockQ2_K, dmin), scale(rng));
        break;
      case TensorType::kQ3_K:
        set(b, offsetof(BlockQ3_K, d), scale(rng) / 8);
        break;
      case TensorType::kQ4_K:
        set(b, offsetof(BlockQ4_K, d), scale(rng) / 8);
        set(b, offsetof(BlockQ4_K, dmin), scale(rng) / 8);
        break;
      case TensorType::kQ5_K:
        set(b, offsetof(BlockQ5_K, d), scale(rng) / 8);
        set(b, offsetof(BlockQ5_K, dmin), scale(rng) / 8);
        break;
      case TensorType::kQ6_K:
        set(b, offsetof(BlockQ6_K, d), scale(rng) / 64);
        break;
      default:
        break;
    }
  }
  return row;
}

// vec_dot(w, quantize(x)) equals the double-precision dot of the dequantized
// weights with the dequantized activations, for every weight type.
BOOST_AUTO_TEST_CASE(vec_dot_agrees_with_dequantized_dot) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 1024;
  for (TensorType t : kWeightTypes) {
    const TypeOps* ops = GetReferenceOps(t);
    const TypeOps* act = GetReferenceOps(ops->vec_dot_type);
    for (int trial = 0; trial < 20; ++trial) {
      const std::vector<uint8_t> w = RandomRow(t, n, rng);
      std::vector<float> x(n), wf(n), xf(n);
      for (float& v : x) v = normal(rng);
      std::vector<uint8_t> xq(RowBytes(ops->vec_dot_type, n));
      act->from_float(x.data(), xq.data(), n);
      ops->to_float(w.data(), wf.data(), n);
      act->to_float(xq.data(), xf.data(), n);
      double want = 0, scale = 0;
      for (int64_t i = 0; i < n; ++i) {
        want += static_cast<double>(wf[i]) * xf[i];
        scale += std::fabs(static_cast<double>(wf[i]) * xf[i]);
      }
      const double got = ops->vec_dot(n, w.data(), xq.data());
      // Q8_1 carries d * sum(q) as fp16: its rounding adds up to 2^-11 of the
      // min term, which the dequantized values do not see.
      const double tol = ops->vec_dot_type == TensorType::kQ8_1 ? 2e-3 : 1e-5;
      BOOST_REQUIRE_MESSAGE(std::fabs(got - want) <= tol * scale + 1e-12,
                            TypeName(t) << ": vec_dot " << got << " vs dequantized " << want);
    }
  }
}

// Every ISA level above scalar against the scalar reference (the scalar
// level's table is the reference itself, so comparing it would compare the
// reference with itself), and every level, the reference included, against
// an independent truth: the double-precision dot of the dequantized values.
BOOST_AUTO_TEST_CASE(fast_kernels_agree_with_reference) {
  std::mt19937 rng(77);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (TensorType t : kWeightTypes) {  // the scalar level runs the reference kernels
    BOOST_REQUIRE(GetOpsFor(t, Isa::kScalar)->vec_dot == GetReferenceOps(t)->vec_dot);
    BOOST_REQUIRE(GetOpsFor(t, Isa::kScalar)->to_float == GetReferenceOps(t)->to_float);
  }
  int fast_levels = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectedIsa())) {
      BOOST_TEST_MESSAGE(
          "ISA " << IsaName(isa)
                 << " not available here: its kernels are not tested on this machine");
      continue;
    }
    const bool fast_level = isa != Isa::kScalar;
    fast_levels += fast_level ? 1 : 0;
    for (TensorType t : kWeightTypes) {
      const TypeOps* ref = GetReferenceOps(t);
      const TypeOps* fast = GetOpsFor(t, isa);
      BOOST_REQUIRE(fast != nullptr);
      const TypeOps* act_ref = GetReferenceOps(ref->vec_dot_type);
      const int64_t block = Geometry(t).block_size;
      for (int64_t n : {int64_t{256}, int64_t{512}, int64_t{2048}, int64_t{4096} + 256}) {
        // Odd tails for F32/F16/BF16, an odd block count for the 32-weight types.
        const int64_t len = block == 1 ? n + 13 : block == kQK ? n + kQK : n;
        for (int trial = 0; trial < 5; ++trial) {
          const std::vector<uint8_t> w = RandomRow(t, len, rng);
          std::vector<float> x(len);
          for (float& v : x) v = normal(rng);
          std::vector<uint8_t> xq(RowBytes(ref->vec_dot_type, len));
          act_ref->from_float(x.data(), xq.data(), len);
          std::vector<float> wf(len), xf(len);
          ref->to_float(w.data(), wf.data(), len);
          act_ref->to_float(xq.data(), xf.data(), len);
          double truth = 0, scale = 0;
          for (int64_t i = 0; i < len; ++i) {
            truth += double(wf[i]) * xf[i];
            scale += std::fabs(double(wf[i]) * xf[i]);
          }
          const double got = fast->vec_dot(len, w.data(), xq.data());
          // Q8_1 carries d * sum(q) as fp16 (see vec_dot_agrees_with_dequantized_dot).
          const double truth_tol = ref->vec_dot_type == TensorType::kQ8_1 ? 2e-3 : 1e-5;
          BOOST_REQUIRE_MESSAGE(std::fabs(got - truth) <= truth_tol * scale + 1e-12,
                                IsaName(isa) << " " << TypeName(t) << " n=" << len << ": " << got
                                             << " vs dequantized " << truth);
          if (!fast_level) continue;
          std::vector<uint8_t> xq_fast(xq.size());
          GetOpsFor(ref->vec_dot_type, isa)->from_float(x.data(), xq_fast.data(), len);
          BOOST_REQUIRE_MESSAGE(xq_fast == xq, IsaName(isa) << " " << TypeName(ref->vec_dot_type)
                                                            << ": from_float differs");
          std::vector<float> wf_fast(len);
          fast->to_float(w.data(), wf_fast.data(), len);
          BOOST_REQUIRE_MESSAGE(wf_fast == wf, IsaName(isa)
                                                   << " " << TypeName(t) << ": to_float differs");
          const double want = ref->vec_dot(len, w.data(), xq.data());
          BOOST_REQUIRE_MESSAGE(std::fabs(got - want) <= 1e-5 * scale + 1e-12,
                                IsaName(isa) << " " << TypeName(t) << " n=" << len << ": " << got
                                             << " vs reference " << want);
        }
      }
    }
  }
  if (fast_levels == 0) {
    BOOST_TEST_MESSAGE("this CPU has no level above scalar: only the reference was checked");
  }
}

// The prefill matrix product against a double-precision one, on shapes with
// row and token tails (rows not a multiple of the tile, tokens not of 16).
BOOST_AUTO_TEST_CASE(gemm_matches_naive_product) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int checked = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectedIsa())) continue;
    const GemmF32Fn gemm = GetGemmF32(isa);
    if (gemm == nullptr) continue;
    for (auto [n_rows, n_tok, k] : {std::tuple<int64_t, int64_t, int64_t>{48, 128, 1024},
                                    {13, 17, 520}, {5, 33, 64}, {1, 1, 8}, {7, 16, 1300}}) {
      std::vector<float> w(n_rows * k), a(n_tok * k), packed(PackedGemmSize(n_tok, k));
      for (float& v : w) v = normal(rng);
      for (float& v : a) v = normal(rng);
      PackGemmActivations(n_tok, k, a.data(), packed.data());
      const int64_t y_stride = n_rows + 3;
      std::vector<float> y(n_tok * y_stride, 42.0f);
      gemm(n_rows, n_tok, k, w.data(), packed.data(), y.data(), y_stride);
      for (int64_t t = 0; t < n_tok; ++t) {
        for (int64_t r = 0; r < n_rows; ++r) {
          double want = 0, scale = 0;
          for (int64_t i = 0; i < k; ++i) {
            want += double(w[r * k + i]) * a[t * k + i];
            scale += std::fabs(double(w[r * k + i]) * a[t * k + i]);
          }
          BOOST_REQUIRE_MESSAGE(std::fabs(y[t * y_stride + r] - want) <= 1e-5 * scale,
                                IsaName(isa) << " " << n_rows << "x" << n_tok << "x" << k
                                             << " at (" << t << "," << r << ")");
        }
        for (int64_t r = n_rows; r < y_stride; ++r) BOOST_REQUIRE(y[t * y_stride + r] == 42.0f);
      }
      ++checked;
    }
  }
  BOOST_TEST_MESSAGE(checked << " matrix products checked");
}

// Attention against a double-precision softmax: head sizes with and without
// a tail of eight, runs with and without a tail of eight, windows; one token
// with 1 or 11 query heads (a batch of eight and its tail), and 5
// consecutive tokens of a prefill (each seeing one position more) with 1 or
// 3 heads. Rows before every query's window hold NaN, so reading one shows.
// Each query's result equals what a call for it alone gives, bit for bit
// (the backend blocks tokens and splits groups by thread count). A NaN in a
// row a query sees comes out as NaN (a broken model must not look fine).
BOOST_AUTO_TEST_CASE(attention_matches_double_precision) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  int checked = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectedIsa())) continue;
    const AttentionFn attention = GetAttention(isa);
    for (int64_t head_dim : {48, 64, 128, 256, 20, 5}) {
      for (int64_t base : {1, 7, 8, 9, 70, 1030}) {
        for (int64_t window : {int64_t{0}, base / 2 + 1, int64_t{1}}) {
          const int64_t shape = checked % 4;
          const int64_t n_tok = shape < 2 ? 1 : 5;
          const int64_t n_head = std::array<int64_t, 4>{1, 11, 1, 3}[shape];
          std::vector<int64_t> first(n_tok), n(n_tok);
          for (int64_t t = 0; t < n_tok; ++t) {
            n[t] = base + t;
            first[t] = window > 0 ? std::max<int64_t>(0, n[t] - window) : 0;
          }
          const int64_t rows = n[n_tok - 1];
          const int64_t stride = 3 * head_dim + 4;  // other heads between a position's rows
          const int64_t q_stride = n_head * head_dim + 3;
          const float scale = 3.0f / std::sqrt(static_cast<float>(head_dim));  // peaked softmax
          std::vector<float> q(n_tok * q_stride), k(rows * stride), v(rows * stride);
          for (float& x : q) x = normal(rng);
          for (int64_t j = 0; j < rows; ++j) {
            for (int64_t d = 0; d < stride; ++d) {
              k[j * stride + d] = j < first[0] ? nan : normal(rng);
              v[j * stride + d] = j < first[0] ? nan : normal(rng);
            }
          }
          std::vector<float> scores(n_tok * n_head * rows + 1, 42.0f);
          std::vector<float> out(n_tok * q_stride + 1, 42.0f);
          attention(q.data(), q_stride, n_tok, n_head, first.data(), n.data(), k.data(), v.data(),
                    stride, head_dim, scale, scores.data(), rows, out.data());
          for (int64_t t = 0; t < n_tok; ++t) {
            for (int64_t h = 0; h < n_head; ++h) {
              const float* qi = q.data() + t * q_stride + h * head_dim;
              const float* oi = out.data() + t * q_stride + h * head_dim;
              std::vector<double> p(rows);
              double max = -INFINITY, sum = 0.0;
              for (int64_t j = first[t]; j < n[t]; ++j) {
                double dot = 0.0;
                for (int64_t d = 0; d < head_dim; ++d) dot += double(k[j * stride + d]) * qi[d];
                p[j] = dot * scale;
                max = std::max(max, p[j]);
              }
              for (int64_t j = first[t]; j < n[t]; ++j) sum += p[j] = std::exp(p[j] - max);
              for (int64_t d = 0; d < head_dim; ++d) {
                double want = 0.0, size = 0.0;
                for (int64_t j = first[t]; j < n[t]; ++j) {
                  want += p[j] / sum * v[j * stride + d];
                  size += p[j] / sum * std::fabs(v[j * stride + d]);
                }
                BOOST_REQUIRE_MESSAGE(std::fabs(oi[d] - want) <= 2e-5 * size + 1e-7,
                                      IsaName(isa) << " head_dim " << head_dim << " token " << t
                                                   << "/" << n_tok << " head " << h << "/" << n_head
                                                   << " positions " << first[t] << ".." << n[t]
                                                   << " at " << d << ": " << oi[d] << " against "
                                                   << want);
              }
              for (int64_t j = 0; j < first[t]; ++j) {
                BOOST_REQUIRE(scores[(t * n_head + h) * rows + j] == 42.0f);
              }
              std::vector<float> alone_scores(n[t]), alone(head_dim);
              attention(qi, 0, 1, 1, &first[t], &n[t], k.data(), v.data(), stride, head_dim, scale,
                        alone_scores.data(), n[t], alone.data());
              BOOST_REQUIRE_MESSAGE(std::memcmp(alone.data(), oi, sizeof(float) * head_dim) == 0,
                                    IsaName(isa) << " token " << t << " head " << h << " of "
                                                 << n_tok << "x" << n_head
                                                 << " differs from its own call");
            }
            for (int64_t d = n_head * head_dim; d < q_stride; ++d) {
              BOOST_REQUIRE(out[t * q_stride + d] == 42.0f);
            }
          }
          BOOST_REQUIRE(out[n_tok * q_stride] == 42.0f);
          BOOST_REQUIRE(scores[n_tok * n_head * rows] == 42.0f);
          for (int64_t t = 0; t < n_tok; ++t) k[(n[t] - 1) * stride + head_dim / 2] = nan;  // each one's last
          attention(q.data(), q_stride, n_tok, n_head, first.data(), n.data(), k.data(), v.data(),
                    stride, head_dim, scale, scores.data(), rows, out.data());
          for (int64_t t = 0; t < n_tok; ++t) {
            for (int64_t d = 0; d < n_head * head_dim; ++d) {
              BOOST_REQUIRE_MESSAGE(std::isnan(out[t * q_stride + d]),
                                    IsaName(isa) << " lost a NaN at token " << t << ", " << d);
            }
          }
          ++checked;
        }
      }
    }
  }
  BOOST_TEST_MESSAGE(checked << " attention calls checked");
}

// The batched dot products equal the single ones (the same arithmetic).
BOOST_AUTO_TEST_CASE(batched_dot_products_equal_single_ones) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 1024;
  int checked = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectedIsa())) continue;
    for (TensorType t : kWeightTypes) {
      const TypeOps* ops = GetOpsFor(t, isa);
      if (ops->vec_dot_n == nullptr) continue;
      const TypeOps* act = GetReferenceOps(ops->vec_dot_type);
      const std::vector<uint8_t> w = RandomRow(t, n, rng);
      const int64_t stride = RowBytes(ops->vec_dot_type, n);
      std::vector<uint8_t> acts(stride * kMaxVecDotN);
      std::vector<float> x(n);
      for (int k = 0; k < kMaxVecDotN; ++k) {
        for (float& v : x) v = normal(rng);
        act->from_float(x.data(), acts.data() + k * stride, n);
      }
      for (int n_act = 1; n_act <= kMaxVecDotN; ++n_act) {
        float out[kMaxVecDotN];
        ops->vec_dot_n(n, w.data(), acts.data(), stride, n_act, out);
        for (int k = 0; k < n_act; ++k) {
          const float single = ops->vec_dot(n, w.data(), acts.data() + k * stride);
          BOOST_REQUIRE_MESSAGE(std::fabs(out[k] - single) <= 1e-5f * (std::fabs(single) + 1.0f),
                                IsaName(isa) << " " << TypeName(t) << " n_act " << n_act << ": "
                                             << out[k] << " vs " << single);
        }
      }
      ++checked;
    }
  }
  BOOST_TEST_MESSAGE(checked << " batched kernels checked");
}

// The several-rows kernels equal one dot product per row.
BOOST_AUTO_TEST_CASE(row_group_dot_products_equal_single_ones) {
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 2048;
  int checked = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(DetectedIsa())) continue;
    for (TensorType t : kWeightTypes) {
      const TypeOps* ops = GetOpsFor(t, isa);
      if (ops->vec_dot_rows == nullptr) continue;
      const int64_t row_bytes = RowBytes(t, n);
      std::vector<uint8_t> w;
      for (int r = 0; r < kVecDotRows; ++r) {
        const std::vector<uint8_t> row = RandomRow(t, n, rng);
        w.insert(w.end(), row.begin(), row.end());
      }
      std::vector<float> x(n);
      for (float& v : x) v = normal(rng);
      std::vector<uint8_t> act(RowBytes(ops->vec_dot_type, n));
      GetReferenceOps(ops->vec_dot_type)->from_float(x.data(), act.data(), n);
      float out[kVecDotRows];
      ops->vec_dot_rows(n, w.data(), row_bytes, act.data(), out);
      for (int r = 0; r < kVecDotRows; ++r) {
        const float single = ops->vec_dot(n, w.data() + r * row_bytes, act.data());
        BOOST_REQUIRE_MESSAGE(std::fabs(out[r] - single) <= 1e-5f * (std::fabs(single) + 1.0f),
                              IsaName(isa) << " " << TypeName(t) << " row " << r << ": " << out[r]
                                           << " vs " << single);
      }
      ++checked;
    }
  }
  BOOST_TEST_MESSAGE(checked << " row-group kernels checked");
}

// Repacking rearranges a group's bytes: unpacking gives the rows back.
BOOST_AUTO_TEST_CASE(repacked_layouts_round_trip) {
  std::mt19937 rng(11);
  const int64_t n = 768;
  int checked = 0;
  for (TensorType t : kWeightTypes) {
    if (!HasRepackedLayout(t)) continue;
    const int64_t row_bytes = RowBytes(t, n);
    std::vector<uint8_t> rows;
    for (int r = 0; r < kRepackRows; ++r) {
      const std::vector<uint8_t> row = RandomRow(t, n, rng);
      rows.insert(rows.end(), row.begin(), row.end());
    }
    std::vector<uint8_t> group(rows.size()), back(rows.size());
    RepackGroup(t, n, rows.data(), group.data());
    UnpackGroup(t, n, group.data(), back.data());
    BOOST_TEST(back == rows, TypeName(t) << ": unpacked rows differ");
    std::vector<uint8_t> one(row_bytes);
    for (int r = 0; r < kRepackRows; ++r) {  // one row at a time (embedding lookups)
      UnpackRow(t, n, group.data(), r, one.data());
      BOOST_TEST(std::equal(one.begin(), one.end(), rows.begin() + r * row_bytes),
                 TypeName(t) << ": row " << r << " unpacked alone differs");
    }
    BOOST_TEST(group != rows, TypeName(t) << ": the layout moved nothing");
    BOOST_TEST(static_cast<int64_t>(group.size()) == kRepackRows * row_bytes);
    ++checked;
  }
  BOOST_TEST(checked == 6);
}

// The int8 and fp16 kernels on repacked groups give, bit for bit, what the
// scalar reference vec_dot gives for each row and token.
BOOST_AUTO_TEST_CASE(repacked_kernels_equal_reference_bit_for_bit) {
  if (DetectedIsa() < Isa::kAvx2) {
    BOOST_TEST_MESSAGE("skipped: this CPU has no AVX2, so no level has repacked kernels");
    return;
  }
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int checked = 0;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
  if (isa > DetectedIsa()) continue;
  if (isa == Isa::kAvx512 && !HasAvx512Vnni()) {
    BOOST_TEST_MESSAGE("avx512 repacked kernels skipped: no AVX-512 VNNI here (that level uses AVX2's)");
  }
  for (TensorType t : kWeightTypes) {
    const TypeOps* ops = GetOpsFor(t, isa);
    if (ops->gemm_repacked == nullptr) continue;
    const TypeOps* ref = GetReferenceOps(t);
    const TypeOps* act = GetReferenceOps(ops->vec_dot_type);
    // 11 and 24 legacy blocks (a partial run of 8), three k-quant super-blocks.
    for (int64_t n : {int64_t{352}, int64_t{768}}) {
      if (n % Geometry(t).block_size != 0) continue;
      const int64_t row_bytes = RowBytes(t, n);
      // Five groups: the fp16 decode kernel takes groups four at a time.
      constexpr int kGroups = 5, kRows = kGroups * kRepackRows;
      std::vector<uint8_t> rows;
      for (int r = 0; r < kRows; ++r) {
        const std::vector<uint8_t> row = RandomRow(t, n, rng);
        rows.insert(rows.end(), row.begin(), row.end());
      }
      std::vector<uint8_t> groups(rows.size());
      for (int g = 0; g < kGroups; ++g) {
        RepackGroup(t, n, rows.data() + g * kRepackRows * row_bytes,
                    groups.data() + g * kRepackRows * row_bytes);
      }
      for (int64_t n_tok : {1, 2, 3, 4, 5, 8, 13, 16, 21}) {
        const int64_t act_bytes = RowBytes(ops->vec_dot_type, n);
        const int64_t n_blocks = n / kQK;
        std::vector<uint8_t> acts(act_bytes * n_tok);
        std::vector<float> rounded(n * n_tok), d(n_blocks * n_tok), x(n);
        std::vector<int32_t> sums(n_blocks * n_tok);
        for (int64_t tok = 0; tok < n_tok; ++tok) {
          for (float& v : x) v = normal(rng);
          act->from_float(x.data(), acts.data() + tok * act_bytes, n);
          act->to_float(acts.data() + tok * act_bytes, rounded.data() + tok * n, n);
          if (ops->vec_dot_type == TensorType::kQ8_0) {
            Q8_0ActStats(acts.data() + tok * act_bytes, n_blocks, d.data() + tok * n_blocks,
                         sums.data() + tok * n_blocks);
          }
        }
        RepackedActs in;
        std::vector<float> packed(PackedGemmSize(n_tok, n));
        PackGemmActivations(n_tok, n, rounded.data(), packed.data());
        if (t == TensorType::kF16) {
          in.rows = reinterpret_cast<const uint8_t*>(rounded.data());
          in.row_bytes = n * static_cast<int64_t>(sizeof(float));
          in.packed = packed.data();
        } else {
          in = RepackedActs{acts.data(), act_bytes, d.data(), sums.data()};
        }
        const int64_t y_stride = kRows + 3;
        std::vector<float> y(y_stride * n_tok, 42.0f);
        std::vector<uint8_t> scratch(RepackedScratchBytes(n_tok) + 64);
        void* aligned = reinterpret_cast<void*>(
            (reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
        ops->gemm_repacked(n, groups.data(), kGroups, in, n_tok, y.data(), y_stride, aligned);
        for (int64_t tok = 0; tok < n_tok; ++tok) {
          for (int r = 0; r < kRows; ++r) {
            const float want = ref->vec_dot(n, rows.data() + r * row_bytes, acts.data() + tok * act_bytes);
            const float got = y[tok * y_stride + r];
            BOOST_REQUIRE_MESSAGE(std::memcmp(&want, &got, sizeof want) == 0,
                                  IsaName(isa) << " " << TypeName(t) << " n " << n << " n_tok " << n_tok << " token "
                                              << tok << " row " << r << ": " << got << " vs "
                                              << want);
          }
          for (int64_t r = kRows; r < y_stride; ++r) BOOST_REQUIRE(y[tok * y_stride + r] == 42.0f);
        }
        ++checked;
      }
    }
  }
  }
  BOOST_TEST_MESSAGE(checked << " repacked products checked");
  BOOST_TEST(checked > 0);
}

// Activation formats: dequantize(quantize(x)) is within half a step of x.
BOOST_AUTO_TEST_CASE(activation_formats_round_trip) {
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int64_t n = 512;
  for (TensorType t : {TensorType::kQ8_0, TensorType::kQ8_1, TensorType::kQ8_K, TensorType::kF16,
                       TensorType::kBF16}) {
    const TypeOps* ops = GetReferenceOps(t);
    std::vector<float> x(n), y(n);
    for (float& v : x) v = normal(rng);
    x[5] = 0.0f;
    std::vector<uint8_t> q(RowBytes(t, n));
    ops->from_float(x.data(), q.data(), n);
    ops->to_float(q.data(), y.data(), n);
    const int64_t block = std::max<int64_t>(Geometry(t).block_size, 1);
    for (int64_t b = 0; b < n; b += block) {
      float amax = 0;
      for (int64_t i = b; i < b + block; ++i) amax = std::max(amax, std::fabs(x[i]));
      for (int64_t i = b; i < b + block; ++i) {
        // Half a step, plus the fp16 rounding of the stored scale (up to 127 * 2^-11 steps).
        const float tol = block > 1 ? amax / 127.0f * 0.57f : std::fabs(x[i]) * 0x1.0p-7f;
        BOOST_REQUIRE_MESSAGE(std::fabs(x[i] - y[i]) <= tol + 1e-3f * amax / 127.0f,
                              TypeName(t) << " element " << i << ": " << x[i] << " -> " << y[i]);
      }
    }
    // An all-zero block stays zero.
    std::vector<float> zeros(n, 0.0f);
    ops->from_float(zeros.data(), q.data(), n);
    ops->to_float(q.data(), y.data(), n);
    for (float v : y) BOOST_REQUIRE(v == 0.0f);
  }
}

// The bit layouts, checked on the reference quantizer's own files: the
// dequantized ktiny weights must have exactly the RMSE against the F32
// original that shared/data/golden/QUANT.md reports for each tensor type.
BOOST_AUTO_TEST_CASE(dequantized_ktiny_matches_reference_rmse,
                     *boost::unit_test::precondition(NeedsShared())) {
  const auto& expected = ReferenceKtinyRmse();
  auto base = GgufFile::Open(SharedPath("models/synthetic/ktiny-F32.gguf"));
  BOOST_REQUIRE(base.ok());
  for (const auto& [file_type, per_type] : expected) {
    auto f = GgufFile::Open(SharedPath("models/synthetic/ktiny-" + file_type + ".gguf"));
    BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    std::map<std::string, double> rmse_of = RmsePerType(**f, **base);
    for (const auto& [type, want] : per_type) {
      BOOST_REQUIRE_MESSAGE(rmse_of.count(type), file_type << " has no " << type << " tensors");
      const double rmse = rmse_of[type];
      BOOST_TEST_MESSAGE("ktiny-" << file_type << " " << type << ": RMSE " << rmse << " (reference "
                                  << want << ")");
      BOOST_CHECK_MESSAGE(
          std::fabs(rmse - want) <= 1e-3 * want,
          "ktiny-" << file_type << " " << type << ": RMSE " << rmse << " vs reference " << want);
    }
  }
}

}  // namespace
}  // namespace tcobench::testing
