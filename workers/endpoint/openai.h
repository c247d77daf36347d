// The OpenAI-compatible streaming protocol as vLLM, SGLang, TGI, Ollama and
// llama.cpp's llama-server speak it: request bodies for /chat/completions and
// /completions, server-sent events, and what each streamed chunk carries
// (text, usage, the server's own timings). No I/O here but through
// HttpResponse; the parsing is pure and tested on hand-written streams.
#pragma once

#include <functional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace tcobench {

enum class OpenAiApi { kChat, kCompletions };

// "chat" or "completions" ("" = chat).
absl::StatusOr<OpenAiApi> ParseOpenAiApi(absl::string_view name);
absl::string_view ApiPath(OpenAiApi api);  // "/chat/completions" or "/completions"

struct OpenAiRequest {
  OpenAiApi api = OpenAiApi::kChat;
  std::string model;                 // the request's `model` field
  std::string prompt;                // completions; or chat as one user message
  std::string messages_json;         // chat: a JSON array of messages, used when set
  int max_tokens = 16;
  // Asks for exactly max_tokens (ignore_eos, min_tokens): servers that do
  // not know the fields ignore them.
  bool exact_length = true;
  uint64_t seed = 0;
};

// The JSON body: stream on, usage in the last chunk, temperature 0.
std::string RequestBody(const OpenAiRequest& r);

// Server-sent events: bytes in, each event's data (data lines joined by
// '\n') out. Comments and other fields are skipped.
class SseParser {
 public:
  // Calls on_event for every event completed by `bytes`.
  void Feed(absl::string_view bytes, const std::function<void(absl::string_view data)>& on_event);
  // Data of an event still open when the stream ended ("" if none).
  std::string Pending() const { return data_; }

 private:
  std::string line_;  // a line not yet ended
  std::string data_;  // the current event's data
  bool has_data_ = false;
};

// What one streamed chunk (one event's JSON) says.
struct StreamChunk {
  bool done = false;          // the "[DONE]" sentinel
  std::string text;           // choices[0].delta.content (chat) or choices[0].text
  std::string finish_reason;  // when the choice finished
  bool has_usage = false;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  // llama-server's own timings, when sent (-1: absent).
  double server_predicted_per_token_ms = -1;
  double server_prompt_ms = -1;
  std::string error;  // an {"error": ...} event's message
};

// Parses one event's data; INVALID_ARGUMENT when it is not the protocol's JSON.
absl::StatusOr<StreamChunk> ParseStreamChunk(absl::string_view data);

}  // namespace tcobench
