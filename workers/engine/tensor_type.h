// GGUF/ggml tensor type ids and their storage geometry. Pure data: the math
// for each type lives in quants.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

namespace tcobench {

// Values are the ggml type ids stored in GGUF files.
enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct TypeGeometry {
  const char* name;
  int64_t block_size;  // weights per block
  int64_t type_size;   // bytes per block
};

// Geometry of a known ggml type id, or nullopt for an id no ggml release uses.
std::optional<TypeGeometry> GetTypeGeometry(uint32_t type_id);
// Geometry of a known type (crashes on an unknown enum value: a programming error).
TypeGeometry Geometry(TensorType type);
const char* TypeName(TensorType type);
std::optional<TensorType> TypeFromName(absl::string_view name);

// Bytes of a row of `n` elements; n must be a multiple of the block size.
inline int64_t RowBytes(TensorType type, int64_t n) {
  const TypeGeometry g = Geometry(type);
  return n / g.block_size * g.type_size;
}

}  // namespace tcobench
