#include "workers/endpoint/load.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"

namespace tcobench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point t0, Clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); }

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The failure kind of an HttpResponse status (its codes: http.h).
RequestError ErrorOf(const absl::Status& s) {
  if (absl::IsDeadlineExceeded(s)) return RequestError::kTimeout;
  if (absl::IsUnavailable(s)) return RequestError::kConnect;
  return RequestError::kBrokenStream;
}

}  // namespace

const char* RequestErrorName(RequestError e) {
  switch (e) {
    case RequestError::kNone: return "";
    case RequestError::kConnect: return "connect";
    case RequestError::kHttpStatus: return "http_status";
    case RequestError::kTimeout: return "timeout";
    case RequestError::kBrokenStream: return "broken_stream";
    case RequestError::kBadEvent: return "bad_event";
    case RequestError::kServerError: return "server_error";
    case RequestError::kWrongLength: return "wrong_length";
  }
  return "unknown";
}

const char* TokenSourceName(TokenSource s) {
  switch (s) {
    case TokenSource::kUsage: return "usage";
    case TokenSource::kTokenizer: return "tokenizer";
    case TokenSource::kChunks: return "chunks";
  }
  return "unknown";
}

RequestMetrics MetricsOf(const EndpointRecord& r) {
  RequestMetrics m;
  m.e2e = r.end - r.sent;
  if (r.first_content >= 0) m.ttft = r.first_content - r.sent;
  if (m.ttft >= 0 && r.output_tokens >= 2) m.tpot = (m.e2e - m.ttft) / static_cast<double>(r.output_tokens - 1);
  return m;
}

void AppendInterTokenLatencies(const EndpointRecord& r, std::vector<double>* out) {
  for (size_t i = 1; i < r.content_times.size(); ++i) out->push_back(r.content_times[i] - r.content_times[i - 1]);
}

bool MeetsSlo(const EndpointRecord& r, const RequestSlo& slo) {
  if (r.error != RequestError::kNone) return false;
  const RequestMetrics m = MetricsOf(r);
  if (slo.ttft_seconds > 0 && !(m.ttft >= 0 && m.ttft <= slo.ttft_seconds)) return false;
  if (slo.tpot_seconds > 0 && m.tpot > slo.tpot_seconds) return false;
  return true;
}

EndpointRecord PerformRequest(const EndpointLoadOptions& o, const EndpointPrompt& p, Clock::time_point t0) {
  EndpointRecord r;
  r.expected_output_tokens = p.max_tokens;
  r.prompt_tokens = p.prompt_tokens;
  OpenAiRequest req;
  req.api = o.api;
  req.model = o.model;
  req.prompt = p.prompt;
  req.messages_json = p.messages_json;
  req.max_tokens = p.max_tokens;
  req.exact_length = o.exact_length;
  const std::string body = RequestBody(req);
  std::vector<std::string> headers = {"Accept: text/event-stream"};
  if (!o.api_key.empty()) headers.push_back("Authorization: Bearer " + o.api_key);
  const Clock::time_point sent = Clock::now();
  r.sent = Seconds(t0, sent);
  const auto deadline = sent + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(o.request_timeout_seconds));
  auto fail = [&](RequestError e, std::string detail) {
    r.error = e;
    r.error_detail = std::move(detail);
    r.end = Seconds(t0, Clock::now());
    return r;
  };
  absl::StatusOr<std::unique_ptr<HttpResponse>> resp = HttpResponse::Post(o.url, ApiPath(o.api), headers, body, deadline);
  if (!resp.ok()) {
    return fail(ErrorOf(resp.status()), std::string(resp.status().message()));
  }
  r.http_status = (*resp)->status();
  if (r.http_status != 200) {
    return fail(RequestError::kHttpStatus, absl::StrCat("HTTP ", r.http_status, ": ", (*resp)->ReadAll(400)));
  }
  SseParser sse;
  bool done = false, finished = false, has_usage = false;
  int64_t chunks = 0;
  std::string problem;
  RequestError problem_kind = RequestError::kNone;
  auto on_event = [&](absl::string_view data) {
    const double now = Seconds(t0, Clock::now());
    absl::StatusOr<StreamChunk> c = ParseStreamChunk(data);
    if (!c.ok()) {
      if (problem.empty()) problem = std::string(c.status().message()), problem_kind = RequestError::kBadEvent;
      return;
    }
    if (c->done) {
      done = true;
      return;
    }
    if (!c->error.empty()) {
      if (problem.empty()) problem = "the server said: " + c->error, problem_kind = RequestError::kServerError;
      return;
    }
    if (!c->text.empty()) {
      if (r.first_content < 0) r.first_content = now;
      r.content_times.push_back(now);
      r.text += c->text;
      ++chunks;
    }
    if (!c->finish_reason.empty()) finished = true;
    if (c->has_usage) {
      has_usage = true;
      r.output_tokens = c->completion_tokens;
      if (c->prompt_tokens > 0) r.prompt_tokens = c->prompt_tokens;
    }
    if (c->server_predicted_per_token_ms >= 0) r.server_tpot_seconds = 1e-3 * c->server_predicted_per_token_ms;
  };
  while (!done) {
    absl::StatusOr<absl::string_view> piece = (*resp)->Read();
    if (!piece.ok()) {
      return fail(ErrorOf(piece.status()),
                  absl::StrCat(piece.status().message(), " after ", chunks, " content events"));
    }
    if (piece->empty()) break;
    sse.Feed(*piece, on_event);
  }
  r.end = Seconds(t0, Clock::now());
  if (!problem.empty()) return fail(problem_kind, problem);
  if (!done && !finished) {
    return fail(RequestError::kBrokenStream, absl::StrCat("the stream ended without [DONE] or a finish_reason after ",
                                                          chunks, " content events"));
  }
  if (has_usage) {
    r.token_source = TokenSource::kUsage;
  } else if (o.count_tokens) {
    r.token_source = TokenSource::kTokenizer;
    r.output_tokens = o.count_tokens(r.text);
  } else {
    r.token_source = TokenSource::kChunks;
    r.output_tokens = chunks;
  }
  if (o.exact_length && r.output_tokens != p.max_tokens) {
    r.error = RequestError::kWrongLength;
    r.error_detail = absl::StrCat(r.output_tokens, " output tokens (", TokenSourceName(r.token_source), "), asked for ",
                                  p.max_tokens);
  }
  return r;
}

absl::StatusOr<EndpointRun> RunEndpointLoad(const EndpointLoadOptions& o) {
  if (!o.prompt) return absl::InvalidArgumentError("no prompts");
  const auto stopped = [&] { return o.should_stop && o.should_stop(); };
  // Warm-up, one at a time: a server that cannot answer fails the run here,
  // with its answer, before any window opens.
  for (int i = 0; i < o.warmup_runs; ++i) {
    if (stopped()) return absl::CancelledError("stopped");
    const EndpointRecord w = PerformRequest(o, o.prompt(static_cast<uint64_t>(i)), Clock::now());
    if (w.error != RequestError::kNone && w.error != RequestError::kWrongLength) {
      return absl::UnavailableError(absl::StrCat("warm-up request failed (", RequestErrorName(w.error), "): ",
                                                 w.error_detail));
    }
  }
  const uint64_t first = static_cast<uint64_t>(std::max(0, o.warmup_runs));
  EndpointRun run;
  std::mutex mu;
  std::vector<EndpointRecord> records;
  records.reserve(static_cast<size_t>(std::max(1, o.measured_runs)) + 64);
  if (o.on_window_open) o.on_window_open();
  const double cpu0 = CpuSeconds();
  const Clock::time_point t0 = Clock::now();
  // A server that refuses connections again and again is gone: stop
  // sending rather than count refusals at the speed of a loop.
  std::atomic<int> refused_in_a_row{0};
  const auto gone = [&] { return refused_in_a_row.load() >= kRefusalsToGiveUp; };
  const auto enough = [&](int64_t issued) {
    return gone() || (issued >= o.measured_runs && Seconds(t0, Clock::now()) >= o.min_duration_seconds);
  };
  auto perform = [&](uint64_t index, double scheduled) {
    EndpointRecord r = PerformRequest(o, o.prompt(index), t0);
    r.index = index;
    r.scheduled = scheduled;
    if (r.error == RequestError::kConnect) {
      refused_in_a_row.fetch_add(1);
    } else {
      refused_in_a_row.store(0);
    }
    std::lock_guard<std::mutex> l(mu);
    records.push_back(std::move(r));
  };
  // Each branch joins its threads before its own state goes out of scope.
  std::vector<std::thread> threads;
  const auto join_all = [&threads] {
    for (std::thread& t : threads) t.join();
  };
  if (o.load == EndpointLoad::kServer) {
    if (!(o.target_qps > 0)) return absl::InvalidArgumentError("SERVER needs targetQps above 0");
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + 17);
    const double shape = o.burstiness > 0 ? o.burstiness : 1.0;
    std::gamma_distribution<double> gap(shape, 1.0 / (o.target_qps * shape));
    // Arrivals go to a queue that senders take from; a sender is started
    // when an arrival finds none idle, up to max_in_flight of them (then
    // arrivals wait, and are counted late).
    std::mutex qmu;
    std::condition_variable ready;
    std::deque<std::pair<uint64_t, double>> arrivals;
    bool closed = false;
    int idle = 0;
    auto sender = [&] {
      std::unique_lock<std::mutex> l(qmu);
      while (true) {
        ++idle;
        ready.wait(l, [&] { return closed || !arrivals.empty(); });
        --idle;
        if (arrivals.empty()) return;
        const auto [index, at] = arrivals.front();
        arrivals.pop_front();
        l.unlock();
        perform(index, at);
        l.lock();
      }
    };
    double at = 0;
    for (int64_t issued = 0; !enough(issued) && !stopped(); ++issued) {
      std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at)));
      {
        std::lock_guard<std::mutex> l(qmu);
        arrivals.emplace_back(first + static_cast<uint64_t>(issued), at);
        if (idle == 0 && static_cast<int>(threads.size()) < o.max_in_flight) threads.emplace_back(sender);
      }
      ready.notify_one();
      at += gap(rng);
    }
    {
      std::lock_guard<std::mutex> l(qmu);
      closed = true;
      if (gone() || stopped()) arrivals.clear();  // nothing more is sent
    }
    ready.notify_all();
    join_all();
  } else {
    const int users = o.load == EndpointLoad::kSingleStream ? 1 : std::max(1, o.concurrency);
    std::atomic<int64_t> issued{0};
    for (int u = 0; u < users; ++u) {
      threads.emplace_back([&] {
        while (!stopped()) {
          int64_t n = issued.load();
          if (enough(n)) return;
          if (!issued.compare_exchange_weak(n, n + 1)) continue;
          perform(first + static_cast<uint64_t>(n), Seconds(t0, Clock::now()));
        }
      });
    }
    join_all();
  }
  if (gone()) {
    run.ended_early = absl::StrCat("the endpoint refused ", kRefusalsToGiveUp,
                                   " connections in a row: no more requests were sent");
  }
  const double cpu = CpuSeconds() - cpu0;
  if (o.on_window_close) o.on_window_close();
  if (stopped()) return absl::CancelledError("stopped");
  std::sort(records.begin(), records.end(), [](const EndpointRecord& a, const EndpointRecord& b) {
    return a.sent < b.sent;
  });
  double start = records.empty() ? 0 : records.front().sent, end = 0;
  for (const EndpointRecord& r : records) end = std::max(end, r.end);
  run.window_seconds = std::max(0.0, end - start);
  run.client_seconds_per_request = records.empty() ? 0 : cpu / static_cast<double>(records.size());
  for (const EndpointRecord& r : records) run.late_sends += r.sent - r.scheduled > 1e-3 ? 1 : 0;
  run.records = std::move(records);
  return run;
}

}  // namespace tcobench
