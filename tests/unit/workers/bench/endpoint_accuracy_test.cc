// Accuracy over an endpoint against a fake OpenAI-compatible server on
// loopback: one that echoes prompt log-probabilities (vLLM's layout) and one
// that does not (llama-server's), with hand-computed expectations.
#define BOOST_TEST_MODULE endpoint_accuracy
#include "workers/bench/endpoint_accuracy.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/loopback.h"
#include "tests/test_support.h"
#include "workers/endpoint/scoring.h"

namespace tcobench {
namespace {

using json = nlohmann::json;

// Serves /v1/completions and /v1/chat/completions, one request per
// connection. With `echo`, an echoed prompt comes back with one token per
// space-separated word: log-probability -0.1 for a word containing "right",
// -2 for others, so the ending with "right" in it wins. Without, the
// answer is llama-server's (generated tokens only) and its text `answer`.
class FakeServer {
 public:
  FakeServer(bool echo, std::string answer) : echo_(echo), answer_(std::move(answer)) {
    fd_ = testing::ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int requests() const { return requests_; }

 private:
  void Serve() {
    while (true) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[65536];
      size_t body_at = std::string::npos, length = 0;
      while (true) {
        const ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
        if (body_at == std::string::npos && (body_at = req.find("\r\n\r\n")) != std::string::npos) {
          body_at += 4;
          const size_t cl = req.find("Content-Length: ");
          length = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
        }
        if (body_at != std::string::npos && req.size() >= body_at + length) break;
      }
      ++requests_;
      const json in = json::parse(req.substr(body_at), nullptr, false);
      const std::string body = Answer(in).dump();
      const std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
      send(c, out.data(), out.size(), MSG_NOSIGNAL);
      close(c);
    }
  }
  json Answer(const json& in) const {
    json choice = {{"index", 0}, {"finish_reason", "length"}};
    if (echo_ && in.value("echo", false)) {
      const std::string prompt = in.value("prompt", "");
      json offsets = json::array(), logprobs = json::array(), tokens = json::array();
      size_t at = 0;
      while (at < prompt.size()) {
        size_t end = prompt.find(' ', at + 1);
        if (end == std::string::npos) end = prompt.size();
        const std::string word = prompt.substr(at, end - at);
        offsets.push_back(at);
        tokens.push_back(word);
        if (at == 0) {
          logprobs.push_back(nullptr);
        } else {
          logprobs.push_back(word.find("right") != std::string::npos ? -0.1 : -2.0);
        }
        at = end;
      }
      // The generated token after the prompt.
      offsets.push_back(prompt.size());
      tokens.push_back(" x");
      logprobs.push_back(-5.0);
      choice["text"] = prompt + " x";
      choice["logprobs"] = {{"text_offset", offsets}, {"token_logprobs", logprobs}, {"tokens", tokens}};
    } else {
      choice["text"] = answer_;
      choice["logprobs"] = {{"content", json::array({{{"token", answer_}, {"logprob", -0.5}}})}};
      if (in.contains("messages")) choice = {{"index", 0}, {"message", {{"role", "assistant"}, {"content", answer_}}}};
    }
    return {{"object", "text_completion"}, {"choices", json::array({choice})}};
  }
  bool echo_;
  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// Three ARC questions: the "right" ending is B, C, A; the gold answers are
// B, C and D, so log-likelihood scoring gets two of three.
std::filesystem::path WriteArc() {
  const auto dir = testing::TempDir() / "endpoint-accuracy";
  std::filesystem::create_directories(dir);
  json tasks = json::array();
  const std::vector<std::pair<int, std::string>> q = {{1, "B"}, {2, "C"}, {0, "D"}};
  for (size_t i = 0; i < q.size(); ++i) {
    json texts = json::array();
    for (int e = 0; e < 4; ++e) texts.push_back(e == q[i].first ? "the right one" : "a wrong one");
    tasks.push_back({{"question", "Question " + std::to_string(i) + "?"},
                     {"choices", {{"text", texts}, {"label", {"A", "B", "C", "D"}}}},
                     {"answerKey", q[i].second}});
  }
  std::ofstream(dir / "arc.json") << tasks.dump();
  std::ofstream(dir / "text.txt") << "one two three four five six seven eight nine ten eleven twelve";
  return dir;
}

v1::ComparisonSpec Spec() {
  v1::ComparisonSpec spec;
  v1::Accuracy* a = spec.mutable_accuracy();
  v1::Accuracy::Choice* c = a->add_choice();
  c->set_task(v1::Accuracy::Choice::ARC_EASY);
  c->set_file("arc.json");
  a->mutable_perplexity()->set_text("text.txt");
  a->mutable_perplexity()->set_ctx(4);  // chunks of about 16 bytes
  a->set_kl_divergence(true);
  return spec;
}

EndpointScorer Scorer(const FakeServer& s, OpenAiApi api) {
  EndpointScorer e;
  e.url = *ParseHttpUrl(s.url());
  e.model = "m";
  e.api = api;
  e.timeout_seconds = 10;
  return e;
}

}  // namespace

BOOST_AUTO_TEST_CASE(echoed_log_probabilities_score_endings_and_perplexity) {
  LocalRunOptions o;
  o.data_root = WriteArc();
  FakeServer server(true, "");
  v1::AccuracyResult r;
  BOOST_REQUIRE(MeasureEndpointAccuracy(Spec(), Scorer(server, OpenAiApi::kChat), o, &r).ok());
  BOOST_REQUIRE(r.choice_size() == 1);
  BOOST_TEST(r.choice(0).method() == "loglikelihood");
  BOOST_TEST(r.choice(0).n() == 3);
  BOOST_TEST(std::abs(r.choice(0).accuracy() - 2.0 / 3) < 1e-12);
  BOOST_TEST(std::abs(r.choice(0).accuracy_stderr() - std::sqrt(2.0 / 9 / 3)) < 1e-12);
  // Perplexity: every word after a chunk's first at -2 nats.
  BOOST_TEST(std::abs(r.perplexity().ppl() - std::exp(2.0)) < 1e-9);
  BOOST_TEST(r.perplexity().scored_tokens() > 0);
  BOOST_TEST(!r.kld().applicable());
  BOOST_TEST(r.kld().note().find("full distribution") != std::string::npos);
  BOOST_TEST(r.note().find("log-likelihood") != std::string::npos);
  // 1 probe + 1 chunk per ~16 bytes + 4 endings x 3 questions.
  BOOST_TEST(server.requests() >= 1 + 12 + 3);
}

BOOST_AUTO_TEST_CASE(without_echo_the_generated_letter_decides) {
  LocalRunOptions o;
  o.data_root = WriteArc();
  FakeServer server(false, " B.");  // right for question 0 only
  v1::AccuracyResult r;
  BOOST_REQUIRE(MeasureEndpointAccuracy(Spec(), Scorer(server, OpenAiApi::kChat), o, &r).ok());
  BOOST_REQUIRE(r.choice_size() == 1);
  BOOST_TEST(r.choice(0).method() == "generated");
  BOOST_TEST(std::abs(r.choice(0).accuracy() - 1.0 / 3) < 1e-12);
  BOOST_TEST(r.choice(0).unanswered() == 0);
  BOOST_TEST(r.perplexity().ppl() == 0);
  BOOST_TEST(r.note().find("perplexity not measured: the server returns no prompt log-probabilities") !=
             std::string::npos);
  BOOST_TEST(r.note().find("scored by the generated answer") != std::string::npos);
  FakeServer rambling(false, "Because the sky");
  v1::AccuracyResult r2;
  BOOST_REQUIRE(MeasureEndpointAccuracy(Spec(), Scorer(rambling, OpenAiApi::kCompletions), o, &r2).ok());
  BOOST_TEST(r2.choice(0).unanswered() == 3);
  BOOST_TEST(r2.choice(0).accuracy() == 0);
}

BOOST_AUTO_TEST_CASE(a_gone_server_leaves_metrics_missing_with_the_reason) {
  LocalRunOptions o;
  o.data_root = WriteArc();
  EndpointScorer s;
  s.url = *ParseHttpUrl("http://127.0.0.1:1/v1");
  s.timeout_seconds = 2;
  v1::AccuracyResult r;
  BOOST_REQUIRE(MeasureEndpointAccuracy(Spec(), s, o, &r).ok());
  BOOST_TEST(r.choice_size() == 0);
  BOOST_TEST(r.note().find("ARC_EASY not measured") != std::string::npos);
  // A missing task file is the spec's error, not the server's.
  v1::ComparisonSpec bad = Spec();
  bad.mutable_accuracy()->mutable_choice(0)->set_file("nope.json");
  BOOST_TEST(!MeasureEndpointAccuracy(bad, s, o, &r).ok());
}

BOOST_AUTO_TEST_CASE(letters_and_spans) {
  BOOST_TEST(AnswerLetter(" B.", 4) == 1);
  BOOST_TEST(AnswerLetter("(c) because", 4) == 2);
  BOOST_TEST(AnswerLetter("a", 4) == 0);
  BOOST_TEST(AnswerLetter("As it", 4) == -1);
  BOOST_TEST(AnswerLetter("E", 4) == -1);
  BOOST_TEST(AnswerLetter("", 4) == -1);
  ChoiceTask t;
  t.context = "Question: Why?\nAnswer:";
  t.endings = {"yes", "no"};
  BOOST_TEST(LetteredPrompt(t) == "Question: Why?\nA. yes\nB. no\nAnswer with the letter only.\nAnswer:");
  auto vllm = ParseScoreResponse(
      R"({"choices":[{"text":"Hi there x","logprobs":{"text_offset":[0,2,8],"token_logprobs":[null,-1.5,-0.25],"tokens":["Hi"," there"," x"]}}]})");
  BOOST_REQUIRE(vllm.ok());
  BOOST_TEST(vllm->has_prompt_logprobs());
  auto span = SpanLogprob(*vllm, 2, 8);
  BOOST_REQUIRE(span.ok());
  BOOST_TEST(span->first == -1.5);
  BOOST_TEST(span->second == 1);
  auto llama = ParseScoreResponse(
      R"({"choices":[{"text":",","logprobs":{"content":[{"id":432,"token":",","logprob":-0.03}]}}]})");
  BOOST_REQUIRE(llama.ok());
  BOOST_TEST(!llama->has_prompt_logprobs());
  BOOST_TEST(!SpanLogprob(*llama, 0, 1).ok());
  auto err = ParseScoreResponse(R"({"error":{"message":"echo is not supported","type":"invalid_request_error"}})");
  BOOST_TEST(std::string(err.status().message()).find("echo is not supported") != std::string::npos);
  auto body = json::parse(ScoreRequestBody({OpenAiApi::kCompletions, "m", "p", 1, true}));
  BOOST_TEST(body["echo"] == true);
  BOOST_TEST(body["stream"] == false);
  BOOST_TEST(body["temperature"] == 0);
}

}  // namespace tcobench
