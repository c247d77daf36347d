#include "workers/endpoint/openai.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tcobench {

using nlohmann::json;

absl::StatusOr<OpenAiApi> ParseOpenAiApi(absl::string_view name) {
  if (name.empty() || name == "chat") return OpenAiApi::kChat;
  if (name == "completions") return OpenAiApi::kCompletions;
  return absl::InvalidArgumentError(absl::StrCat("api '", name, "' is unknown (chat, completions)"));
}

absl::string_view ApiPath(OpenAiApi api) {
  return api == OpenAiApi::kChat ? "/chat/completions" : "/completions";
}

std::string RequestBody(const OpenAiRequest& r) {
  json body;
  if (!r.model.empty()) body["model"] = r.model;
  if (r.api == OpenAiApi::kChat) {
    json messages = r.messages_json.empty() ? json::array({{{"role", "user"}, {"content", r.prompt}}})
                                            : json::parse(r.messages_json, nullptr, false);
    body["messages"] = messages.is_discarded() ? json::array() : messages;
  } else {
    body["prompt"] = r.prompt;
  }
  body["max_tokens"] = r.max_tokens;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body["temperature"] = 0;
  if (r.seed != 0) body["seed"] = r.seed;
  if (r.exact_length) {
    body["ignore_eos"] = true;           // vLLM, SGLang, llama-server
    body["min_tokens"] = r.max_tokens;   // vLLM, SGLang
  }
  return body.dump();
}

void SseParser::Feed(absl::string_view bytes, const std::function<void(absl::string_view data)>& on_event) {
  size_t start = 0;
  while (start <= bytes.size()) {
    const size_t nl = bytes.find('\n', start);
    if (nl == absl::string_view::npos) {
      absl::StrAppend(&line_, bytes.substr(start));
      return;
    }
    absl::StrAppend(&line_, bytes.substr(start, nl - start));
    start = nl + 1;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {  // the event's end
      if (has_data_) on_event(data_);
      data_.clear();
      has_data_ = false;
    } else if (absl::StartsWith(line_, "data:")) {
      absl::string_view value = absl::string_view(line_).substr(5);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (has_data_) data_ += '\n';
      absl::StrAppend(&data_, value);
      has_data_ = true;
    }  // comments (":"), event:, id:, retry: carry nothing measured
    line_.clear();
  }
}

absl::StatusOr<StreamChunk> ParseStreamChunk(absl::string_view data) {
  StreamChunk c;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(data);
  if (trimmed == "[DONE]") {
    c.done = true;
    return c;
  }
  const json j = json::parse(trimmed, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("a streamed event is not JSON: '", trimmed.substr(0, 120), "'"));
  }
  if (j.contains("error")) {
    const json& e = j["error"];
    c.error = e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>()
                                                                                 : e.dump();
    return c;
  }
  if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
    const json& choice = j["choices"][0];
    if (choice.contains("delta") && choice["delta"].is_object()) {
      const json& d = choice["delta"];
      if (d.contains("content") && d["content"].is_string()) c.text = d["content"].get<std::string>();
    } else if (choice.contains("text") && choice["text"].is_string()) {
      c.text = choice["text"].get<std::string>();
    }
    if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
      c.finish_reason = choice["finish_reason"].get<std::string>();
    }
  }
  if (j.contains("usage") && j["usage"].is_object()) {
    const json& u = j["usage"];
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number()) {
      c.has_usage = true;
      c.completion_tokens = u["completion_tokens"].get<int64_t>();
      if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number()) {
        c.prompt_tokens = u["prompt_tokens"].get<int64_t>();
      }
    }
  }
  if (j.contains("timings") && j["timings"].is_object()) {
    const json& t = j["timings"];
    if (t.contains("predicted_per_token_ms") && t["predicted_per_token_ms"].is_number()) {
      c.server_predicted_per_token_ms = t["predicted_per_token_ms"].get<double>();
    }
    if (t.contains("prompt_ms") && t["prompt_ms"].is_number()) c.server_prompt_ms = t["prompt_ms"].get<double>();
  }
  return c;
}

}  // namespace tcobench
