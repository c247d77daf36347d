#include "workers/endpoint/scoring.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tcobench {
namespace {

using json = nlohmann::json;

}  // namespace

std::string ScoreRequestBody(const ScoreRequest& r) {
  json body;
  if (!r.model.empty()) body["model"] = r.model;
  if (r.api == OpenAiApi::kChat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", r.prompt}}});
  } else {
    body["prompt"] = r.prompt;
  }
  body["max_tokens"] = r.max_tokens;
  body["temperature"] = 0;
  body["stream"] = false;
  if (r.echo_logprobs && r.api == OpenAiApi::kCompletions) {
    body["echo"] = true;
    body["logprobs"] = 1;
  }
  return body.dump();
}

absl::StatusOr<ScoreResponse> ParseScoreResponse(absl::string_view body) {
  const json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("not JSON: ", body.substr(0, 200)));
  }
  if (j.contains("error")) {
    const json& e = j["error"];
    return absl::InvalidArgumentError(
        absl::StrCat("the server says: ", e.is_object() ? e.value("message", e.dump()) : e.dump()));
  }
  if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() || !j["choices"][0].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("no choices in the answer: ", body.substr(0, 200)));
  }
  const json& c = j["choices"][0];
  ScoreResponse r;
  if (c.contains("text") && c["text"].is_string()) r.text = c["text"].get<std::string>();
  if (c.contains("message") && c["message"].is_object() && c["message"].contains("content") &&
      c["message"]["content"].is_string()) {
    r.text = c["message"]["content"].get<std::string>();
  }
  // The legacy completions layout: parallel arrays over the echoed prompt
  // and the generated tokens. (llama-server's `logprobs.content` covers the
  // generated tokens only: no prompt log-probabilities.)
  if (c.contains("logprobs") && c["logprobs"].is_object()) {
    const json& lp = c["logprobs"];
    if (lp.contains("text_offset") && lp.contains("token_logprobs") && lp["text_offset"].is_array() &&
        lp["token_logprobs"].is_array() && lp["text_offset"].size() == lp["token_logprobs"].size()) {
      for (size_t i = 0; i < lp["text_offset"].size(); ++i) {
        const json& off = lp["text_offset"][i];
        const json& v = lp["token_logprobs"][i];
        if (!off.is_number_integer()) return absl::InvalidArgumentError("logprobs.text_offset: not integers");
        r.offsets.push_back(off.get<int64_t>());
        r.logprobs.push_back(v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN());
      }
    }
  }
  return r;
}

absl::StatusOr<ScoreResponse> Score(const HttpUrl& base, const std::string& api_key, const ScoreRequest& r,
                                    double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  std::vector<std::string> headers;
  if (!api_key.empty()) headers.push_back("Authorization: Bearer " + api_key);
  absl::StatusOr<std::unique_ptr<HttpResponse>> resp =
      HttpResponse::Post(base, ApiPath(r.api), headers, ScoreRequestBody(r), deadline);
  if (!resp.ok()) return resp.status();
  absl::StatusOr<std::string> body = (*resp)->ReadBody();
  if (!body.ok()) return body.status();
  if ((*resp)->status() != 200) {
    return absl::FailedPreconditionError(absl::StrCat("HTTP ", (*resp)->status(), ": ", body->substr(0, 400)));
  }
  return ParseScoreResponse(*body);
}

absl::StatusOr<std::pair<double, int64_t>> SpanLogprob(const ScoreResponse& r, int64_t from, int64_t to) {
  if (!r.has_prompt_logprobs()) return absl::FailedPreconditionError("the server sent no prompt log-probabilities");
  double sum = 0;
  int64_t n = 0;
  for (size_t i = 0; i < r.offsets.size(); ++i) {
    if (r.offsets[i] < from || r.offsets[i] >= to) continue;
    if (std::isnan(r.logprobs[i])) {
      return absl::InvalidArgumentError(absl::StrCat("the token at byte ", r.offsets[i], " has no log-probability"));
    }
    sum += r.logprobs[i];
    ++n;
  }
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat("no echoed token starts in bytes [", from, ", ", to, ")"));
  return std::make_pair(sum, n);
}

int AnswerLetter(absl::string_view text, int choices) {
  text = absl::StripLeadingAsciiWhitespace(text);
  while (!text.empty() && (text.front() == '(' || text.front() == '*' || text.front() == '"')) text.remove_prefix(1);
  if (text.empty()) return -1;
  const char c = absl::ascii_toupper(static_cast<unsigned char>(text.front()));
  const int k = c - 'A';
  if (k < 0 || k >= choices) return -1;
  // The letter alone, not the start of a word ("As", "Because").
  if (text.size() > 1 && absl::ascii_isalnum(static_cast<unsigned char>(text[1]))) return -1;
  return k;
}

}  // namespace tcobench
