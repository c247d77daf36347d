// Scoring requests for accuracy over an OpenAI-compatible server
// (docs/endpoints.md, "Accuracy"): one non-streamed, greedy request at a
// time, either echoing the prompt with its log-probabilities (the legacy
// completions protocol that vLLM and OpenAI speak: `echo`, `logprobs`) or
// asking for a short answer. The parsing is pure and tested on hand-written
// bodies of both protocols (vLLM's echo, llama-server's generated-only
// `logprobs.content`).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "workers/endpoint/http.h"
#include "workers/endpoint/openai.h"

namespace tcobench {

struct ScoreRequest {
  OpenAiApi api = OpenAiApi::kCompletions;
  std::string model;
  std::string prompt;
  int max_tokens = 1;
  // Completions only: echo the prompt with each token's log-probability.
  bool echo_logprobs = false;
};

// The JSON body: not streamed, temperature 0.
std::string ScoreRequestBody(const ScoreRequest& r);

struct ScoreResponse {
  std::string text;  // the generated text (choices[0].text or .message.content)
  // The prompt's tokens as echoed: their byte offsets into the prompt and
  // log-probabilities (the first token's is absent: NaN). Empty when the
  // server sent no prompt log-probabilities.
  std::vector<int64_t> offsets;
  std::vector<double> logprobs;
  bool has_prompt_logprobs() const { return offsets.size() >= 2; }
};

// INVALID_ARGUMENT when the body is not a completion (an {"error": ...}
// body's message is given).
absl::StatusOr<ScoreResponse> ParseScoreResponse(absl::string_view body);

// Sends one request to the endpoint at `base` (its /completions or
// /chat/completions); errors name the HTTP status and the server's words.
absl::StatusOr<ScoreResponse> Score(const HttpUrl& base, const std::string& api_key, const ScoreRequest& r,
                                    double timeout_seconds);

// The summed log-probability and count of the echoed tokens that start at
// or after byte `from` and before byte `to` of the prompt. An error when the
// response has no prompt log-probabilities or no token starts there.
absl::StatusOr<std::pair<double, int64_t>> SpanLogprob(const ScoreResponse& r, int64_t from, int64_t to);

// The choice letter a generated answer names ("B", " b) ...", "(C)" -> 1,
// 1, 2), or -1 when it names none of the first `choices` letters.
int AnswerLetter(absl::string_view text, int choices);

}  // namespace tcobench
