// Tokenizer built from a GGUF vocabulary, as llama.cpp implements it:
// SentencePiece-style (`tokenizer.ggml.model = llama`) with byte fallback, and
// GPT-2-style byte-level BPE (`gpt2`) with the GPT-2 pre-tokenizer
// (`tokenizer.ggml.pre = gpt-2`). Immutable after
// construction; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "workers/engine/bpe.h"
#include "workers/engine/gguf.h"

namespace tcobench {

enum class TokenKind : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class AddSpecial { kNo, kYes };  // BOS/EOS as the vocabulary asks

class Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);

  // Text to ids. With AddSpecial::kYes, BOS (and EOS) are added when the
  // vocabulary's add_bos_token (add_eos_token) say so.
  std::vector<int32_t> Encode(absl::string_view text, AddSpecial add_special) const;
  // The bytes of one token as text (control tokens give "").
  std::string Piece(int32_t id) const;
  // Concatenated pieces; with strip_leading_space, a space that the
  // tokenizer's space prefix put at the start is dropped.
  std::string Decode(const std::vector<int32_t>& ids, bool strip_leading_space) const;

  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }
  bool add_bos() const { return add_bos_; }  // tokenizer.ggml.add_bos_token
  int32_t eos() const { return eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  // True for tokens that end generation (EOS, EOT).
  bool IsEndOfGeneration(int32_t id) const { return id == eos_ || id == eot_; }

 private:
  Tokenizer() = default;
  void EncodeSpm(const std::string& text, std::vector<int32_t>* out) const;
  void EncodeBpe(absl::string_view text, std::vector<int32_t>* out) const;
  // The text split around user-defined tokens (matched first, longest
  // first, as the reference does even without special-token parsing):
  // pieces with token -1 are text to encode.
  struct Fragment {
    int32_t token;
    absl::string_view text;
  };
  std::vector<Fragment> Partition(absl::string_view text) const;
  int32_t ByteToken(uint8_t byte) const;

  bool bpe_ = false;
  bpe::PreTokenizer pre_ = bpe::PreTokenizer::kGpt2;  // for bpe_
  std::unordered_map<std::string, int32_t> merge_ranks_;  // "left right" -> rank (BPE)
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<TokenKind> kinds_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<int32_t> user_defined_;  // longest text first
  int32_t byte_tokens_[256];
  int32_t bos_ = 1, eos_ = 2, unk_ = 0, eot_ = -1;
  bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
};

}  // namespace tcobench
