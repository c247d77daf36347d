// AVX2 kernels for repacked weights (repack.h), for CPUs without AVX-512
// VNNI (F16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K). A 16-row group is taken as two
// halves of 8 rows (ymm lanes): half h reads bytes 32h..32h+31 of each
// 64-byte quad chunk, fp16 scales 8h..8h+7 and byte 8h.. of each scale plane. Integer products use vpmaddubsw +
// vpmaddwd (no saturation: the unsigned operand is at most 63, or for Q8_0
// the weight's magnitude with the sign moved onto the activation), so the
// sums are exact, and each lane runs the reference's float steps in its
// order (compiled without contraction): results are bit-equal to the
// scalar vec_dot, like the AVX-512 kernels'.
#include <immintrin.h>

#include <cstring>

#include "workers/engine/quants.h"
#include "workers/engine/repack.h"
#include "workers/engine/token_runs.h"

namespace tcobench {
namespace internal {
namespace {

constexpr int R = kRepackRows;

inline __m256i Bcast32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}
inline __m256 LoadHalves(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256i Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
// 8 bytes (one per row of the half) widened to int32 lanes.
inline __m256i LoadU8x8(const uint8_t* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
inline __m256i LoadI8x8(const uint8_t* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
// acc += sum of 4 products of unsigned weight bytes (<= 63) and signed bytes.
inline __m256i Dot4(__m256i acc, __m256i w, __m256i a) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1)));
}


// A group at a time, as two halves: one token takes both in one pass, more
// tokens a half at a time in runs of kRun. k.template operator()<NT, NH>(
// group, first half, first token, the group's outputs).
template <int kRun, typename K>
void OverHalves(const uint8_t* groups, int64_t n_groups, int64_t group_bytes, int64_t n_tok, float* y,
                const K& k) {
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint8_t* group = groups + g * group_bytes;
    if (n_tok == 1) {
      k.template operator()<1, 2>(group, 0, 0, y + g * R);
      continue;
    }
    for (int h = 0; h < 2; ++h) {
      ForTokenRuns<kRun>(n_tok, [&]<int NT>(int64_t t0) { k.template operator()<NT, 1>(group, h, t0, y + g * R); });
    }
  }
}

// ---------------------------------------------------------- Q8_0 and Q4_0

// Halves h0 .. h0 + NH - 1 of a group against NT tokens. One token takes
// both halves in one pass (each line read once, two chains); more tokens
// take a half at a time (registers).
// Q5_0: bits 0..3 of each lane moved to bit 4 of the lane's four bytes.
inline __m256i FifthBits(__m256i bits) {
  const __m256i x = _mm256_and_si256(bits, _mm256_set1_epi32(0x0F));
  return _mm256_slli_epi32(_mm256_and_si256(_mm256_mullo_epi32(x, _mm256_set1_epi32(0x00204081)),
                                            _mm256_set1_epi32(0x01010101)),
                           4);
}

// kBits: 8 (Q8_0), 4 (Q4_0) or 5 (Q5_0).
template <int kBits, int NT, int NH>
void LegacyHalves(const uint8_t* group, int64_t n_blocks, int h0, const RepackedActs& acts, int64_t t0,
                  float* y, int64_t y_stride) {
  constexpr bool kQ4 = kBits != 8, kFive = kBits == 5;
  constexpr int64_t kBlockBytes =
      R * (kBits == 8 ? sizeof(BlockQ8_0) : kFive ? sizeof(BlockQ5_0) : sizeof(BlockQ4_0));
  constexpr int kOffset = kFive ? 16 : 8;
  constexpr int64_t kQuants = kFive ? 96 : 32;
  const __m256i low = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 sum[NH][NT];
  const uint8_t* a[NT];
  for (int t = 0; t < NT; ++t) {
    for (int x = 0; x < NH; ++x) sum[x][t] = _mm256_setzero_ps();
    a[t] = acts.rows + (t0 + t) * acts.row_bytes + offsetof(BlockQ8_0, qs);
  }
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* blk = group + b * kBlockBytes;
    const int64_t ab = b * static_cast<int64_t>(sizeof(BlockQ8_0));
    __m256 dw[NH];
    __m256i acc[NH][NT];
    for (int x = 0; x < NH; ++x) {
      dw[x] = LoadHalves(blk + 16 * (h0 + x));
      for (int t = 0; t < NT; ++t) acc[x][t] = _mm256_setzero_si256();
    }
    if constexpr (kQ4) {
      for (int g = 0; g < 4; ++g) {
        for (int x = 0; x < NH; ++x) {
          const __m256i v = Load(blk + kQuants + 64 * g + 32 * (h0 + x));
          __m256i wl = _mm256_and_si256(v, low);
          __m256i wh = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
          if constexpr (kFive) {
            const __m256i qh = Load(blk + 32 + 32 * (h0 + x));
            wl = _mm256_or_si256(wl, FifthBits(_mm256_srli_epi32(qh, 4 * g)));
            wh = _mm256_or_si256(wh, FifthBits(_mm256_srli_epi32(qh, 16 + 4 * g)));
          }
          for (int t = 0; t < NT; ++t) {
            acc[x][t] = Dot4(acc[x][t], wl, Bcast32(a[t] + ab + 4 * g));
            acc[x][t] = Dot4(acc[x][t], wh, Bcast32(a[t] + ab + 16 + 4 * g));
          }
        }
      }
    } else {
      for (int q = 0; q < 8; ++q) {
        for (int x = 0; x < NH; ++x) {
          const __m256i w = _mm256_xor_si256(Load(blk + 32 + 64 * q + 32 * (h0 + x)), flip);  // signed
          const __m256i mag = _mm256_abs_epi8(w);
          for (int t = 0; t < NT; ++t) {
            const __m256i signed_a = _mm256_sign_epi8(Bcast32(a[t] + ab + 4 * q), w);
            acc[x][t] = _mm256_add_epi32(
                acc[x][t], _mm256_madd_epi16(_mm256_maddubs_epi16(mag, signed_a), _mm256_set1_epi16(1)));
          }
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      const int64_t at = (t0 + t) * n_blocks + b;
      for (int x = 0; x < NH; ++x) {
        const __m256i isum =
            kQ4 ? _mm256_sub_epi32(acc[x][t], _mm256_set1_epi32(kOffset * acts.sums[at])) : acc[x][t];
        const __m256 dd = _mm256_mul_ps(dw[x], _mm256_set1_ps(acts.d[at]));
        sum[x][t] = _mm256_add_ps(sum[x][t], _mm256_mul_ps(_mm256_cvtepi32_ps(isum), dd));
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    for (int x = 0; x < NH; ++x) _mm256_storeu_ps(y + (t0 + t) * y_stride + 8 * (h0 + x), sum[x][t]);
  }
}

template <int kBits>
void GemmLegacy(int64_t n_in, const uint8_t* groups, int64_t n_groups, const RepackedActs& acts,
                int64_t n_tok, float* y, int64_t y_stride, void*) {
  const int64_t n_blocks = n_in / kQK;
  const int64_t group_bytes =
      R * n_blocks * (kBits == 8 ? sizeof(BlockQ8_0) : kBits == 5 ? sizeof(BlockQ5_0) : sizeof(BlockQ4_0));
  OverHalves<4>(groups, n_groups, group_bytes, n_tok, y,
                [&]<int NT, int NH>(const uint8_t* group, int h0, int64_t t0, float* yg) {
                  LegacyHalves<kBits, NT, NH>(group, n_blocks, h0, acts, t0, yg, y_stride);
                });
}

// ------------------------------------------------------------ Q4_K and Q6_K

// Halves h0 .. h0 + NH - 1 of a group against NT Q8_K tokens (one token:
// both halves in one pass, as for the legacy types).
template <bool kQ6, int NT, int NH>
void KHalves(const uint8_t* group, int64_t n_sb, int h0, const RepackedActs& acts, int64_t t0,
             float* y, int64_t y_stride) {
  constexpr int64_t kSbBytes = R * (kQ6 ? sizeof(BlockQ6_K) : sizeof(BlockQ4_K));
  constexpr size_t kQs = offsetof(BlockQ8_K, qs), kBsums = offsetof(BlockQ8_K, bsums);
  const __m256i low = _mm256_set1_epi8(0x0F), high = _mm256_set1_epi8(0x30);
  __m256 sum[NH][NT];
  for (int x = 0; x < NH; ++x) {
    for (int t = 0; t < NT; ++t) sum[x][t] = _mm256_setzero_ps();
  }
  for (int64_t sb = 0; sb < n_sb; ++sb) {
    const uint8_t* blk = group + sb * kSbBytes;
    // Once per group: later passes (the other half, more token runs) find it
    // in cache.
    if (h0 == 0 && t0 == 0) PrefetchAhead(blk, kSbBytes);
    const uint8_t* a[NT];
    __m256i isum[NH][NT];
    for (int t = 0; t < NT; ++t) {
      a[t] = acts.rows + (t0 + t) * acts.row_bytes + sb * static_cast<int64_t>(sizeof(BlockQ8_K));
      for (int x = 0; x < NH; ++x) isum[x][t] = _mm256_setzero_si256();
    }
    // Header first (address order): d (and dmin), the scales, then quants.
    __m256 d[NH], dmin[NH];
    __m256i scale[NH][16], pairs[NH][8];
    for (int x = 0; x < NH; ++x) {
      const int h = h0 + x;
      d[x] = LoadHalves(blk + 16 * h);
      if constexpr (!kQ6) {
        dmin[x] = LoadHalves(blk + 32 + 16 * h);
        __m256i b[12];
        for (int i = 0; i < 12; ++i) b[i] = LoadU8x8(blk + 64 + 16 * i + 8 * h);
        const __m256i m63 = _mm256_set1_epi32(63), m15 = _mm256_set1_epi32(15);
        for (int j = 0; j < 8; ++j) {
          __m256i mn;
          if (j < 4) {
            scale[x][j] = _mm256_and_si256(b[j], m63);
            mn = _mm256_and_si256(b[j + 4], m63);
          } else {
            scale[x][j] = _mm256_or_si256(_mm256_and_si256(b[j + 4], m15),
                                          _mm256_slli_epi32(_mm256_srli_epi32(b[j - 4], 6), 4));
            mn = _mm256_or_si256(_mm256_srli_epi32(b[j + 4], 4),
                                 _mm256_slli_epi32(_mm256_srli_epi32(b[j], 6), 4));
          }
          pairs[x][j] = _mm256_or_si256(mn, _mm256_slli_epi32(mn, 16));
        }
      } else {
        dmin[x] = _mm256_setzero_ps();
        for (int sc = 0; sc < 16; ++sc) scale[x][sc] = LoadI8x8(blk + 32 + 16 * sc + 8 * h);
        const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
        for (int i = 0; i < 8; ++i) {
          pairs[x][i] = _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(scale[x][2 * i], 5), lo16),
                                        _mm256_slli_epi32(scale[x][2 * i + 1], 21));
        }
      }
    }
    if constexpr (!kQ6) {
      for (int g = 0; g < 4; ++g) {  // sub-blocks 2g (low nibbles) and 2g+1 (high)
        __m256i lo[NH][NT], hi[NH][NT];
        for (int x = 0; x < NH; ++x) {
          for (int t = 0; t < NT; ++t) lo[x][t] = hi[x][t] = _mm256_setzero_si256();
        }
        for (int q = 0; q < 8; ++q) {
          for (int x = 0; x < NH; ++x) {
            const __m256i v = Load(blk + 256 + 64 * (8 * g + q) + 32 * (h0 + x));
            const __m256i wl = _mm256_and_si256(v, low);
            const __m256i wh = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
            for (int t = 0; t < NT; ++t) {
              lo[x][t] = Dot4(lo[x][t], wl, Bcast32(a[t] + kQs + 64 * g + 4 * q));
              hi[x][t] = Dot4(hi[x][t], wh, Bcast32(a[t] + kQs + 64 * g + 32 + 4 * q));
            }
          }
        }
        for (int x = 0; x < NH; ++x) {
          for (int t = 0; t < NT; ++t) {
            isum[x][t] = _mm256_add_epi32(isum[x][t],
                                          _mm256_add_epi32(_mm256_mullo_epi32(lo[x][t], scale[x][2 * g]),
                                                           _mm256_mullo_epi32(hi[x][t], scale[x][2 * g + 1])));
          }
        }
      }
    } else {
      const uint8_t* ql = blk + 288;
      const uint8_t* qh = blk + 2336;
      for (int hh = 0; hh < 2; ++hh) {
        for (int half = 0; half < 2; ++half) {  // quads 32hh + 8j + p, sub-block 8hh + 2j + half
          for (int x = 0; x < NH; ++x) {
            const int h = h0 + x;
            __m256i acc[4][NT];
            for (int j = 0; j < 4; ++j) {
              for (int t = 0; t < NT; ++t) acc[j][t] = _mm256_setzero_si256();
            }
            for (int p = 4 * half; p < 4 * half + 4; ++p) {
              const __m256i va = Load(ql + 64 * (16 * hh + p) + 32 * h);
              const __m256i vb = Load(ql + 64 * (16 * hh + 8 + p) + 32 * h);
              const __m256i vh = Load(qh + 64 * (8 * hh + p) + 32 * h);
              const __m256i w[4] = {
                  _mm256_or_si256(_mm256_and_si256(va, low), _mm256_and_si256(_mm256_slli_epi16(vh, 4), high)),
                  _mm256_or_si256(_mm256_and_si256(vb, low), _mm256_and_si256(_mm256_slli_epi16(vh, 2), high)),
                  _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(va, 4), low), _mm256_and_si256(vh, high)),
                  _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(vb, 4), low),
                                  _mm256_and_si256(_mm256_srli_epi16(vh, 2), high))};
              for (int j = 0; j < 4; ++j) {
                for (int t = 0; t < NT; ++t) {
                  acc[j][t] = Dot4(acc[j][t], w[j], Bcast32(a[t] + kQs + 4 * (32 * hh + 8 * j + p)));
                }
              }
            }
            for (int j = 0; j < 4; ++j) {
              for (int t = 0; t < NT; ++t) {
                isum[x][t] =
                    _mm256_add_epi32(isum[x][t], _mm256_mullo_epi32(acc[j][t], scale[x][8 * hh + 2 * j + half]));
              }
            }
          }
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      float da;
      std::memcpy(&da, a[t] + offsetof(BlockQ8_K, d), sizeof da);
      const __m256 vda = _mm256_set1_ps(da);
      for (int x = 0; x < NH; ++x) {
        __m256i msum = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
          msum = _mm256_add_epi32(msum, _mm256_madd_epi16(pairs[x][j], Bcast32(a[t] + kBsums + 4 * j)));
        }
        __m256i is = isum[x][t];
        if constexpr (kQ6) {
          is = _mm256_sub_epi32(is, msum);
          msum = _mm256_setzero_si256();
        }
        const __m256 plus = _mm256_mul_ps(_mm256_mul_ps(d[x], vda), _mm256_cvtepi32_ps(is));
        const __m256 minus = _mm256_mul_ps(_mm256_mul_ps(dmin[x], vda), _mm256_cvtepi32_ps(msum));
        sum[x][t] = _mm256_add_ps(sum[x][t], _mm256_sub_ps(plus, minus));
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    for (int x = 0; x < NH; ++x) _mm256_storeu_ps(y + (t0 + t) * y_stride + 8 * (h0 + x), sum[x][t]);
  }
}

template <bool kQ6>
void GemmK(int64_t n_in, const uint8_t* groups, int64_t n_groups, const RepackedActs& acts,
           int64_t n_tok, float* y, int64_t y_stride, void*) {
  const int64_t n_sb = n_in / kQK_K;
  const int64_t group_bytes = R * n_sb * (kQ6 ? sizeof(BlockQ6_K) : sizeof(BlockQ4_K));
  OverHalves<kQ6 ? 1 : 2>(groups, n_groups, group_bytes, n_tok, y,
                          [&]<int NT, int NH>(const uint8_t* group, int h0, int64_t t0, float* yg) {
                            KHalves<kQ6, NT, NH>(group, n_sb, h0, acts, t0, yg, y_stride);
                          });
}

// --------------------------------------------------------------------- F16

// NU half-groups (unit u: group u / 2, half u % 2) x NT tokens of fused
// multiply-adds per column, in column order (fp16 x fp16 products are exact
// in float).
template <int NT, int NU, bool kPacked>
void F16Units(int64_t n_in, const uint8_t* groups, int64_t u0, const RepackedActs& acts, int64_t t0,
              float* y, int64_t y_stride) {
  const int64_t group_bytes = R * n_in * 2;
  __m256 acc[NU][NT];
  const float* a[NT];
  for (int t = 0; t < NT; ++t) {
    for (int u = 0; u < NU; ++u) acc[u][t] = _mm256_setzero_ps();
    a[t] = reinterpret_cast<const float*>(acts.rows + (t0 + t) * acts.row_bytes);
  }
  const uint8_t* w0[NU];
  for (int u = 0; u < NU; ++u) w0[u] = groups + ((u0 + u) / 2) * group_bytes + 16 * ((u0 + u) % 2);
  const float* packed = acts.packed + (t0 / kGemmTokenTile) * kGemmTokenTile * n_in + t0 % kGemmTokenTile;
  for (int64_t i = 0; i < n_in; ++i) {
    __m256 w[NU];
    for (int u = 0; u < NU; ++u) w[u] = LoadHalves(w0[u] + 32 * i);
    for (int t = 0; t < NT; ++t) {
      const __m256 v = _mm256_set1_ps(kPacked ? packed[i * kGemmTokenTile + t] : a[t][i]);
      for (int u = 0; u < NU; ++u) acc[u][t] = _mm256_fmadd_ps(w[u], v, acc[u][t]);
    }
  }
  for (int u = 0; u < NU; ++u) {
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + (t0 + t) * y_stride + 8 * (u0 + u), acc[u][t]);
  }
}

void GemmF16(int64_t n_in, const uint8_t* groups, int64_t n_groups, const RepackedActs& acts,
             int64_t n_tok, float* y, int64_t y_stride, void*) {
  const int64_t n_units = 2 * n_groups;
  int64_t t0 = 0;
  for (; t0 + kGemmTokenTile <= n_tok; t0 += kGemmTokenTile) {
    // Both halves of a group x 6, 6 and 4 tokens of the packed tile: 12
    // accumulators, two weight vectors and a broadcast fill the 16 registers.
    for (int64_t u = 0; u < n_units; u += 2) {
      F16Units<6, 2, true>(n_in, groups, u, acts, t0, y, y_stride);
      F16Units<6, 2, true>(n_in, groups, u, acts, t0 + 6, y, y_stride);
      F16Units<4, 2, true>(n_in, groups, u, acts, t0 + 12, y, y_stride);
    }
  }
  const int64_t rest = n_tok - t0;
  if (rest == 0) return;
  int64_t u = 0;
  if (rest == 1) {  // decode: four half-groups at once, four chains
    for (; u + 4 <= n_units; u += 4) F16Units<1, 4, false>(n_in, groups, u, acts, t0, y, y_stride);
  }
  for (; u < n_units; ++u) {
    ForTokenRuns<8>(rest, [&]<int NT>(int64_t t1) {
      F16Units<NT, 1, false>(n_in, groups, u, acts, t0 + t1, y, y_stride);
    });
  }
}

}  // namespace

RepackedGemmFn Avx2RepackedGemm(TensorType type) {
  switch (type) {
    case TensorType::kF16: return GemmF16;
    case TensorType::kQ8_0: return GemmLegacy<8>;
    case TensorType::kQ4_0: return GemmLegacy<4>;
    case TensorType::kQ5_0: return GemmLegacy<5>;
    case TensorType::kQ4_K: return GemmK<false>;
    case TensorType::kQ6_K: return GemmK<true>;
    default: return nullptr;
  }
}

}  // namespace internal
}  // namespace tcobench
