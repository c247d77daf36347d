// Random-weight llama models of real shapes, for speed benchmarks and tests
// that must not depend on downloaded weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "workers/engine/tensor_type.h"

namespace tcobench {

struct SynthShape {
  enum class Vocab { kSentencePiece, kBpe };
  std::string name;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
  bool tied;  // output projection shares token_embd
  float rope_freq_base = 10000.0f;
  Vocab vocab = Vocab::kSentencePiece;
  bool llama3_rope_factors = false;  // writes rope_freqs.weight (Llama 3.1+ scaling, factor 32)
};

// The shapes `model synth` offers (ktiny, stories15m, llama-1b, llama3-1b).
const std::vector<SynthShape>& SynthShapes();
const SynthShape* FindSynthShape(const std::string& name);

struct SynthOptions {
  TensorType type = TensorType::kF32;  // matrices; norms are always F32
  uint64_t seed = 1;
  std::function<void(int done, int total)> progress;  // per tensor; may be empty
};

// Writes a GGUF v3 llama model: matrices ~ N(0, 0.02^2), norms 1, and a
// byte-fallback SentencePiece vocabulary of the shape's size.
absl::Status SynthesizeModel(const SynthShape& shape, const SynthOptions& options,
                             const std::filesystem::path& out);

}  // namespace tcobench
