#include "workers/engine/bpe.h"

#include "workers/engine/symbol_merge.h"

#include <unicode/uchar.h>

#include <optional>

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

std::vector<std::string> SplitGpt2(absl::string_view text) {
  const std::vector<Cpt> cpts = Decode(text);
  const size_t n = cpts.size();
  std::vector<Flags> flags(n + 1);  // flags[n]: past the end, no category
  for (size_t i = 0; i < n; ++i) flags[i] = Classify(cpts[i].cp);
  std::vector<std::string> words;
  size_t start = 0;
  auto emit = [&](size_t end) {  // the pre-token from `start` to code point `end`
    if (end > start) {
      const size_t b0 = cpts[start].offset;
      const size_t b1 = end < n ? cpts[end].offset : text.size();
      words.emplace_back(text.substr(b0, b1 - b0));
    }
    start = end;
  };
  auto cp_at = [&](size_t i) { return i < n ? cpts[i].cp : 0xFFFFFFFFu; };
  size_t pos = 0;
  while (pos < n) {
    const uint32_t c = cpts[pos].cp;
    if (c == '\'' && pos + 1 < n) {  // 's 't 'm 'd 're 've 'll
      const uint32_t c1 = cp_at(pos + 1);
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        pos += 2;
        emit(pos);
        continue;
      }
      if (pos + 2 < n) {
        const uint32_t c2 = cp_at(pos + 2);
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
          pos += 3;
          emit(pos);
          continue;
        }
      }
    }
    const Flags f2 = c == ' ' ? flags[pos + 1] : flags[pos];
    if (f2.letter || f2.number) {  // ' ?\p{L}+' and ' ?\p{N}+'
      const bool letter = f2.letter;
      pos += c == ' ';
      while (pos < n && (letter ? flags[pos].letter : flags[pos].number)) ++pos;
      emit(pos);
      continue;
    }
    if (f2.defined && !f2.space && !f2.letter && !f2.number) {  // ' ?[^\s\p{L}\p{N}]+'
      pos += c == ' ';
      while (pos < n && flags[pos].defined && !flags[pos].space && !flags[pos].letter &&
             !flags[pos].number)
        ++pos;
      emit(pos);
      continue;
    }
    size_t spaces = 0;
    while (pos + spaces < n && flags[pos + spaces].space) ++spaces;
    if (spaces > 1 && pos + spaces < n) {  // '\s+(?!\S)': leave the last space to the next word
      pos += spaces - 1;
      emit(pos);
      continue;
    }
    if (spaces > 0) {  // '\s+'
      pos += spaces;
      emit(pos);
      continue;
    }
    emit(++pos);  // no rule matches: the character alone
  }
  return words;
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
