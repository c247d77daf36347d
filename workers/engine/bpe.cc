#include "workers/engine/bpe.h"

#include "workers/engine/symbol_merge.h"

#include <unicode/uchar.h>

#include <optional>
#include <utility>

namespace tcobench::bpe {
namespace {

struct Cpt {
  uint32_t cp;    // code point, or 0xFFFFFFFF for a byte that is not valid UTF-8
  size_t offset;  // first byte in the text
  size_t length;  // bytes
};

// Decodes UTF-8; an invalid byte becomes a code point of its own with no
// Unicode category.
std::vector<Cpt> Decode(absl::string_view s) {
  std::vector<Cpt> out;
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const uint8_t c = static_cast<uint8_t>(s[i + k]);
      ok = (c >> 6) == 2;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (!ok) {
      out.push_back({0xFFFFFFFFu, i, 1});
      ++i;
    } else {
      out.push_back({cp, i, static_cast<size_t>(len)});
      i += len;
    }
  }
  return out;
}

struct Flags {
  bool letter = false, number = false, space = false, defined = false;
};

Flags Classify(uint32_t cp) {
  Flags f;
  if (cp == 0xFFFFFFFFu) return f;
  const UChar32 c = static_cast<UChar32>(cp);
  const int8_t type = u_charType(c);
  f.defined = type != U_UNASSIGNED;
  f.letter = type == U_UPPERCASE_LETTER || type == U_LOWERCASE_LETTER ||
             type == U_TITLECASE_LETTER || type == U_MODIFIER_LETTER || type == U_OTHER_LETTER;
  f.number = type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
  f.space = u_isUWhiteSpace(c);
  return f;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
// other 68 to U+0100.. in byte order.
struct ByteTables {
  uint32_t byte_to_cp[256];
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  ByteTables() {
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      byte_to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<uint8_t>(b);
    }
  }
};

const ByteTables& Tables() {
  static const ByteTables tables;
  return tables;
}

}  // namespace

namespace {

// One text being split: its code points, their classes, and the pre-tokens
// so far. The rules run over a range [begin, end) of code points and see
// nothing outside it (as the reference's later regexes see only the pieces
// the earlier ones left).
class Splitter {
 public:
  explicit Splitter(absl::string_view text) : text_(text), cpts_(Decode(text)) {
    flags_.reserve(cpts_.size());
    for (const Cpt& c : cpts_) flags_.push_back(Classify(c.cp));
  }
  size_t size() const { return cpts_.size(); }
  std::vector<std::string> Take() { return std::move(words_); }

  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  void Gpt2(size_t begin, size_t end) {
    Range r(this, begin, end);
    size_t pos = begin;
    while (pos < end) {
      const uint32_t c = r.cp(pos);
      if (size_t len = r.Contraction(pos, /*any_case=*/false)) {
        pos = r.Emit(pos + len);
        continue;
      }
      const Flags f2 = c == ' ' ? r.flags(pos + 1) : r.flags(pos);
      if (f2.letter || f2.number) {  // ' ?\p{L}+' and ' ?\p{N}+'
        const bool letter = f2.letter;
        pos += c == ' ';
        while (pos < end && (letter ? r.flags(pos).letter : r.flags(pos).number)) ++pos;
        pos = r.Emit(pos);
        continue;
      }
      if (IsOther(f2)) {  // ' ?[^\s\p{L}\p{N}]+'
        pos += c == ' ';
        while (pos < end && IsOther(r.flags(pos))) ++pos;
        pos = r.Emit(pos);
        continue;
      }
      pos = r.Spaces(pos, /*newline_rule=*/false);
    }
  }

  // Llama 3's rule ("llama-bpe"):
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  // Qwen2's is the same with \p{N} alone (max_digits 1).
  void Llama3(size_t begin, size_t end, size_t max_digits = 3) {
    Range r(this, begin, end);
    size_t pos = begin;
    while (pos < end) {
      const uint32_t c = r.cp(pos);
      const Flags f = r.flags(pos);
      if (size_t len = r.Contraction(pos, /*any_case=*/true)) {
        pos = r.Emit(pos + len);
        continue;
      }
      if (c != '\r' && c != '\n' && !f.number && (f.letter || r.flags(pos + 1).letter)) {
        ++pos;  // one leading non-letter (or the first letter), then letters
        while (r.flags(pos).letter) ++pos;
        pos = r.Emit(pos);
        continue;
      }
      if (f.number) {  // digits in groups of up to three
        const size_t start = pos;
        while (pos < end && r.flags(pos).number && pos - start < max_digits) ++pos;
        pos = r.Emit(pos);
        continue;
      }
      const Flags f2 = c == ' ' ? r.flags(pos + 1) : f;
      if (IsOther(f2)) {  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        pos += c == ' ';
        while (pos < end && IsOther(r.flags(pos))) ++pos;
        while (pos < end && (r.cp(pos) == '\r' || r.cp(pos) == '\n')) ++pos;
        pos = r.Emit(pos);
        continue;
      }
      pos = r.Spaces(pos, /*newline_rule=*/true);
    }
  }

  // Every number character alone, the text between them by GPT-2's rule
  // (StarCoder, Refact, SmolLM).
  void DigitsThenGpt2(size_t begin, size_t end) {
    size_t run = begin;
    for (size_t i = begin; i < end; ++i) {
      if (!flags_[i].number) continue;
      Gpt2(run, i);
      Gpt2(i, i + 1);
      run = i + 1;
    }
    Gpt2(run, end);
  }

 private:
  static bool IsOther(const Flags& f) { return f.defined && !f.space && !f.letter && !f.number; }

  class Range {
   public:
    Range(Splitter* s, size_t begin, size_t end) : s_(s), start_(begin), end_(end) {}
    uint32_t cp(size_t i) const { return i < end_ ? s_->cpts_[i].cp : 0xFFFFFFFFu; }
    Flags flags(size_t i) const { return i < end_ ? s_->flags_[i] : Flags{}; }
    // The pre-token from the last emitted end to `end`; returns `end`.
    size_t Emit(size_t end) {
      if (end > start_) {
        const size_t b0 = s_->cpts_[start_].offset;
        const size_t b1 = end < s_->cpts_.size() ? s_->cpts_[end].offset : s_->text_.size();
        s_->words_.emplace_back(s_->text_.substr(b0, b1 - b0));
      }
      start_ = end;
      return end;
    }
    // Length of a contraction ('s 't 'm 'd 're 've 'll) at pos, or 0.
    size_t Contraction(size_t pos, bool any_case) const {
      if (cp(pos) != '\'') return 0;
      auto lower = [&](size_t i) {
        const uint32_t c = cp(i);
        return any_case && c != 0xFFFFFFFFu ? static_cast<uint32_t>(u_tolower(static_cast<UChar32>(c)))
                                            : c;
      };
      const uint32_t c1 = lower(pos + 1);
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
      const uint32_t c2 = lower(pos + 2);
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
      return 0;
    }
    // The white-space rules at pos: (with newline_rule, '\s*[\r\n]+' first)
    // '\s+(?!\S)' then '\s+'; a character no rule matches goes alone.
    size_t Spaces(size_t pos, bool newline_rule) {
      size_t spaces = 0, after_newline = 0;
      while (pos + spaces < end_ && s_->flags_[pos + spaces].space) {
        const uint32_t c = s_->cpts_[pos + spaces].cp;
        ++spaces;
        if (c == '\r' || c == '\n') after_newline = pos + spaces;
      }
      if (newline_rule && after_newline > 0) return Emit(after_newline);
      if (spaces > 1 && pos + spaces < end_) return Emit(pos + spaces - 1);  // last one to the next word
      if (spaces > 0) return Emit(pos + spaces);
      return Emit(pos + 1);
    }

   private:
    Splitter* s_;
    size_t start_;
    size_t end_;
  };

  absl::string_view text_;
  std::vector<Cpt> cpts_;
  std::vector<Flags> flags_;
  std::vector<std::string> words_;
};

struct NamedRule {
  const char* name;
  PreTokenizer rule;
};
// tokenizer.ggml.pre values and the rule each names (as the reference maps
// them). Names whose files also need added tokens matched before the split
// (mpt's runs of spaces, for one) are left out until that is written.
constexpr NamedRule kPreTokenizers[] = {
    {"gpt-2", PreTokenizer::kGpt2},
    {"llama-bpe", PreTokenizer::kLlama3},
    {"llama3", PreTokenizer::kLlama3},
    {"llama-v3", PreTokenizer::kLlama3},
    {"qwen2", PreTokenizer::kQwen2},
    {"smollm", PreTokenizer::kDigitsThenGpt2},
    {"starcoder", PreTokenizer::kDigitsThenGpt2},
    {"refact", PreTokenizer::kDigitsThenGpt2},
};

}  // namespace

std::optional<PreTokenizer> PreTokenizerByName(absl::string_view name) {
  for (const NamedRule& r : kPreTokenizers) {
    if (name == r.name) return r.rule;
  }
  return std::nullopt;
}

std::string SupportedPreTokenizers() {
  std::string out;
  for (const NamedRule& r : kPreTokenizers) {
    if (!out.empty()) out += ", ";
    out += r.name;
  }
  return out;
}

bool IgnoresMerges(PreTokenizer rule) { return rule == PreTokenizer::kLlama3; }

std::vector<std::string> PreTokenize(PreTokenizer rule, absl::string_view text) {
  Splitter s(text);
  switch (rule) {
    case PreTokenizer::kGpt2:
      s.Gpt2(0, s.size());
      break;
    case PreTokenizer::kLlama3:
      s.Llama3(0, s.size());
      break;
    case PreTokenizer::kQwen2:
      s.Llama3(0, s.size(), /*max_digits=*/1);
      break;
    case PreTokenizer::kDigitsThenGpt2:
      s.DigitsThenGpt2(0, s.size());
      break;
  }
  return s.Take();
}

std::string ByteEncode(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendUtf8(Tables().byte_to_cp[b], &out);
  return out;
}

std::string ByteDecode(absl::string_view text) {
  std::string out;
  for (const Cpt& c : Decode(text)) {
    auto it = c.cp == 0xFFFFFFFFu ? Tables().cp_to_byte.end() : Tables().cp_to_byte.find(c.cp);
    if (it != Tables().cp_to_byte.end()) {
      out.push_back(static_cast<char>(it->second));
    } else {
      out.append(text.data() + c.offset, c.length);
    }
  }
  return out;
}

std::vector<std::string> Merge(const std::string& word,
                               const std::unordered_map<std::string, int32_t>& rank_of) {
  // A pair may merge when "left right" is a merge rule; lower ranks first.
  const std::vector<MergeSymbol> symbols = MergeAdjacentPairs(
      word, [&](const std::vector<MergeSymbol>& sym, int left, int right) -> std::optional<double> {
        const std::string key = word.substr(sym[left].start, sym[left].n) + " " +
                                word.substr(sym[right].start, sym[right].n);
        auto it = rank_of.find(key);
        if (it == rank_of.end()) return std::nullopt;
        return -static_cast<double>(it->second);
      });
  std::vector<std::string> out;
  if (symbols.empty()) return out;
  for (int i = 0; i != -1; i = symbols[i].next) {
    out.push_back(word.substr(symbols[i].start, symbols[i].n));
  }
  return out;
}

}  // namespace tcobench::bpe
