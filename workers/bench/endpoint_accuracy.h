// Accuracy over an OpenAI-compatible endpoint (docs/endpoints.md,
// "Accuracy"): multiple-choice tasks scored by each ending's log-likelihood
// where the server echoes prompt log-probabilities (vLLM's and OpenAI's
// completions `echo` + `logprobs`), else by the greedy answer naming a
// letter (exact match); perplexity from the echoed log-probabilities where
// there are some; KL divergence never (a server gives at most the top few
// log-probabilities of a position, not its distribution). The result's
// note says which method ran and why a metric is missing.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "tcobench/v1/types.pb.h"
#include "workers/bench/comparison.h"
#include "workers/endpoint/http.h"
#include "workers/endpoint/openai.h"
#include "workers/engine/evaluators.h"

namespace tcobench {

struct EndpointScorer {
  HttpUrl url;
  std::string api_key;
  std::string model;                    // the requests' `model`
  OpenAiApi api = OpenAiApi::kChat;     // for generated answers
  double timeout_seconds = 300;         // per request
  std::function<void(const std::string&)> progress;  // may be empty
};

// Evaluates the spec's accuracy suites against the endpoint into `out`.
// Errors are only those of the spec's files; a server failing mid-way
// leaves the metric missing with the reason in `out->note()`.
absl::Status MeasureEndpointAccuracy(const v1::ComparisonSpec& spec, const EndpointScorer& scorer,
                                     const LocalRunOptions& o, v1::AccuracyResult* out);

// The prompt of a generated answer: the task's question or passage, its
// endings lettered A, B, ..., and "Answer:".
std::string LetteredPrompt(const ChoiceTask& task);

}  // namespace tcobench
