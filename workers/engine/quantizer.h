// Makes quantized variants of a GGUF model with the standard llama-quantize
// recipes (no importance matrix): which tensor gets which type, shape
// fallbacks, and the reference row quantizers from quants.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "workers/engine/tensor_type.h"

namespace tcobench {

// A quantization recipe (llama.cpp's "file type").
struct QuantRecipe {
  const char* name;         // "Q4_K_M"
  TensorType default_type;  // most matrices
  uint32_t file_type;       // general.file_type (llama_ftype)
};

const std::vector<QuantRecipe>& QuantRecipes();
std::optional<QuantRecipe> FindQuantRecipe(absl::string_view name);  // case-insensitive
std::string QuantRecipeNames();                                      // "F16, BF16, Q8_0, …"

// What the recipe does with one tensor, given the model's shape.
struct TensorPlacement {
  std::string name;
  std::vector<int64_t> ne;
  TensorType from = TensorType::kF32;
  TensorType to = TensorType::kF32;
  std::string reason;  // why `to` differs from the recipe default, or ""
};

struct QuantizeOptions {
  int n_threads = 0;  // 0: all hardware threads
  std::function<void(int done, int total, const TensorPlacement&)> progress;  // may be empty
};

struct QuantizeSummary {
  std::vector<TensorPlacement> tensors;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
};

// Reads `in`, writes `out` (atomically) with the recipe applied. Metadata is
// carried over; general.file_type and general.quantization_version are set.
absl::Status QuantizeModel(const std::filesystem::path& in, const std::filesystem::path& out,
                           const QuantRecipe& recipe, const QuantizeOptions& options,
                           QuantizeSummary* summary);

}  // namespace tcobench
