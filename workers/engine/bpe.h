// Byte-level BPE (GPT-2 style) pieces for the tokenizer: the GPT-2
// pre-tokenizer split, the byte <-> unicode mapping, and the merge loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/string_view.h"

namespace tcobench::bpe {

// The pre-tokenizer rules (tokenizer.ggml.pre) the engine implements, with
// Unicode letters, numbers and white space as ICU classifies them:
//   kGpt2           's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3         (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//                    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   kDigitsThenGpt2 every \p{N} alone, then kGpt2 on the pieces between
// kQwen2 is Llama 3's rule with numbers split into single digits.
enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kDigitsThenGpt2 };

// Whether a pre-token that is itself a vocabulary entry is taken whole,
// merges not applied (Llama 3's tokenizer: `ignore_merges`).
bool IgnoresMerges(PreTokenizer rule);

// The rule a tokenizer.ggml.pre value names, or nullopt when not implemented.
std::optional<PreTokenizer> PreTokenizerByName(absl::string_view name);
// The names PreTokenizerByName accepts, comma-separated (for error messages).
std::string SupportedPreTokenizers();
// Splits text into pre-tokens by `rule`.
std::vector<std::string> PreTokenize(PreTokenizer rule, absl::string_view text);

// Each byte as the printable character GPT-2's vocabulary spells it with.
std::string ByteEncode(absl::string_view bytes);
// The inverse; characters outside the mapping are kept as their UTF-8 bytes.
std::string ByteDecode(absl::string_view text);

// Merges the characters of `word` (already byte-encoded) by rank: the pair
// with the lowest rank first, the leftmost among equal ranks. `rank_of` maps
// "left right" to its merge rank. Returns the final symbols.
std::vector<std::string> Merge(const std::string& word,
                               const std::unordered_map<std::string, int32_t>& rank_of);

}  // namespace tcobench::bpe
