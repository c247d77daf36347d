#include "workers/loadgen/scenario.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tcobench {
namespace {

using Clock = std::chrono::steady_clock;

// SplitMix64: a counter-based generator, so request i's prompt and arrival
// gap are reproducible without state or allocation.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
double Uniform01(uint64_t seed, uint64_t stream, uint64_t index) {
  return (static_cast<double>(Mix(Mix(seed ^ (stream << 56)) + index) >> 11) + 0.5) * 0x1.0p-53;
}

struct Slot {
  bool active = false;
  size_t request = 0;  // index into timings
  int32_t produced = 0;
  int32_t last = 0;
};

class Runner {
 public:
  Runner(Runtime& rt, const ScenarioOptions& o) : rt_(rt), o_(o) {
    slots_.resize(static_cast<size_t>(o_.concurrency));
    prompt_.resize(static_cast<size_t>(o_.prompt_tokens));
    step_seqs_.resize(slots_.size());
    step_last_.resize(slots_.size());
    step_next_.resize(slots_.size());
    step_slot_.resize(slots_.size());
    run_.requests.reserve(static_cast<size_t>(o_.max_requests));
  }

  absl::StatusOr<ScenarioRun> Run() {
    // Warm-up: one request at a time, outside the window.
    for (int i = 0; i < o_.warmup_runs; ++i) {
      if (absl::Status s = OneUnmeasured(static_cast<uint64_t>(i)); !s.ok()) return s;
    }
    if (absl::Status s = WarmUpBatchSizes(); !s.ok()) return s;
    next_index_ = static_cast<uint64_t>(o_.warmup_runs);
    if (o_.on_window_open) o_.on_window_open();
    t0_ = Clock::now();
    absl::Status s = o_.scenario == Scenario::kOffline ? Offline() : Stream();
    const double end = Now();
    if (o_.on_window_close) o_.on_window_close();
    if (!s.ok()) return s;
    run_.window_seconds = end;
    return std::move(run_);
  }

 private:
  double Now() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  bool Enough(double now) const {
    return static_cast<int>(finished_) >= o_.measured_runs && now >= o_.min_duration_seconds;
  }
  bool Full() const { return run_.requests.size() >= static_cast<size_t>(o_.max_requests); }

  absl::Status OneUnmeasured(uint64_t index) {
    PromptFor(o_, rt_.vocab_size(), index, prompt_);
    auto first = rt_.Prefill(0, prompt_);
    if (!first.ok()) return first.status();
    int32_t last = *first;
    const int seq = 0;
    for (int32_t k = 1; k < o_.output_tokens; ++k) {
      int32_t next = 0;
      if (absl::Status s = rt_.Step({&seq, 1}, {&last, 1}, {&next, 1}); !s.ok()) return s;
      last = next;
    }
    return absl::OkStatus();
  }

  // One decode step of every batch size the window can use (1..concurrency),
  // outside the window, so that whatever a runtime sizes per batch (rows of
  // activations, logits) is sized before it opens: a single-stream warm-up
  // never steps more than one sequence at a time. Each sequence is stepped
  // at most output_tokens - 1 times before it is started again, so no
  // sequence runs past the positions a measured request uses.
  absl::Status WarmUpBatchSizes() {
    const int n_seq = o_.concurrency;
    if (n_seq < 2 || o_.output_tokens < 2) return absl::OkStatus();
    std::vector<int32_t> steps(static_cast<size_t>(n_seq), o_.output_tokens);  // "used up": start afresh
    std::vector<int32_t> last(static_cast<size_t>(n_seq), 0);
    PromptFor(o_, rt_.vocab_size(), 0, prompt_);
    int next = 0;  // sequences take turns, so the steps spread over all of them
    for (int batch = 1; batch <= n_seq; ++batch) {
      for (int i = 0; i < batch; ++i) {
        const int seq = (next + i) % n_seq;
        step_seqs_[i] = seq;
        if (steps[seq] >= o_.output_tokens - 1) {
          auto first = rt_.Prefill(seq, prompt_);
          if (!first.ok()) return first.status();
          last[seq] = *first;
          steps[seq] = 0;
        }
        step_last_[i] = last[seq];
      }
      const size_t n = static_cast<size_t>(batch);
      if (absl::Status s = rt_.Step({step_seqs_.data(), n}, {step_last_.data(), n}, {step_next_.data(), n});
          !s.ok()) {
        return s;
      }
      for (int i = 0; i < batch; ++i) {
        last[step_seqs_[i]] = step_next_[i];
        ++steps[step_seqs_[i]];
      }
      next = (next + batch) % n_seq;
    }
    return absl::OkStatus();
  }

  // Queues a request arriving at `arrival`.
  void Issue(double arrival) {
    RequestTiming t;
    t.arrival = arrival;
    t.prompt_tokens = o_.prompt_tokens;
    t.prompt_index = next_index_++;
    run_.requests.push_back(t);  // within the reserved capacity
  }

  // Starts queued requests in free slots (prefill), oldest first.
  absl::Status Admit() {
    for (size_t s = 0; s < slots_.size() && queued_ < run_.requests.size(); ++s) {
      if (slots_[s].active) continue;
      RequestTiming& t = run_.requests[queued_];
      if (t.arrival > Now()) break;
      PromptFor(o_, rt_.vocab_size(), t.prompt_index, prompt_);
      t.start = Now();
      auto first = rt_.Prefill(static_cast<int>(s), prompt_);
      if (!first.ok()) return first.status();
      t.first_token = Now();
      run_.prefill_seconds += t.first_token - t.start;
      run_.prefill_tokens += o_.prompt_tokens;
      slots_[s] = Slot{true, queued_, 1, *first};
      ++queued_;
      if (o_.output_tokens == 1) Finish(s, t.first_token);
    }
    return absl::OkStatus();
  }

  void Finish(size_t s, double when) {
    RequestTiming& t = run_.requests[slots_[s].request];
    t.end = when;
    t.output_tokens = slots_[s].produced;
    slots_[s].active = false;
    ++finished_;
  }

  // One decode step for every active slot.
  absl::Status Step() {
    size_t n = 0;
    for (size_t s = 0; s < slots_.size(); ++s) {
      if (!slots_[s].active) continue;
      step_seqs_[n] = static_cast<int>(s);
      step_last_[n] = slots_[s].last;
      step_slot_[n] = s;
      ++n;
    }
    if (n == 0) return absl::OkStatus();
    const double t_start = Now();
    if (absl::Status st = rt_.Step({step_seqs_.data(), n}, {step_last_.data(), n},
                                   {step_next_.data(), n});
        !st.ok()) {
      return st;
    }
    const double t_end = Now();
    run_.decode_seconds += t_end - t_start;
    run_.decode_tokens += static_cast<int64_t>(n);
    ++run_.steps;
    for (size_t i = 0; i < n; ++i) {
      Slot& slot = slots_[step_slot_[i]];
      slot.last = step_next_[i];
      if (++slot.produced >= o_.output_tokens) Finish(step_slot_[i], t_end);
    }
    return absl::OkStatus();
  }

  bool AnyActive() const {
    return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.active; });
  }

  // SINGLE_STREAM and SERVER: requests arrive one by one; served until the
  // run-length rule is met and everything issued has finished.
  absl::Status Stream() {
    const bool server = o_.scenario == Scenario::kServer;
    double next_arrival = 0;
    bool issuing = true;
    while (true) {
      const double now = Now();
      if (issuing) {
        if (server) {
          // Poisson process: exponential gaps with mean 1 / target_qps.
          while (next_arrival <= now && !Full() &&
                 !(static_cast<int>(run_.requests.size()) >= o_.measured_runs &&
                   next_arrival >= o_.min_duration_seconds)) {
            Issue(next_arrival);
            next_arrival -= std::log(Uniform01(o_.seed, 1, next_index_)) / o_.target_qps;
          }
          if (Full() || (static_cast<int>(run_.requests.size()) >= o_.measured_runs &&
                         next_arrival >= o_.min_duration_seconds)) {
            issuing = false;
          }
        } else if (queued_ == run_.requests.size() && !AnyActive()) {
          if (Enough(now) || Full()) {
            issuing = false;
          } else {
            Issue(now);  // closed loop: the next request when the last is done
          }
        }
      }
      if (absl::Status s = Admit(); !s.ok()) return s;
      if (AnyActive()) {
        if (absl::Status s = Step(); !s.ok()) return s;
        continue;
      }
      if (!issuing && queued_ == run_.requests.size()) return absl::OkStatus();
      if (server && queued_ == run_.requests.size()) {
        // Idle until the next arrival.
        std::this_thread::sleep_until(t0_ + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(next_arrival)));
      }
    }
  }

  // OFFLINE: rounds of max(measured_runs, concurrency) requests issued at once.
  absl::Status Offline() {
    const int round = std::max(o_.measured_runs, o_.concurrency);
    bool first = true;
    do {
      const double now = first ? 0.0 : Now();  // the first round opens the window
      first = false;
      for (int i = 0; i < round && !Full(); ++i) Issue(now);
      while (queued_ < run_.requests.size() || AnyActive()) {
        if (absl::Status s = Admit(); !s.ok()) return s;
        if (absl::Status s = Step(); !s.ok()) return s;
      }
    } while (!Enough(Now()) && !Full());
    return absl::OkStatus();
  }

  Runtime& rt_;
  const ScenarioOptions& o_;
  ScenarioRun run_;
  std::vector<Slot> slots_;
  std::vector<int32_t> prompt_;
  std::vector<int> step_seqs_;
  std::vector<int32_t> step_last_, step_next_;
  std::vector<size_t> step_slot_;
  size_t queued_ = 0;    // requests[0..queued_) have been admitted
  size_t finished_ = 0;
  uint64_t next_index_ = 0;
  Clock::time_point t0_;
};

}  // namespace

void PromptFor(const ScenarioOptions& o, int32_t vocab_size, uint64_t index,
               std::span<int32_t> out) {
  if (!o.prompt_corpus.empty()) {
    const uint64_t span = o.prompt_corpus.size() > out.size() ? o.prompt_corpus.size() - out.size() : 0;
    const uint64_t start =
        span == 0 ? 0 : static_cast<uint64_t>(Uniform01(o.seed, 2, index) * static_cast<double>(span));
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = o.prompt_corpus[(start + i) % o.prompt_corpus.size()];
    }
    return;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<int32_t>(Mix(Mix(o.seed ^ 0x5EEDull) + index * 1000003ull + i) %
                                  static_cast<uint64_t>(vocab_size));
  }
}

absl::StatusOr<ScenarioRun> RunScenario(Runtime& runtime, const ScenarioOptions& options) {
  if (options.concurrency < 1 || options.concurrency > runtime.max_sequences()) {
    return absl::InvalidArgumentError(absl::StrCat("concurrency ", options.concurrency,
                                                   " is outside 1..", runtime.max_sequences()));
  }
  if (options.prompt_tokens < 1 || options.output_tokens < 1 || options.measured_runs < 1) {
    return absl::InvalidArgumentError("prompt and output lengths and measured runs must be >= 1");
  }
  if (options.scenario == Scenario::kServer && !(options.target_qps > 0)) {
    return absl::InvalidArgumentError("SERVER needs a positive target_qps");
  }
  Runner runner(runtime, options);
  return runner.Run();
}

}  // namespace tcobench
