// Load against an OpenAI-compatible endpoint (docs/endpoints.md): streamed
// requests under the load models
//   SINGLE_STREAM  one request at a time;
//   SERVER         open loop: requests sent at Poisson arrivals of rate
//                  target_qps (gamma-distributed gaps when burstiness is
//                  set: shape = burstiness, 1 = Poisson, below 1 burstier),
//                  however many are in flight;
//   OFFLINE / CONCURRENCY  closed loop: `concurrency` users, each sending its
//                  next request when its last one ends;
// with every streamed event timed, and the field's per-request metrics
// computed from those times (MetricsOf). Warm-up requests run first, one at
// a time, unmeasured. Requests that fail are kept, with their kind.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "workers/endpoint/http.h"
#include "workers/endpoint/openai.h"

namespace tcobench {

enum class EndpointLoad { kSingleStream, kServer, kOffline, kConcurrency };

// Connection refusals in a row after which a run stops sending: the server
// is gone, and a closed loop would otherwise count refusals as fast as it
// can make them.
inline constexpr int kRefusalsToGiveUp = 20;

// What one request asks for.
struct EndpointPrompt {
  std::string prompt;         // text (completions; chat: one user message)
  std::string messages_json;  // chat messages, when the requests file gives them
  int max_tokens = 16;
  int64_t prompt_tokens = -1;  // when known before sending (synthetic prompts)
};

struct EndpointLoadOptions {
  HttpUrl url;
  std::string api_key;  // sent as "Authorization: Bearer KEY" when set
  OpenAiApi api = OpenAiApi::kChat;
  std::string model;    // the request's model field
  bool exact_length = true;  // ask for exactly max_tokens; fewer is a failed request
  EndpointLoad load = EndpointLoad::kSingleStream;
  double target_qps = 1;   // SERVER
  double burstiness = 1;   // SERVER: gamma shape of the gaps (1 = Poisson)
  int concurrency = 1;     // OFFLINE / CONCURRENCY
  int max_in_flight = 1024;  // SERVER: senders at most; arrivals beyond wait (and count as late sends)
  int warmup_runs = 0;
  int measured_runs = 1;
  double min_duration_seconds = 0;
  double request_timeout_seconds = 300;
  uint64_t seed = 1;
  // Request i's prompt (warm-up requests come first).
  std::function<EndpointPrompt(uint64_t index)> prompt;
  // Output tokens of a text, when the server sends no usage (may be empty:
  // then the content chunks are counted, and the result says so).
  std::function<int64_t(absl::string_view text)> count_tokens;
  std::function<void()> on_window_open, on_window_close;  // may be empty
  std::function<bool()> should_stop;                      // may be empty
};

enum class RequestError { kNone, kConnect, kHttpStatus, kTimeout, kBrokenStream, kBadEvent, kServerError,
                          kWrongLength };
// "connect", "http_status", "timeout", "broken_stream", "bad_event",
// "server_error", "wrong_length" ("" for kNone).
const char* RequestErrorName(RequestError e);

enum class TokenSource { kUsage, kTokenizer, kChunks };
const char* TokenSourceName(TokenSource s);  // "usage", "tokenizer", "chunks"

// One request as it went, times in seconds since the measured window opened.
struct EndpointRecord {
  uint64_t index = 0;
  double scheduled = 0;       // when the load model wanted it sent (SERVER: its arrival)
  double sent = 0;            // the request was written
  double first_content = -1;  // the first event with non-empty content (-1: none)
  double end = 0;             // the stream ended (or failed)
  std::vector<double> content_times;  // every event with non-empty content
  int64_t prompt_tokens = -1;
  int64_t output_tokens = 0;
  int expected_output_tokens = 0;
  TokenSource token_source = TokenSource::kChunks;
  double server_tpot_seconds = -1;  // the server's own per-token time (llama-server timings)
  RequestError error = RequestError::kNone;
  std::string error_detail;
  int http_status = 0;
  std::string text;  // the generated text
};

// The field's per-request definitions (docs/endpoints.md, "Metrics"):
//   ttft = first non-empty content event - request sent
//   e2e  = end of the stream - request sent
//   tpot = (e2e - ttft) / (output tokens - 1), undefined (-1) below 2 tokens
//   itl  = every gap between consecutive content events (pooled by the caller)
struct RequestMetrics {
  double ttft = -1, tpot = -1, e2e = -1;
};
RequestMetrics MetricsOf(const EndpointRecord& r);
void AppendInterTokenLatencies(const EndpointRecord& r, std::vector<double>* out);

// A request meets the SLO when it succeeded and each bound set (> 0) holds
// for its own ttft and tpot.
struct RequestSlo {
  double ttft_seconds = 0, tpot_seconds = 0;
};
bool MeetsSlo(const EndpointRecord& r, const RequestSlo& slo);

struct EndpointRun {
  std::vector<EndpointRecord> records;  // measured requests, in order sent
  double window_seconds = 0;            // first measured send to the last end
  int64_t late_sends = 0;               // sent over 1 ms after they were due (SERVER: a client bottleneck)
  std::string ended_early;              // why sending stopped before the load model's end ("" if it did not)
  double client_seconds_per_request = 0;  // the client's own CPU time per request
};

// Performs one request now (the caller times relative to `t0`).
EndpointRecord PerformRequest(const EndpointLoadOptions& o, const EndpointPrompt& p,
                              std::chrono::steady_clock::time_point t0);

absl::StatusOr<EndpointRun> RunEndpointLoad(const EndpointLoadOptions& o);

}  // namespace tcobench
