// The endpoint client: SSE parsing, the streamed chunk protocol, the
// field's metric definitions on hand-computed event times, and whole
// requests against a scripted server on loopback (chunked streams, errors,
// broken streams, wrong lengths).
#define BOOST_TEST_MODULE endpoint
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/loopback.h"
#include "workers/endpoint/http.h"
#include "workers/endpoint/load.h"
#include "workers/endpoint/openai.h"
#include "workers/endpoint/prometheus_api.h"

namespace tcobench {
namespace {

std::vector<std::string> FeedAll(const std::vector<std::string>& pieces) {
  SseParser p;
  std::vector<std::string> events;
  for (const std::string& piece : pieces) p.Feed(piece, [&](absl::string_view d) { events.emplace_back(d); });
  return events;
}

// A server on loopback answering each connection with `script` (written
// in parts, `gap_ms` apart); a part "<close>" closes the connection there.
class ScriptedServer {
 public:
  ScriptedServer(std::vector<std::string> script, int gap_ms) : script_(std::move(script)), gap_ms_(gap_ms) {
    fd_ = testing::ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  HttpUrl Url() const { return *ParseHttpUrl("http://127.0.0.1:" + std::to_string(port_) + "/v1"); }
  std::string last_request() const {
    std::lock_guard<std::mutex> l(mu_);
    return request_;
  }

 private:
  void Serve() {
    while (!stop_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[65536];
      std::string req;
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        request_ = req;
      }
      for (const std::string& part : script_) {
        if (part == "<close>") break;
        send(c, part.data(), part.size(), MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms_));
      }
      close(c);
    }
  }
  std::vector<std::string> script_;
  int gap_ms_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::string request_;
  std::thread thread_;
};

std::string Chunk(const std::string& data) {  // one HTTP chunk holding one SSE event
  const std::string event = "data: " + data + "\n\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", event.size());
  return std::string(size) + "\r\n" + event + "\r\n";
}

const char kHead[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

std::vector<std::string> Stream(int tokens, bool usage, bool done = true) {
  std::vector<std::string> s = {kHead};
  for (int i = 0; i < tokens; ++i) s.push_back(Chunk(R"({"choices":[{"text":" w","index":0}]})"));
  std::string last = R"({"choices":[{"text":"","finish_reason":"length"}])";
  if (usage) last += R"(,"usage":{"prompt_tokens":7,"completion_tokens":)" + std::to_string(tokens) + "}";
  last += R"(,"timings":{"predicted_per_token_ms":2.5}})";
  s.push_back(Chunk(last));
  if (done) s.push_back(Chunk("[DONE]"));
  s.push_back("0\r\n\r\n");
  return s;
}

EndpointLoadOptions Options(const ScriptedServer& server) {
  EndpointLoadOptions o;
  o.url = server.Url();
  o.api = OpenAiApi::kCompletions;
  o.model = "m";
  o.request_timeout_seconds = 5;
  return o;
}

EndpointPrompt Prompt(int max_tokens) {
  EndpointPrompt p;
  p.prompt = "Once upon a time";
  p.max_tokens = max_tokens;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sse_events_survive_any_split) {
  const std::string stream = ": comment\r\ndata: a\r\n\r\nevent: x\ndata: b1\ndata: b2\n\ndata:c\n\n";
  const std::vector<std::string> want = {"a", "b1\nb2", "c"};
  BOOST_TEST(FeedAll({stream}) == want);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    BOOST_TEST(FeedAll({stream.substr(0, cut), stream.substr(cut)}) == want, "split at " << cut);
  }
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  BOOST_TEST(FeedAll(bytes) == want);
}

BOOST_AUTO_TEST_CASE(stream_chunks_carry_text_usage_and_timings) {
  auto chat = ParseStreamChunk(R"({"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]})");
  BOOST_REQUIRE(chat.ok());
  BOOST_TEST(chat->text == "Hi");
  BOOST_TEST(!chat->has_usage);
  auto last = ParseStreamChunk(
      R"({"choices":[{"text":"","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":8},)"
      R"("timings":{"predicted_per_token_ms":0.623,"prompt_ms":2.2}})");
  BOOST_REQUIRE(last.ok());
  BOOST_TEST(last->finish_reason == "length");
  BOOST_TEST(last->has_usage);
  BOOST_TEST(last->completion_tokens == 8);
  BOOST_TEST(last->prompt_tokens == 5);
  BOOST_TEST(last->server_predicted_per_token_ms == 0.623);
  auto usage_only = ParseStreamChunk(R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}})");
  BOOST_REQUIRE(usage_only.ok());
  BOOST_TEST(usage_only->completion_tokens == 2);
  BOOST_TEST(ParseStreamChunk(" [DONE] ")->done);
  BOOST_TEST(ParseStreamChunk(R"({"error":{"message":"model not found"}})")->error == "model not found");
  BOOST_TEST(!ParseStreamChunk("{not json").ok());
}

BOOST_AUTO_TEST_CASE(request_body_asks_for_a_stream_of_exact_length) {
  OpenAiRequest r;
  r.api = OpenAiApi::kChat;
  r.model = "llama";
  r.prompt = "say \"hi\"";
  r.max_tokens = 12;
  const std::string body = RequestBody(r);
  for (const char* want : {R"("stream":true)", R"("include_usage":true)", R"("max_tokens":12)",
                           R"("ignore_eos":true)", R"("min_tokens":12)", R"("content":"say \"hi\"")",
                           R"("role":"user")", R"("model":"llama")"}) {
    BOOST_TEST(body.find(want) != std::string::npos, want << " missing in " << body);
  }
  r.api = OpenAiApi::kCompletions;
  r.exact_length = false;
  const std::string plain = RequestBody(r);
  BOOST_TEST(plain.find(R"("prompt":"say \"hi\"")") != std::string::npos);
  BOOST_TEST(plain.find("ignore_eos") == std::string::npos);
  BOOST_TEST(ParseOpenAiApi("completions").ok());
  BOOST_TEST(!ParseOpenAiApi("embeddings").ok());
}

// The definitions (docs/endpoints.md), on times worked out by hand.
BOOST_AUTO_TEST_CASE(metrics_follow_the_fields_definitions) {
  EndpointRecord r;
  r.sent = 1.0;
  r.content_times = {1.5, 1.6, 1.8, 2.0};
  r.first_content = 1.5;
  r.end = 2.1;
  r.output_tokens = 5;  // the last event carried two tokens
  const RequestMetrics m = MetricsOf(r);
  BOOST_TEST(m.ttft == 0.5, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.e2e == 1.1, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(m.tpot == 0.15, boost::test_tools::tolerance(1e-12));  // (1.1 - 0.5) / (5 - 1)
  std::vector<double> itl;
  AppendInterTokenLatencies(r, &itl);
  BOOST_REQUIRE(itl.size() == 3u);
  BOOST_TEST(itl[0] == 0.1, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(itl[1] == 0.2, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(itl[2] == 0.2, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(MeetsSlo(r, {0.5001, 0.1501}));
  BOOST_TEST(!MeetsSlo(r, {0.4, 0}));   // TTFT over its bound
  BOOST_TEST(!MeetsSlo(r, {0, 0.1}));   // TPOT over its bound
  r.output_tokens = 1;
  BOOST_TEST(MetricsOf(r).tpot == -1);  // undefined for one token
  r.error = RequestError::kWrongLength;
  BOOST_TEST(!MeetsSlo(r, {}));         // a failed request never counts as good
}

BOOST_AUTO_TEST_CASE(urls_are_http_with_host_and_port) {
  auto u = ParseHttpUrl("http://127.0.0.1:8080/v1/");
  BOOST_REQUIRE(u.ok());
  BOOST_TEST(u->host == "127.0.0.1");
  BOOST_TEST(u->port == 8080);
  BOOST_TEST(u->path == "/v1");
  BOOST_TEST(ParseHttpUrl("http://server")->port == 80);
  BOOST_TEST(ParseHttpUrl("http://[::1]:9000/v1")->host == "::1");
  BOOST_TEST(std::string(ParseHttpUrl("https://api.example.com/v1").status().message()).find("https") !=
             std::string::npos);
  BOOST_TEST(!ParseHttpUrl("ftp://x").ok());
  BOOST_TEST(!ParseHttpUrl("http://x:99999").ok());
}

BOOST_AUTO_TEST_CASE(a_streamed_request_is_timed_event_by_event) {
  ScriptedServer server(Stream(4, true), 20);
  const EndpointRecord r = PerformRequest(Options(server), Prompt(4), std::chrono::steady_clock::now());
  BOOST_TEST(static_cast<int>(r.error) == static_cast<int>(RequestError::kNone), r.error_detail);
  BOOST_TEST(r.output_tokens == 4);
  BOOST_TEST(r.prompt_tokens == 7);
  BOOST_TEST(std::string(TokenSourceName(r.token_source)) == "usage");
  BOOST_TEST(r.content_times.size() == 4u);
  BOOST_TEST(r.server_tpot_seconds == 0.0025, boost::test_tools::tolerance(1e-12));
  // The head, then an event every 20 ms: the first content ~20 ms after
  // sending, each gap ~20 ms (the client holds nothing back).
  const RequestMetrics m = MetricsOf(r);
  BOOST_TEST(m.ttft > 0.010);
  BOOST_TEST(m.ttft < 0.200);
  std::vector<double> itl;
  AppendInterTokenLatencies(r, &itl);
  for (double g : itl) BOOST_TEST((g > 0.010 && g < 0.200), "gap " << g);
  BOOST_TEST(server.last_request().find("POST /v1/completions HTTP/1.1") == 0u);
}

BOOST_AUTO_TEST_CASE(failures_are_counted_by_kind) {
  {  // fewer tokens than asked for
    ScriptedServer server(Stream(3, true), 1);
    const EndpointRecord r = PerformRequest(Options(server), Prompt(4), std::chrono::steady_clock::now());
    BOOST_TEST(std::string(RequestErrorName(r.error)) == "wrong_length");
  }
  {  // no usage: the content events are counted, and the record says so
    ScriptedServer server(Stream(4, false), 1);
    const EndpointRecord r = PerformRequest(Options(server), Prompt(4), std::chrono::steady_clock::now());
    BOOST_TEST(std::string(RequestErrorName(r.error)) == "");
    BOOST_TEST(std::string(TokenSourceName(r.token_source)) == "chunks");
  }
  {  // the server goes away mid-stream
    std::vector<std::string> s = Stream(4, true);
    s.insert(s.begin() + 3, "<close>");
    ScriptedServer server(s, 1);
    const EndpointRecord r = PerformRequest(Options(server), Prompt(4), std::chrono::steady_clock::now());
    BOOST_TEST(std::string(RequestErrorName(r.error)) == "broken_stream", r.error_detail);
  }
  {  // an HTTP error, its body kept
    ScriptedServer server({"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\noverload!"}, 1);
    const EndpointRecord r = PerformRequest(Options(server), Prompt(4), std::chrono::steady_clock::now());
    BOOST_TEST(std::string(RequestErrorName(r.error)) == "http_status");
    BOOST_TEST(r.error_detail.find("503") != std::string::npos);
    BOOST_TEST(r.error_detail.find("overload!") != std::string::npos);
  }
  {  // an error event inside the stream
    ScriptedServer server({kHead, Chunk(R"({"error":{"message":"context too long"}})"), "0\r\n\r\n"}, 1);
    const EndpointRecord r = PerformRequest(Options(server), Prompt(4), std::chrono::steady_clock::now());
    BOOST_TEST(std::string(RequestErrorName(r.error)) == "server_error");
    BOOST_TEST(r.error_detail.find("context too long") != std::string::npos);
  }
  {  // too slow: the request's deadline
    ScriptedServer server(Stream(4, true), 400);
    EndpointLoadOptions o = Options(server);
    o.request_timeout_seconds = 0.3;
    const EndpointRecord r = PerformRequest(o, Prompt(4), std::chrono::steady_clock::now());
    BOOST_TEST(std::string(RequestErrorName(r.error)) == "timeout", r.error_detail);
  }
  {  // nobody listening
    EndpointLoadOptions o;
    o.url = *ParseHttpUrl("http://127.0.0.1:1/v1");
    const EndpointRecord r = PerformRequest(o, Prompt(4), std::chrono::steady_clock::now());
    BOOST_TEST(std::string(RequestErrorName(r.error)) == "connect", r.error_detail);
  }
}

BOOST_AUTO_TEST_CASE(closed_loop_users_and_open_loop_arrivals) {
  ScriptedServer server(Stream(2, true), 0);
  EndpointLoadOptions o = Options(server);
  o.prompt = [](uint64_t) { return Prompt(2); };
  o.load = EndpointLoad::kConcurrency;
  o.concurrency = 1;  // the scripted server answers one connection at a time
  o.measured_runs = 12;
  auto run = RunEndpointLoad(o);
  BOOST_REQUIRE(run.ok());
  BOOST_TEST(run->records.size() >= 12u);
  for (const EndpointRecord& r : run->records) BOOST_TEST(static_cast<int>(r.error) == 0, r.error_detail);
  o.load = EndpointLoad::kServer;
  o.target_qps = 50;
  o.measured_runs = 20;
  run = RunEndpointLoad(o);
  BOOST_REQUIRE(run.ok());
  BOOST_TEST(run->records.size() == 20u);
  // Arrivals at 50/s: 20 of them span roughly 0.4 s (Poisson: loosely).
  BOOST_TEST(run->records.back().scheduled > 0.1);
  BOOST_TEST(run->records.back().scheduled < 1.5);
}

// A server that is gone: sending stops after kRefusalsToGiveUp refusals in
// a row, in either loop, and the run says why (not 100000 refusals).
BOOST_AUTO_TEST_CASE(a_vanished_server_ends_the_run_early) {
  EndpointLoadOptions o;
  o.url = *ParseHttpUrl("http://127.0.0.1:1/v1");
  o.prompt = [](uint64_t) { return Prompt(4); };
  o.measured_runs = 100000;
  for (EndpointLoad load : {EndpointLoad::kConcurrency, EndpointLoad::kServer}) {
    o.load = load;
    o.concurrency = 4;
    o.target_qps = 2000;
    auto run = RunEndpointLoad(o);
    BOOST_REQUIRE(run.ok());
    BOOST_TEST(run->records.size() >= static_cast<size_t>(kRefusalsToGiveUp));
    BOOST_TEST(run->records.size() < 200u);
    BOOST_TEST(run->ended_early.find("refused") != std::string::npos);
    for (const EndpointRecord& r : run->records) BOOST_TEST(std::string(RequestErrorName(r.error)) == "connect");
  }
}

}  // namespace tcobench

namespace tcobench {

BOOST_AUTO_TEST_CASE(prometheus_answers_parse_to_one_series_or_a_clear_error) {
  // A one-series vector, a scalar, a matrix.
  auto v = ParsePromResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"gpu":"0"},"value":[1700000000.5,"251.25"]}]}})",
      "q");
  BOOST_REQUIRE(v.ok());
  BOOST_TEST(v->size() == 1u);
  BOOST_TEST(v->front().time == 1700000000.5);
  BOOST_TEST(v->front().value == 251.25);
  auto s = ParsePromResponse(R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}})", "q");
  BOOST_REQUIRE(s.ok());
  BOOST_TEST(s->front().value == 3);
  auto m = ParsePromResponse(
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"100"],[2,"200"],[3,"300"]]}]}})",
      "q");
  BOOST_REQUIRE(m.ok());
  BOOST_TEST(m->size() == 3u);
  BOOST_TEST((*m)[2].value == 300);
  // Errors say what came back.
  auto message = [](const absl::StatusOr<std::vector<PromPoint>>& r) { return std::string(r.status().message()); };
  const auto bad = ParsePromResponse(
      R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \")\""})", "sum(x))");
  BOOST_TEST(message(bad).find("bad_data: 1:5: parse error") != std::string::npos);
  const auto none = ParsePromResponse(R"({"status":"success","data":{"resultType":"vector","result":[]}})", "x");
  BOOST_TEST(message(none).find("returned no series") != std::string::npos);
  const auto two = ParsePromResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"gpu":"0"},"value":[1,"1"]},{"metric":{"gpu":"1"},"value":[1,"2"]}]}})",
      "DCGM_FI_DEV_POWER_USAGE");
  BOOST_TEST(message(two).find("returned 2 series; energy needs one: sum them") != std::string::npos);
  const auto nan = ParsePromResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}})", "x");
  BOOST_TEST(message(nan).find("not a finite number") != std::string::npos);
  BOOST_TEST(message(ParsePromResponse("<html>", "x")).find("not JSON") != std::string::npos);
  BOOST_TEST(FormEncode("sum(a{b=\"c d\"})&x") == "sum%28a%7Bb%3D%22c+d%22%7D%29%26x");
}

BOOST_AUTO_TEST_CASE(an_instant_query_posts_the_form_and_reads_the_value) {
  const std::string body =
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"42.5"]}]}})";
  ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body},
                        0);
  HttpUrl prom = server.Url();
  prom.path = "";
  auto p = PromInstant(prom, "sum(power)", 1700000000.25, 5);
  BOOST_REQUIRE_MESSAGE(p.ok(), p.status().message());
  BOOST_TEST(p->value == 42.5);
  const std::string req = server.last_request();
  BOOST_TEST(req.rfind("POST /api/v1/query HTTP/1.1\r\n", 0) == 0);
  BOOST_TEST(req.find("Content-Type: application/x-www-form-urlencoded") != std::string::npos);
}

}  // namespace tcobench
