// What the accuracy evaluators read: a tokenizer and exact logits over a
// growing sequence. The embedded engine is one source (EngineLogits); the
// llama.cpp runtime (workers/llamacpp) is another, so perplexity, KL
// divergence and multiple choice are the same code for both.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "workers/engine/session.h"

namespace tcobench {

class LlamaModel;

// One sequence of at most the session's context length.
class LogitsSession {
 public:
  virtual ~LogitsSession() = default;
  // Forgets every position.
  virtual void Reset() = 0;
  // Keeps the first n positions and forgets the rest.
  virtual void Truncate(int64_t n) = 0;
  // Appends `tokens` at the next positions; `logits` receives (1 or n,
  // n_vocab) rows: the last position's or every position's.
  virtual absl::Status Prefill(std::span<const int32_t> tokens, LogitsMode mode,
                               std::vector<float>* logits) = 0;
};

class LogitsModel {
 public:
  virtual ~LogitsModel() = default;
  virtual int64_t n_vocab() const = 0;
  // The text's tokens; add_special adds BOS (EOS) where the vocabulary says.
  virtual std::vector<int32_t> Encode(absl::string_view text, bool add_special) const = 0;
  // The token a perplexity chunk starts with in place of its first (-1: none).
  virtual int32_t bos() const = 0;
  // The token's text as bytes (what bits per byte counts).
  virtual std::string Piece(int32_t id) const = 0;
  // The vocabulary's token strings, to tell whether two models share one.
  virtual std::vector<std::string> TokenTexts() const = 0;
  virtual absl::StatusOr<std::unique_ptr<LogitsSession>> NewSession(int64_t n_ctx) const = 0;
};

// The engine's model as a logits source (it must outlive the result).
std::unique_ptr<LogitsModel> EngineLogits(const LlamaModel& model);

}  // namespace tcobench
