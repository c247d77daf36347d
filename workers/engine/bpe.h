// Byte-level BPE (GPT-2 style) pieces for the tokenizer: the GPT-2
// pre-tokenizer split, the byte <-> unicode mapping, and the merge loop.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/string_view.h"

namespace tcobench::bpe {

// Splits text into pre-tokens with the GPT-2 rule
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (Unicode letters, numbers and white space as ICU classifies them).
std::vector<std::string> SplitGpt2(absl::string_view text);

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
