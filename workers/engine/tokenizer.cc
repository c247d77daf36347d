#include "workers/engine/tokenizer.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "workers/engine/bpe.h"
#include "common/base/status_macros.h"
#include "workers/engine/symbol_merge.h"

namespace tcobench {
namespace {

constexpr char kSpaceMarker[] = "\xe2\x96\x81";  // U+2581, SentencePiece's space

std::string ReplaceAll(absl::string_view s, absl::string_view from, absl::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, from.size(), from) == 0) {
      out.append(to.data(), to.size());
      i += from.size();
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// Parses "<0xXX>" byte-token text.
int ParseByteToken(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = text[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else
      return -1;
  }
  return v;
}

absl::StatusOr<int32_t> OptionalId(const GgufFile& file, absl::string_view key, int32_t fallback,
                                   int32_t n_vocab) {
  const GgufValue* v = file.Find(key);
  if (v == nullptr) return fallback;
  TCOBENCH_ASSIGN_OR_RETURN(const uint64_t id, file.GetUint(key));
  if (id == 0xFFFFFFFFu) return -1;  // "none", as some converters write it
  if (id >= static_cast<uint64_t>(n_vocab)) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.name(), ": ", key, " = ", id, " is outside the vocabulary of ", n_vocab));
  }
  return static_cast<int32_t>(id);
}

absl::StatusOr<bool> OptionalBool(const GgufFile& file, absl::string_view key, bool fallback) {
  if (file.Find(key) == nullptr) return fallback;
  return file.GetBool(key);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  absl::StatusOr<std::string> model = file.GetString("tokenizer.ggml.model");
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.name(), ": no usable tokenizer.ggml.model (", model.status().message(),
                     "); supported tokenizer models: llama (SentencePiece)"));
  }
  if (*model != "llama" && *model != "gpt2") {
    return absl::InvalidArgumentError(absl::StrCat(
        file.name(), ": tokenizer model '", *model,
        "' is not supported; supported: llama (SentencePiece), gpt2 (byte-level BPE)"));
  }
  tok->bpe_ = *model == "gpt2";
  if (tok->bpe_) {
    // Each pre-tokenizer is its own set of split rules (llama.cpp's "default"
    // rules for files without the key differ from all of ours).
    const GgufValue* pre = file.Find("tokenizer.ggml.pre");
    const std::string pre_name =
        pre != nullptr && pre->type == GgufValueType::kString ? pre->str : "(none)";
    const std::optional<bpe::PreTokenizer> rule = bpe::PreTokenizerByName(pre_name);
    if (!rule.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.name(), ": BPE pre-tokenizer '", pre_name,
                       "' (tokenizer.ggml.pre) is not supported yet; supported: ",
                       bpe::SupportedPreTokenizers()));
    }
    tok->pre_ = *rule;
    const GgufValue* merges = file.Find("tokenizer.ggml.merges");
    if (merges == nullptr || merges->type != GgufValueType::kArray ||
        merges->elem_type != GgufValueType::kString) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.name(), ": a gpt2 tokenizer needs tokenizer.ggml.merges (a string array)"));
    }
    tok->merge_ranks_.reserve(merges->strings.size());
    for (size_t r = 0; r < merges->strings.size(); ++r) {
      tok->merge_ranks_.emplace(merges->strings[r], static_cast<int32_t>(r));
    }
  }
  const GgufValue* tokens = file.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type != GgufValueType::kArray ||
      tokens->elem_type != GgufValueType::kString || tokens->count == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.name(), ": tokenizer.ggml.tokens is missing or not a string array"));
  }
  if (tokens->count > (1u << 24)) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.name(), ": vocabulary of ", tokens->count, " tokens is too large"));
  }
  const int64_t n = static_cast<int64_t>(tokens->count);
  tok->tokens_ = tokens->strings;
  tok->scores_.assign(n, 0.0f);
  tok->kinds_.assign(n, TokenKind::kNormal);
  if (const GgufValue* scores = file.Find("tokenizer.ggml.scores")) {
    if (scores->type != GgufValueType::kArray || scores->count != tokens->count ||
        scores->elem_type == GgufValueType::kString || scores->elem_type == GgufValueType::kArray) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.name(), ": tokenizer.ggml.scores must be a numeric array of ", n, " entries"));
    }
    for (int64_t i = 0; i < n; ++i) tok->scores_[i] = static_cast<float>(scores->NumberAt(i));
  }
  if (const GgufValue* types = file.Find("tokenizer.ggml.token_type")) {
    if (types->type != GgufValueType::kArray || types->count != tokens->count ||
        types->elem_type == GgufValueType::kString || types->elem_type == GgufValueType::kArray) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.name(), ": tokenizer.ggml.token_type must be an integer array of ", n, " entries"));
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = types->IntegerAt(i);
      tok->kinds_[i] = (k >= 0 && k <= 6) ? static_cast<TokenKind>(k) : TokenKind::kUndefined;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    tok->ids_[tok->tokens_[i]] = static_cast<int32_t>(i);
    if (tok->kinds_[i] == TokenKind::kUserDefined && !tok->tokens_[i].empty()) {
      tok->user_defined_.push_back(static_cast<int32_t>(i));
    }
  }
  std::sort(tok->user_defined_.begin(), tok->user_defined_.end(), [&](int32_t a, int32_t b) {
    const size_t la = tok->tokens_[a].size(), lb = tok->tokens_[b].size();
    return la != lb ? la > lb : a < b;  // longest first, then by id
  });
  const int32_t nv = static_cast<int32_t>(n);
  TCOBENCH_ASSIGN_OR_RETURN(tok->bos_,
                            OptionalId(file, "tokenizer.ggml.bos_token_id", nv > 1 ? 1 : -1, nv));
  TCOBENCH_ASSIGN_OR_RETURN(tok->eos_,
                            OptionalId(file, "tokenizer.ggml.eos_token_id", nv > 2 ? 2 : -1, nv));
  TCOBENCH_ASSIGN_OR_RETURN(tok->unk_, OptionalId(file, "tokenizer.ggml.unknown_token_id", 0, nv));
  TCOBENCH_ASSIGN_OR_RETURN(tok->eot_, OptionalId(file, "tokenizer.ggml.eot_token_id", -1, nv));
  TCOBENCH_ASSIGN_OR_RETURN(tok->add_bos_,
                            OptionalBool(file, "tokenizer.ggml.add_bos_token", true));
  TCOBENCH_ASSIGN_OR_RETURN(tok->add_eos_,
                            OptionalBool(file, "tokenizer.ggml.add_eos_token", false));
  TCOBENCH_ASSIGN_OR_RETURN(tok->add_space_prefix_,
                            OptionalBool(file, "tokenizer.ggml.add_space_prefix", !tok->bpe_));
  for (int b = 0; b < 256; ++b) {
    auto it = tok->ids_.find(absl::StrFormat("<0x%02X>", b));
    if (it == tok->ids_.end()) it = tok->ids_.find(std::string(1, static_cast<char>(b)));
    tok->byte_tokens_[b] = it != tok->ids_.end() ? it->second : tok->unk_;
  }
  return tok;
}

int32_t Tokenizer::ByteToken(uint8_t byte) const { return byte_tokens_[byte]; }

void Tokenizer::EncodeSpm(const std::string& text, std::vector<int32_t>* out) const {
  // A pair may merge when the vocabulary has their concatenation; its score
  // is the priority. Each candidate is remembered for splitting back below.
  std::unordered_map<std::string, std::pair<int, int>> rev_merge;
  const std::vector<MergeSymbol> symbols = MergeAdjacentPairs(
      text, [&](const std::vector<MergeSymbol>& sym, int left, int right) -> std::optional<double> {
        std::string piece = text.substr(sym[left].start, sym[left].n + sym[right].n);
        auto it = ids_.find(piece);
        if (it == ids_.end()) return std::nullopt;
        rev_merge[std::move(piece)] = {left, right};
        return scores_[it->second];
      });
  if (symbols.empty()) return;
  // Emits a symbol: as one token when the vocabulary has it, else split back
  // along the merge that made it, else as byte tokens. Symbols keep their
  // start offsets through merges, so a merge's left part is the text between
  // the two starts.
  auto emit = [&](auto&& self, const std::string& piece) -> void {
    auto it = ids_.find(piece);
    if (it != ids_.end()) {
      out->push_back(it->second);
      return;
    }
    auto m = rev_merge.find(piece);
    if (m == rev_merge.end()) {
      for (unsigned char c : piece) out->push_back(ByteToken(c));
      return;
    }
    const size_t left_len = symbols[m->second.second].start - symbols[m->second.first].start;
    if (left_len == 0 || left_len >= piece.size()) {
      for (unsigned char c : piece) out->push_back(ByteToken(c));
      return;
    }
    self(self, piece.substr(0, left_len));
    self(self, piece.substr(left_len));
  };
  for (int i = 0; i != -1; i = symbols[i].next) {
    emit(emit, text.substr(symbols[i].start, symbols[i].n));
  }
}

void Tokenizer::EncodeBpe(absl::string_view text, std::vector<int32_t>* out) const {
  const bool whole_words = bpe::IgnoresMerges(pre_);
  for (const std::string& word : bpe::PreTokenize(pre_, text)) {
    const std::string encoded = bpe::ByteEncode(word);
    if (whole_words) {  // a pre-token that is a vocabulary entry is that token
      if (auto it = ids_.find(encoded); it != ids_.end()) {
        out->push_back(it->second);
        continue;
      }
    }
    for (const std::string& symbol : bpe::Merge(encoded, merge_ranks_)) {
      auto it = ids_.find(symbol);
      if (it != ids_.end()) {
        out->push_back(it->second);
        continue;
      }
      // Not in the vocabulary (a sparse vocabulary): its characters one by one.
      for (size_t i = 0; i < symbol.size();) {
        const size_t len = std::min<size_t>(Utf8SequenceLength(static_cast<uint8_t>(symbol[i])),
                                            symbol.size() - i);
        auto ch = ids_.find(symbol.substr(i, len));
        if (ch != ids_.end()) out->push_back(ch->second);
        i += len;
      }
    }
  }
}

std::vector<Tokenizer::Fragment> Tokenizer::Partition(absl::string_view text) const {
  std::vector<Fragment> parts = {{-1, text}};
  for (int32_t id : user_defined_) {
    const std::string& t = tokens_[id];
    std::vector<Fragment> next;
    for (const Fragment& f : parts) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      absl::string_view rest = f.text;
      for (size_t at = rest.find(t); at != absl::string_view::npos; at = rest.find(t)) {
        if (at > 0) next.push_back({-1, rest.substr(0, at)});
        next.push_back({id, rest.substr(at, t.size())});
        rest.remove_prefix(at + t.size());
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    parts = std::move(next);
  }
  return parts;
}

std::vector<int32_t> Tokenizer::Encode(absl::string_view text, AddSpecial add_special) const {
  std::vector<int32_t> out;
  const bool special = add_special == AddSpecial::kYes;
  if (special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  // SentencePiece text gets its space prefix at the start and after each
  // user-defined token, as the reference does.
  bool after_token = true;
  for (const Fragment& f : text.empty() ? std::vector<Fragment>{} : Partition(text)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_token = true;
      continue;
    }
    if (bpe_) {
      EncodeBpe(f.text, &out);
    } else {
      std::string s = add_space_prefix_ && after_token ? absl::StrCat(" ", f.text)
                                                        : std::string(f.text);
      EncodeSpm(ReplaceAll(s, " ", kSpaceMarker), &out);
    }
    after_token = false;
  }
  if (special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

std::string Tokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return "";
  switch (kinds_[id]) {
    case TokenKind::kNormal:
    case TokenKind::kUndefined:
    case TokenKind::kUnused:
      return bpe_ ? bpe::ByteDecode(tokens_[id]) : ReplaceAll(tokens_[id], kSpaceMarker, " ");
    case TokenKind::kUserDefined:
      return tokens_[id];
    case TokenKind::kUnknown:
      return "\xe2\x96\x85";  // what the reference prints for <unk>
    case TokenKind::kControl:
      return "";
    case TokenKind::kByte: {
      const int b = ParseByteToken(tokens_[id]);
      return b >= 0 ? std::string(1, static_cast<char>(b)) : tokens_[id];
    }
  }
  return "";
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool strip_leading_space) const {
  std::string out;
  for (int32_t id : ids) out += Piece(id);
  if (strip_leading_space && add_space_prefix_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace tcobench
