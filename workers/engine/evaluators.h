// Accuracy evaluators over any logits source (the engine, libllama): perplexity and KL divergence
// the way llama-perplexity computes them, and multiple-choice accuracy
// (HellaSwag, ARC-Easy) by length-normalised log-likelihood. See
// docs/evaluation.md for every formula. Each call uses its own sessions; the
// models must not be used by another thread meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "workers/engine/llama_model.h"
#include "workers/engine/logits_model.h"

namespace tcobench {

using ProgressFn = std::function<void(int64_t done, int64_t total)>;

struct ChunkOptions {
  int64_t ctx = 512;       // tokens per chunk
  int64_t max_chunks = 0;  // 0: every whole chunk of the text
  ProgressFn progress;     // per chunk; may be empty
};

struct PerplexityResult {
  double ppl = 0;
  double ppl_stderr = 0;
  int64_t chunks = 0;
  int64_t scored_tokens = 0;
  int64_t text_tokens = 0;   // tokens of the whole text, BOS included
  double mean_nll = 0;       // nats per scored token
  double bits_per_byte = 0;  // sum NLL / ln 2 / bytes of the scored tokens' text
};

absl::StatusOr<PerplexityResult> EvaluatePerplexity(const LogitsModel& model, absl::string_view text,
                                                    const ChunkOptions& options);
absl::StatusOr<PerplexityResult> EvaluatePerplexity(const LlamaModel& model, absl::string_view text,
                                                    const ChunkOptions& options);

struct KldResult {
  double mean_kld = 0, mean_kld_stderr = 0;
  double kld_p999 = 0, kld_p99 = 0, kld_p95 = 0, kld_p90 = 0, kld_median = 0, kld_max = 0;
  double rms_dp = 0;  // root mean square of p_candidate(target) - p_base(target)
  double same_top1 = 0, same_top1_stderr = 0;  // fractions
  double ppl_base = 0, ppl_base_stderr = 0;
  double ppl_candidate = 0, ppl_candidate_stderr = 0;
  double ppl_ratio = 0;  // ppl_candidate / ppl_base
  int64_t chunks = 0;
  int64_t scored_tokens = 0;
};

// KL(base || candidate) per scored token, from both models' exact logits;
// the text is tokenized by the base.
absl::StatusOr<KldResult> EvaluateKld(const LogitsModel& base, const LogitsModel& candidate,
                                      absl::string_view text, const ChunkOptions& options);
absl::StatusOr<KldResult> EvaluateKld(const LlamaModel& base, const LlamaModel& candidate,
                                      absl::string_view text, const ChunkOptions& options);

struct ChoiceTask {
  std::string context;
  std::vector<std::string> endings;  // each is scored as context + " " + ending
  int gold = 0;
};

// HellaSwag in llama.cpp's text format: 6 lines per task (context, gold
// index, 4 endings).
absl::StatusOr<std::vector<ChoiceTask>> ParseHellaswag(absl::string_view text,
                                                       const std::string& name);
// ARC in the Hugging Face JSON layout (question, choices.text/label, answerKey);
// the context is "Question: <q>\nAnswer:".
absl::StatusOr<std::vector<ChoiceTask>> ParseArc(absl::string_view json, const std::string& name);

struct ChoiceResult {
  int64_t n = 0;
  double accuracy = 0, accuracy_stderr = 0;                            // length-normalised scores
  double accuracy_unnormalized = 0, accuracy_unnormalized_stderr = 0;  // summed log-likelihoods
  std::vector<int> predicted;  // per task, the normalised choice
  // Per task and ending: summed log-likelihood and token count of the ending.
  std::vector<std::vector<double>> ending_logprob;
  std::vector<std::vector<int64_t>> ending_tokens;
};

absl::StatusOr<ChoiceResult> EvaluateChoice(const LogitsModel& model,
                                            const std::vector<ChoiceTask>& tasks,
                                            ProgressFn progress);
absl::StatusOr<ChoiceResult> EvaluateChoice(const LlamaModel& model,
                                            const std::vector<ChoiceTask>& tasks,
                                            ProgressFn progress);

}  // namespace tcobench
