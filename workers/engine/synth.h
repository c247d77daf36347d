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
  // kSentencePiece: Llama 2's; kBpe: Llama 3's byte-level BPE (llama-bpe);
  // kQwen2: byte-level BPE with the qwen2 pre-tokenizer and no BOS;
  // kGemma: SentencePiece without the space prefix, with user-defined tokens;
  // kPhi3: Llama 2's with Phi-3's chat tokens (<|endoftext|>, <|end|> ...) last.
  enum class Vocab { kSentencePiece, kBpe, kQwen2, kGemma, kPhi3 };
  std::string name;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
  bool tied;  // output projection shares token_embd
  float rope_freq_base = 10000.0f;
  Vocab vocab = Vocab::kSentencePiece;
  bool llama3_rope_factors = false;  // writes rope_freqs.weight (Llama 3.1+ scaling, factor 32)
  // The family (general.architecture) and what it adds to the llama block
  // (docs/engine.md). Families other than llama get random norm weights, so
  // every norm's weight matters to the output.
  std::string architecture = "llama";
  int64_t head_dim = 0;  // 0: n_embd / n_head
  float rms_eps = 1e-5f;
  bool qkv_bias = false;    // qwen2
  bool qk_norm = false;     // qwen3, gemma3
  bool post_norms = false;  // gemma3
  bool fused = false;       // phi3: attn_qkv, and gate and up in ffn_up
  int64_t n_swa = 0;        // gemma3: sliding window and its layer pattern
  int64_t swa_pattern = 0;
  float rope_freq_base_swa = 10000.0f;
  float final_softcap = 0.0f;
  bool longrope = false;  // phi3: rope_factors_long/short and rope.scaling.attn_factor
};

// The shapes `model synth` offers (ktiny, stories15m, llama-1b, llama3-1b,
// qwen3-0.6b, qwen2.5-0.5b, gemma3-1b, phi3-mini, and small test shapes of
// each family: ktiny-qwen2, ktiny-qwen3, ktiny-gemma3, ktiny-phi3).
const std::vector<SynthShape>& SynthShapes();
const SynthShape* FindSynthShape(const std::string& name);

struct SynthOptions {
  TensorType type = TensorType::kF32;  // matrices; norms are always F32
  uint64_t seed = 1;
  std::function<void(int done, int total)> progress;  // per tensor; may be empty
};

// Writes a GGUF v3 model of the shape's family: matrices ~ N(0, 0.02^2),
// norms 1 (llama) or 1 + N(0, 0.1^2), biases ~ N(0, 0.1^2), and a vocabulary
// of the shape's kind and size.
absl::Status SynthesizeModel(const SynthShape& shape, const SynthOptions& options,
                             const std::filesystem::path& out);

}  // namespace tcobench
