// The pair-merge loop both tokenizers share: the text is split into UTF-8
// characters and the adjacent pair with the highest priority (the leftmost
// among equal ones) is merged, again and again, while any pair has one.
// SentencePiece ranks a pair by its merged token's score, BPE by its merge
// rank (lower rank = higher priority).
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

#include "absl/strings/string_view.h"

namespace tcobench {

struct MergeSymbol {
  int prev, next;   // neighbours in the linked list, -1 at the ends
  size_t start, n;  // bytes of the text; n == 0 once merged into its left neighbour
};

inline int Utf8SequenceLength(uint8_t first) {
  static const int kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[first >> 4];
}

// `priority(symbols, left, right)` returns the pair's priority, or nullopt
// when the pair cannot merge. Returns the symbols; the survivors are reached
// by following `next` from index 0 (empty text gives no symbols).
template <typename PriorityFn>
std::vector<MergeSymbol> MergeAdjacentPairs(absl::string_view text, PriorityFn priority) {
  struct Pair {
    int left, right;
    double priority;
    size_t size;
  };
  auto worse = [](const Pair& a, const Pair& b) {
    return a.priority < b.priority || (a.priority == b.priority && a.left > b.left);
  };
  std::vector<MergeSymbol> symbols;
  for (size_t offs = 0; offs < text.size();) {
    size_t len = static_cast<size_t>(Utf8SequenceLength(static_cast<uint8_t>(text[offs])));
    if (len > text.size() - offs) len = text.size() - offs;
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, offs + len == text.size() ? -1 : index + 1, offs, len});
    offs += len;
  }
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> queue(worse);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::optional<double> p = priority(symbols, left, right);
    if (p) queue.push({left, right, *p, symbols[left].n + symbols[right].n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    MergeSymbol& left = symbols[p.left];
    MergeSymbol& right = symbols[p.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != p.size) continue;  // outdated
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = p.left;
    try_add(left.prev, p.left);
    try_add(p.left, left.next);
  }
  return symbols;
}

}  // namespace tcobench
