// IEEE half (fp16) and bfloat16 conversions, bit-exact with ggml's.
#pragma once

#include <cstdint>
#include <cstring>

namespace tcobench {

inline float FloatFromBits(uint32_t w) {
  float f;
  std::memcpy(&f, &w, sizeof f);
  return f;
}
inline uint32_t BitsFromFloat(float f) {
  uint32_t w;
  std::memcpy(&w, &f, sizeof w);
  return w;
}

// fp16 -> fp32, exact for every input (normals, subnormals, inf, NaN).
inline float Fp16ToFp32Compute(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = 0xE0u << 23;
  const float exp_scale = 0x1.0p-112f;
  const float normalized = FloatFromBits((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = 126u << 23;
  const float magic_bias = 0.5f;
  const float denormalized = FloatFromBits((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = 1u << 27;
  const uint32_t result = sign | (two_w < denormalized_cutoff ? BitsFromFloat(denormalized)
                                                              : BitsFromFloat(normalized));
  return FloatFromBits(result);
}

// fp32 -> fp16 with round-to-nearest-even; NaN stays NaN, overflow gives inf.
inline uint16_t Fp32ToFp16(float f) {
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  float base = (f < 0 ? -f : f) * scale_to_inf;
  base = base * scale_to_zero;
  const uint32_t w = BitsFromFloat(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = FloatFromBits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = BitsFromFloat(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// Table-driven fp16 -> fp32 (the hot path of F16 dot products).
struct Fp16Table {
  float values[65536];
  Fp16Table() {
    for (uint32_t i = 0; i < 65536; ++i) values[i] = Fp16ToFp32Compute(static_cast<uint16_t>(i));
  }
};
inline const Fp16Table& GetFp16Table() {
  static const Fp16Table table;
  return table;
}
inline float Fp16ToFp32(uint16_t h) { return GetFp16Table().values[h]; }

inline float Bf16ToFp32(uint16_t h) { return FloatFromBits(static_cast<uint32_t>(h) << 16); }

// Round to nearest even; NaN forced quiet (as ggml does).
inline uint16_t Fp32ToBf16(float f) {
  const uint32_t u = BitsFromFloat(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

}  // namespace tcobench
