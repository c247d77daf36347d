// AVX-512 kernels (F, BW, VL, VNNI) for repacked weights (repack.h): int8
// products with vpdpbusd (unsigned weight bytes times signed activation
// bytes, exact int32 sums) for Q8_0, Q4_0, Q5_0, Q4_K and Q6_K, and an fp16 kernel
// that converts weights in registers. Lanes are the 16 rows of a group; each
// lane runs the reference's float steps in the reference's order (this file
// is compiled without floating-point contraction), so results are bit-equal
// to the scalar vec_dot. Only called when the CPU has these extensions.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "workers/engine/quants.h"
#include "workers/engine/repack.h"
#include "workers/engine/token_runs.h"

namespace tcobench {
namespace internal {
namespace {

constexpr int R = kRepackRows;
constexpr int kTokensK = 4;  // tokens per pass over a decoded tile (independent chains)
// Up to this many tokens, 4-bit quants are decoded in registers per run of
// tokens rather than once into a tile (decode and small batches).
constexpr int64_t kDirectMaxTokens = 8;

inline __m512i Bcast32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}
inline __m512 LoadHalves(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512i Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
inline void Store(uint8_t* p, __m512i v) { _mm512_storeu_si512(p, v); }

// The scratch: a decoded tile (64 quads of 16 rows x 4 bytes), then the
// per-token sums of the group (16 floats per token).
struct Scratch {
  uint8_t* tile;
  float* yacc;
};
Scratch Split(void* scratch, int64_t n_tok) {
  uint8_t* s = static_cast<uint8_t*>(scratch);
  Scratch out{s, reinterpret_cast<float*>(s + kRepackTileBytes)};
  std::memset(out.yacc, 0, sizeof(float) * R * n_tok);
  return out;
}
void StoreSums(const float* yacc, int64_t n_tok, float* y, int64_t y_stride) {
  for (int64_t t = 0; t < n_tok; ++t) _mm512_storeu_ps(y + t * y_stride, _mm512_loadu_ps(yacc + t * R));
}


// ---------------------------------------------------------- Q8_0, Q4_0, Q5_0

// Q5_0: bits 0..3 of each lane of `bits` (the 5th bits of four consecutive
// weights of that row) moved to bit 4 of the lane's four bytes.
inline __m512i FifthBits(__m512i bits) {
  const __m512i x = _mm512_and_si512(bits, _mm512_set1_epi32(0x0F));
  const __m512i spread = _mm512_and_si512(_mm512_mullo_epi32(x, _mm512_set1_epi32(0x00204081)),
                                          _mm512_set1_epi32(0x01010101));
  return _mm512_slli_epi32(spread, 4);
}
// Quads g (weights 4g..4g+3) and 4 + g (16+4g..) of a Q4_0 or Q5_0 block
// as unsigned bytes: the nibbles of chunk v, and for Q5_0 the 5th bits from
// the rows' qh words.
template <bool kFive>
inline void NibbleQuads(__m512i v, __m512i qh, int g, __m512i* lo, __m512i* hi) {
  const __m512i low = _mm512_set1_epi8(0x0F);
  *lo = _mm512_and_si512(v, low);
  *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
  if constexpr (kFive) {
    *lo = _mm512_or_si512(*lo, FifthBits(_mm512_srli_epi32(qh, 4 * g)));
    *hi = _mm512_or_si512(*hi, FifthBits(_mm512_srli_epi32(qh, 16 + 4 * g)));
  }
}

// Up to 8 blocks of a group, each 8 quads of unsigned bytes at tiles[i],
// against NT tokens: sum += (quant . act - offset * sum(act)) * (dw * da).
template <int kOffset, bool kNibbles, bool kFive, int NT>
void LegacyTokens(const uint8_t* const* tiles, const uint8_t* const* heads, int n_blocks_here, int64_t b0,
                  const RepackedActs& acts, int64_t n_blocks, int64_t t0, float* yacc) {
  __m512 sum[NT];
  const uint8_t* a[NT];
  for (int t = 0; t < NT; ++t) {
    sum[t] = _mm512_loadu_ps(yacc + (t0 + t) * R);
    a[t] = acts.rows + (t0 + t) * acts.row_bytes + b0 * static_cast<int64_t>(sizeof(BlockQ8_0)) +
           offsetof(BlockQ8_0, qs);
  }
  for (int i = 0; i < n_blocks_here; ++i) {
    const __m512 dw = LoadHalves(heads[i]);
    // Two chains per token (one is latency-bound at one or two tokens).
    __m512i acc[NT], acc2[NT];
    for (int t = 0; t < NT; ++t) acc[t] = acc2[t] = _mm512_setzero_si512();
    const uint8_t* ai[NT];
    for (int t = 0; t < NT; ++t) ai[t] = a[t] + i * sizeof(BlockQ8_0);
    if constexpr (kNibbles) {  // Q4_0/Q5_0 chunks decoded in registers: quads g and 4 + g
      const __m512i qh = kFive ? Load(heads[i] + 32) : _mm512_setzero_si512();
      for (int g = 0; g < 4; ++g) {
        __m512i wl, wh;
        NibbleQuads<kFive>(Load(tiles[i] + 64 * g), qh, g, &wl, &wh);
        for (int t = 0; t < NT; ++t) {
          acc[t] = _mm512_dpbusd_epi32(acc[t], wl, Bcast32(ai[t] + 4 * g));
          acc2[t] = _mm512_dpbusd_epi32(acc2[t], wh, Bcast32(ai[t] + 16 + 4 * g));
        }
      }
    } else {  // 8 quads of unsigned bytes
      for (int q = 0; q < 8; q += 2) {
        const __m512i w = Load(tiles[i] + 64 * q);
        const __m512i w2 = Load(tiles[i] + 64 * (q + 1));
        for (int t = 0; t < NT; ++t) {
          acc[t] = _mm512_dpbusd_epi32(acc[t], w, Bcast32(ai[t] + 4 * q));
          acc2[t] = _mm512_dpbusd_epi32(acc2[t], w2, Bcast32(ai[t] + 4 * q + 4));
        }
      }
    }
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_add_epi32(acc[t], acc2[t]);
    for (int t = 0; t < NT; ++t) {
      const int64_t at = (t0 + t) * n_blocks + b0 + i;
      const __m512i isum = _mm512_sub_epi32(acc[t], _mm512_set1_epi32(kOffset * acts.sums[at]));
      const __m512 dd = _mm512_mul_ps(dw, _mm512_set1_ps(acts.d[at]));
      sum[t] = _mm512_add_ps(sum[t], _mm512_mul_ps(_mm512_cvtepi32_ps(isum), dd));
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(yacc + (t0 + t) * R, sum[t]);
}

// kBits: 8 (Q8_0), 4 (Q4_0) or 5 (Q5_0).
template <int kBits>
void GemmLegacy(int64_t n_in, const uint8_t* group, const RepackedActs& acts, int64_t n_tok, float* y,
                int64_t y_stride, void* scratch) {
  constexpr bool kNib = kBits != 8, kFive = kBits == 5;
  constexpr int64_t kBlockBytes =
      R * (kBits == 8 ? sizeof(BlockQ8_0) : kFive ? sizeof(BlockQ5_0) : sizeof(BlockQ4_0));
  constexpr int kOffset = kBits == 8 ? 128 : kFive ? 16 : 8;
  constexpr int64_t kQuants = kFive ? 96 : 32;  // the quants' offset in a block group
  const int64_t n_blocks = n_in / kQK;
  const Scratch s = Split(scratch, n_tok);
  // Few tokens: 4/5-bit quants are decoded in registers as they stream in;
  // more: once per block into a tile all token runs read.
  const bool direct = n_tok <= kDirectMaxTokens;
  for (int64_t b0 = 0; b0 < n_blocks; b0 += 8) {
    const int here = static_cast<int>(std::min<int64_t>(8, n_blocks - b0));
    const uint8_t* heads[8];  // each block's 16 fp16 scales (and Q5_0's qh words)
    const uint8_t* tiles[8];
    for (int i = 0; i < here; ++i) {
      const uint8_t* blk = group + (b0 + i) * kBlockBytes;
      heads[i] = blk;
      if (kNib && !direct) {
        uint8_t* tile = s.tile + 512 * i;
        const __m512i qh = kFive ? Load(blk + 32) : _mm512_setzero_si512();
        for (int g = 0; g < 4; ++g) {
          __m512i lo, hi;
          NibbleQuads<kFive>(Load(blk + kQuants + 64 * g), qh, g, &lo, &hi);
          Store(tile + 64 * g, lo);
          Store(tile + 64 * (4 + g), hi);
        }
        tiles[i] = tile;
      } else {
        tiles[i] = blk + kQuants;  // Q8_0: unsigned bytes in quad order; 4/5-bit: decoded as read
      }
    }
    if (kNib && direct) {
      ForTokenRuns<kTokensK>(n_tok, [&]<int NT>(int64_t t0) {
        LegacyTokens<kOffset, true, kFive, NT>(tiles, heads, here, b0, acts, n_blocks, t0, s.yacc);
      });
    } else {
      ForTokenRuns<kTokensK>(n_tok, [&]<int NT>(int64_t t0) {
        LegacyTokens<kOffset, false, false, NT>(tiles, heads, here, b0, acts, n_blocks, t0, s.yacc);
      });
    }
  }
  StoreSums(s.yacc, n_tok, y, y_stride);
}

// ------------------------------------------------------------ Q4_K and Q6_K

// A decoded super-block of a group: 64 quads of unsigned weights (in k
// order) in the tile, the integer scale of each sub-block per row, the
// (min or offset) pairs for the bsums correction, and d, dmin per row.
struct KTile {
  __m512i scale[16];
  __m512i pairs[8];
  __m512 d, dmin;
};

void DecodeQ4_KTile(const uint8_t* blk, uint8_t* tile, KTile* k) {
  // In address order (d, dmin, scales, quants): one forward stream.
  k->d = LoadHalves(blk);
  k->dmin = LoadHalves(blk + 32);
  __m512i b[12];
  for (int i = 0; i < 12; ++i) {
    b[i] = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 64 + 16 * i)));
  }
  const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15);
  for (int j = 0; j < 8; ++j) {
    __m512i sc, mn;
    if (j < 4) {
      sc = _mm512_and_si512(b[j], m63);
      mn = _mm512_and_si512(b[j + 4], m63);
    } else {
      sc = _mm512_or_si512(_mm512_and_si512(b[j + 4], m15),
                           _mm512_slli_epi32(_mm512_srli_epi32(b[j - 4], 6), 4));
      mn = _mm512_or_si512(_mm512_srli_epi32(b[j + 4], 4),
                           _mm512_slli_epi32(_mm512_srli_epi32(b[j], 6), 4));
    }
    k->scale[j] = sc;
    k->pairs[j] = _mm512_or_si512(mn, _mm512_slli_epi32(mn, 16));  // (min, min) as int16
  }
  if (tile == nullptr) return;  // the caller decodes the quants itself
  const __m512i low = _mm512_set1_epi8(0x0F);
  for (int g = 0; g < 4; ++g) {
    for (int q = 0; q < 8; ++q) {
      const __m512i v = Load(blk + 256 + 64 * (8 * g + q));
      Store(tile + 64 * (16 * g + q), _mm512_and_si512(v, low));
      Store(tile + 64 * (16 * g + 8 + q), _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
    }
  }
}

void DecodeQ6_KTile(const uint8_t* blk, uint8_t* tile, KTile* k) {
  k->d = LoadHalves(blk);
  k->dmin = _mm512_setzero_ps();
  for (int s = 0; s < 16; ++s) {
    k->scale[s] = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * s)));
  }
  // The quants are stored +32: sum(sc * (u - 32) * a) = sum(sc * u * a) - 32 * sum(sc * bsum).
  const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
  for (int i = 0; i < 8; ++i) {
    k->pairs[i] = _mm512_or_si512(_mm512_and_si512(_mm512_slli_epi32(k->scale[2 * i], 5), lo16),
                                  _mm512_slli_epi32(k->scale[2 * i + 1], 21));
  }
  if (tile == nullptr) return;  // the caller decodes the quants itself
  const __m512i low = _mm512_set1_epi8(0x0F), high = _mm512_set1_epi8(0x30);
  const uint8_t* ql = blk + 288;
  const uint8_t* qh = blk + 2336;
  for (int h = 0; h < 2; ++h) {
    for (int p = 0; p < 8; ++p) {
      const __m512i a = Load(ql + 64 * (16 * h + p));
      const __m512i b = Load(ql + 64 * (16 * h + 8 + p));
      const __m512i hb = Load(qh + 64 * (8 * h + p));
      uint8_t* t = tile + 64 * (32 * h + p);
      Store(t, _mm512_or_si512(_mm512_and_si512(a, low), _mm512_and_si512(_mm512_slli_epi16(hb, 4), high)));
      Store(t + 64 * 8, _mm512_or_si512(_mm512_and_si512(b, low),
                                        _mm512_and_si512(_mm512_slli_epi16(hb, 2), high)));
      Store(t + 64 * 16, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), low),
                                         _mm512_and_si512(hb, high)));
      Store(t + 64 * 24, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(b, 4), low),
                                         _mm512_and_si512(_mm512_srli_epi16(hb, 2), high)));
    }
  }
}

// The integer sums of one super-block for NT Q8_K tokens (a[t]: each
// token's block): isum = sum over sub-blocks of scale * (quants . acts),
// from the decoded tile.
template <bool kQ6, int NT>
void KSumsFromTile(const uint8_t* tile, const KTile& k, const uint8_t* const* a, __m512i* isum) {
  constexpr int kSubs = kQ6 ? 16 : 8;
  constexpr int kQuads = 64 / kSubs;
  for (int s = 0; s < kSubs; ++s) {
    __m512i acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_si512();
    for (int q = 0; q < kQuads; ++q) {
      const int quad = s * kQuads + q;
      const __m512i w = Load(tile + 64 * quad);
      for (int t = 0; t < NT; ++t) {
        acc[t] = _mm512_dpbusd_epi32(acc[t], w, Bcast32(a[t] + offsetof(BlockQ8_K, qs) + 4 * quad));
      }
    }
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(acc[t], k.scale[s]));
  }
}

// The same sums straight from the repacked quants, decoded in registers as
// they stream in (few tokens: decoding to a tile would cost more than it
// saves).
template <bool kQ6, int NT>
void KSumsDirect(const uint8_t* blk, const KTile& k, const uint8_t* const* a, __m512i* isum) {
  const __m512i low = _mm512_set1_epi8(0x0F);
  constexpr size_t kQs = offsetof(BlockQ8_K, qs);
  if constexpr (!kQ6) {
    for (int g = 0; g < 4; ++g) {  // sub-blocks 2g (low nibbles) and 2g+1 (high)
      __m512i lo[NT], hi[NT];
      for (int t = 0; t < NT; ++t) lo[t] = hi[t] = _mm512_setzero_si512();
      for (int q = 0; q < 8; ++q) {
        const __m512i v = Load(blk + 256 + 64 * (8 * g + q));
        const __m512i wl = _mm512_and_si512(v, low);
        const __m512i wh = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        for (int t = 0; t < NT; ++t) {
          lo[t] = _mm512_dpbusd_epi32(lo[t], wl, Bcast32(a[t] + kQs + 64 * g + 4 * q));
          hi[t] = _mm512_dpbusd_epi32(hi[t], wh, Bcast32(a[t] + kQs + 64 * g + 32 + 4 * q));
        }
      }
      for (int t = 0; t < NT; ++t) {
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo[t], k.scale[2 * g]),
                                                             _mm512_mullo_epi32(hi[t], k.scale[2 * g + 1])));
      }
    }
  } else {
    const __m512i high = _mm512_set1_epi8(0x30);
    const uint8_t* ql = blk + 288;
    const uint8_t* qh = blk + 2336;
    for (int h = 0; h < 2; ++h) {
      for (int half = 0; half < 2; ++half) {  // quads 32h + 8j + p, sub-block 8h + 2j + half
        __m512i acc[4][NT];
        for (int j = 0; j < 4; ++j) {
          for (int t = 0; t < NT; ++t) acc[j][t] = _mm512_setzero_si512();
        }
        for (int p = 4 * half; p < 4 * half + 4; ++p) {
          const __m512i va = Load(ql + 64 * (16 * h + p));
          const __m512i vb = Load(ql + 64 * (16 * h + 8 + p));
          const __m512i vh = Load(qh + 64 * (8 * h + p));
          const __m512i w[4] = {
              _mm512_or_si512(_mm512_and_si512(va, low), _mm512_and_si512(_mm512_slli_epi16(vh, 4), high)),
              _mm512_or_si512(_mm512_and_si512(vb, low), _mm512_and_si512(_mm512_slli_epi16(vh, 2), high)),
              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(va, 4), low), _mm512_and_si512(vh, high)),
              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(vb, 4), low),
                              _mm512_and_si512(_mm512_srli_epi16(vh, 2), high))};
          for (int j = 0; j < 4; ++j) {
            for (int t = 0; t < NT; ++t) {
              acc[j][t] = _mm512_dpbusd_epi32(acc[j][t], w[j], Bcast32(a[t] + kQs + 4 * (32 * h + 8 * j + p)));
            }
          }
        }
        for (int j = 0; j < 4; ++j) {
          for (int t = 0; t < NT; ++t) {
            isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(acc[j][t], k.scale[8 * h + 2 * j + half]));
          }
        }
      }
    }
  }
}

// One super-block against NT Q8_K tokens, added to their sums: the
// reference's sum += (d * da) * isum - (dmin * da) * msum.
template <bool kQ6, bool kDirect, int NT>
void KTokens(const uint8_t* blk, const uint8_t* tile, const KTile& k, const RepackedActs& acts,
             int64_t sb, int64_t t0, float* yacc) {
  const uint8_t* a[NT];
  __m512i isum[NT], msum[NT];
  for (int t = 0; t < NT; ++t) {
    a[t] = acts.rows + (t0 + t) * acts.row_bytes + sb * static_cast<int64_t>(sizeof(BlockQ8_K));
    isum[t] = _mm512_setzero_si512();
    msum[t] = _mm512_setzero_si512();
  }
  if constexpr (kDirect) {
    KSumsDirect<kQ6, NT>(blk, k, a, isum);
  } else {
    KSumsFromTile<kQ6, NT>(tile, k, a, isum);
  }
  for (int t = 0; t < NT; ++t) {
    for (int j = 0; j < 8; ++j) {
      msum[t] = _mm512_dpwssd_epi32(msum[t], k.pairs[j], Bcast32(a[t] + offsetof(BlockQ8_K, bsums) + 4 * j));
    }
    if constexpr (kQ6) {
      isum[t] = _mm512_sub_epi32(isum[t], msum[t]);
      msum[t] = _mm512_setzero_si512();
    }
    float da;
    std::memcpy(&da, a[t] + offsetof(BlockQ8_K, d), sizeof da);
    const __m512 vda = _mm512_set1_ps(da);
    const __m512 plus = _mm512_mul_ps(_mm512_mul_ps(k.d, vda), _mm512_cvtepi32_ps(isum[t]));
    const __m512 minus = _mm512_mul_ps(_mm512_mul_ps(k.dmin, vda), _mm512_cvtepi32_ps(msum[t]));
    float* out = yacc + (t0 + t) * R;
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), _mm512_sub_ps(plus, minus)));
  }
}

template <bool kQ6>
void GemmK(int64_t n_in, const uint8_t* group, const RepackedActs& acts, int64_t n_tok, float* y,
           int64_t y_stride, void* scratch) {
  constexpr int64_t kSbBytes = R * (kQ6 ? sizeof(BlockQ6_K) : sizeof(BlockQ4_K));
  const Scratch s = Split(scratch, n_tok);
  // Q6_K decodes with more work per quad (two loads and shifts for six bits):
  // from 5 tokens its tile pays.
  const bool direct = n_tok <= (kQ6 ? kTokensK : kDirectMaxTokens);
  KTile k;
  for (int64_t sb = 0; sb < n_in / kQK_K; ++sb) {
    const uint8_t* blk = group + sb * kSbBytes;
    PrefetchAhead(blk, kSbBytes);
    if constexpr (kQ6) {
      DecodeQ6_KTile(blk, direct ? nullptr : s.tile, &k);
    } else {
      DecodeQ4_KTile(blk, direct ? nullptr : s.tile, &k);
    }
    if (direct) {
      ForTokenRuns<kQ6 ? kTokensK : 8>(n_tok, [&]<int NT>(int64_t t0) {
        KTokens<kQ6, true, NT>(blk, nullptr, k, acts, sb, t0, s.yacc);
      });
    } else {
      ForTokenRuns<kTokensK>(n_tok, [&]<int NT>(int64_t t0) {
        KTokens<kQ6, false, NT>(blk, s.tile, k, acts, sb, t0, s.yacc);
      });
    }
  }
  StoreSums(s.yacc, n_tok, y, y_stride);
}

// --------------------------------------------------------------------- F16

// Lane r: sum += w(r, i) * a(i) over i in order; fp16 x fp16 products are
// exact in float, so the fused multiply-add rounds as the reference's
// multiply-then-add does.
// Full tiles of kGemmTokenTile tokens read the packed activations (token
// fastest: one pointer serves every token); a last partial run reads the
// rows (few tokens: the packed tile would stream 16 floats per column),
// over NG groups at once so that even one token has NG * NT independent
// chains of multiply-adds (each chain must stay in column order).
template <int NT, int NG, bool kPacked>
void F16Tokens(int64_t n_in, const uint8_t* group, int64_t group_bytes, const RepackedActs& acts,
               int64_t t0, float* y, int64_t y_stride) {
  __m512 acc[NG][NT];
  const float* a[NT];
  for (int t = 0; t < NT; ++t) {
    for (int g = 0; g < NG; ++g) acc[g][t] = _mm512_setzero_ps();
    a[t] = reinterpret_cast<const float*>(acts.rows + (t0 + t) * acts.row_bytes);
  }
  const float* packed = acts.packed + t0 * n_in;
  for (int64_t i = 0; i < n_in; ++i) {
    __m512 w[NG];
    for (int g = 0; g < NG; ++g) w[g] = LoadHalves(group + g * group_bytes + 32 * i);
    for (int t = 0; t < NT; ++t) {
      const __m512 v = _mm512_set1_ps(kPacked ? packed[i * kGemmTokenTile + t] : a[t][i]);
      for (int g = 0; g < NG; ++g) acc[g][t] = _mm512_fmadd_ps(w[g], v, acc[g][t]);
    }
  }
  for (int g = 0; g < NG; ++g) {
    for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + (t0 + t) * y_stride + g * R, acc[g][t]);
  }
}

void GemmF16(int64_t n_in, const uint8_t* groups, int64_t n_groups, const RepackedActs& acts,
             int64_t n_tok, float* y, int64_t y_stride, void*) {
  const int64_t group_bytes = R * n_in * 2;
  int64_t t0 = 0;
  for (; t0 + kGemmTokenTile <= n_tok; t0 += kGemmTokenTile) {
    for (int64_t g = 0; g < n_groups; ++g) {
      F16Tokens<kGemmTokenTile, 1, true>(n_in, groups + g * group_bytes, group_bytes, acts, t0, y + g * R, y_stride);
    }
  }
  const int64_t rest = n_tok - t0;
  if (rest == 0) return;
  int64_t g = 0;
  if (rest <= 2) {  // decode: four (one token) or two (two tokens) groups together
    constexpr int kOne = 4, kTwo = 2;
    if (rest == 1) {
      for (; g + kOne <= n_groups; g += kOne) {
        F16Tokens<1, kOne, false>(n_in, groups + g * group_bytes, group_bytes, acts, t0, y + g * R, y_stride);
      }
    } else {
      for (; g + kTwo <= n_groups; g += kTwo) {
        F16Tokens<2, kTwo, false>(n_in, groups + g * group_bytes, group_bytes, acts, t0, y + g * R, y_stride);
      }
    }
  }
  for (; g < n_groups; ++g) {
    ForTokenRuns<8>(rest, [&]<int NT>(int64_t t1) {
      F16Tokens<NT, 1, false>(n_in, groups + g * group_bytes, group_bytes, acts, t0 + t1, y + g * R, y_stride);
    });
  }
}

// The per-group kernels over consecutive groups.
template <void (*kGroup)(int64_t, const uint8_t*, const RepackedActs&, int64_t, float*, int64_t, void*),
          int64_t kBlockBytes, int64_t kBlockSize>
void Groups(int64_t n_in, const uint8_t* groups, int64_t n_groups, const RepackedActs& acts,
            int64_t n_tok, float* y, int64_t y_stride, void* scratch) {
  const int64_t group_bytes = R * kBlockBytes * (n_in / kBlockSize);
  for (int64_t g = 0; g < n_groups; ++g) {
    kGroup(n_in, groups + g * group_bytes, acts, n_tok, y + g * R, y_stride, scratch);
  }
}

}  // namespace

RepackedGemmFn Avx512RepackedGemm(TensorType type) {
  switch (type) {
    case TensorType::kF16: return GemmF16;
    case TensorType::kQ8_0: return Groups<GemmLegacy<8>, sizeof(BlockQ8_0), kQK>;
    case TensorType::kQ4_0: return Groups<GemmLegacy<4>, sizeof(BlockQ4_0), kQK>;
    case TensorType::kQ5_0: return Groups<GemmLegacy<5>, sizeof(BlockQ5_0), kQK>;
    case TensorType::kQ4_K: return Groups<GemmK<false>, sizeof(BlockQ4_K), kQK_K>;
    case TensorType::kQ6_K: return Groups<GemmK<true>, sizeof(BlockQ6_K), kQK_K>;
    default: return nullptr;
  }
}

}  // namespace internal
}  // namespace tcobench
