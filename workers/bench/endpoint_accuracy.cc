#include "workers/bench/endpoint_accuracy.h"

#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/spec/spec.h"
#include "workers/bench/results.h"
#include "workers/bench/system_info.h"
#include "workers/endpoint/scoring.h"

namespace tcobench {
namespace {

constexpr char kKldMissing[] =
    "KL divergence is not measured over endpoints: it needs each position's full distribution, and "
    "OpenAI-compatible servers return at most the top few log-probabilities of a position";

double Stderr(double p, int64_t n) { return n > 0 ? std::sqrt(p * (1 - p) / static_cast<double>(n)) : 0; }

// Whether the server echoes prompt log-probabilities, and if not, why.
bool ProbeEcho(const EndpointScorer& s, std::string* why) {
  ScoreRequest r;
  r.api = OpenAiApi::kCompletions;
  r.model = s.model;
  r.prompt = "The quick brown fox jumps over the lazy dog.";
  r.echo_logprobs = true;
  absl::StatusOr<ScoreResponse> a = Score(s.url, s.api_key, r, s.timeout_seconds);
  if (!a.ok()) {
    *why = absl::StrCat("/completions with echo and logprobs failed (", a.status().message(), ")");
    return false;
  }
  if (!a->has_prompt_logprobs()) {
    *why = "the server returns no prompt log-probabilities (/completions ignores echo)";
    return false;
  }
  return true;
}

// Cuts `text` into chunks of about `bytes` bytes at whitespace.
std::vector<std::string> Chunks(const std::string& text, size_t bytes, int max_chunks) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size() && (max_chunks <= 0 || static_cast<int>(out.size()) < max_chunks)) {
    size_t end = std::min(text.size(), at + bytes);
    if (end < text.size()) {
      const size_t space = text.find_first_of(" \n\t", end);
      end = space == std::string::npos ? text.size() : space;
    }
    if (end - at >= bytes / 2 || out.empty()) out.push_back(text.substr(at, end - at));
    at = end;
  }
  return out;
}

// Perplexity of `text` from echoed log-probabilities: each chunk's tokens
// after its first, chunks of about 4 bytes a token of `ctx`.
absl::Status EchoPerplexity(const v1::Accuracy::Perplexity& p, const std::string& text, const EndpointScorer& s,
                            v1::PerplexityResult* out, std::string* how) {
  const int ctx = p.ctx() > 0 ? p.ctx() : 512;
  const std::vector<std::string> chunks = Chunks(text, static_cast<size_t>(ctx) * 4, p.max_chunks());
  double sum = 0, sum_sq = 0, bytes = 0;
  int64_t n = 0;
  for (size_t c = 0; c < chunks.size(); ++c) {
    ScoreRequest r;
    r.api = OpenAiApi::kCompletions;
    r.model = s.model;
    r.prompt = chunks[c];
    r.echo_logprobs = true;
    absl::StatusOr<ScoreResponse> a = Score(s.url, s.api_key, r, s.timeout_seconds);
    if (!a.ok()) return Prefixed(absl::StrCat("chunk ", c + 1), a.status());
    if (!a->has_prompt_logprobs()) return absl::FailedPreconditionError(absl::StrCat("chunk ", c + 1, ": no prompt log-probabilities"));
    const int64_t size = static_cast<int64_t>(chunks[c].size());
    for (size_t i = 1; i < a->offsets.size(); ++i) {
      if (a->offsets[i] <= 0 || a->offsets[i] >= size || std::isnan(a->logprobs[i])) continue;
      sum -= a->logprobs[i];
      sum_sq += a->logprobs[i] * a->logprobs[i];
      ++n;
    }
    bytes += static_cast<double>(size - a->offsets[1]);
    if (s.progress) s.progress(absl::StrCat("perplexity chunk ", c + 1, "/", chunks.size()));
  }
  if (n == 0) return absl::FailedPreconditionError("no token was scored");
  const double mean = sum / static_cast<double>(n);
  const double var = n > 1 ? (sum_sq - static_cast<double>(n) * mean * mean) / static_cast<double>(n - 1) : 0;
  out->set_text(p.text());
  out->set_ctx(ctx);
  out->set_mean_nll(mean);
  out->set_ppl(std::exp(mean));
  out->set_ppl_stderr(std::exp(mean) * std::sqrt(std::max(0.0, var) / static_cast<double>(n)));
  out->set_bits_per_byte(bytes > 0 ? sum / std::log(2.0) / bytes : 0);
  out->set_chunks(static_cast<int64_t>(chunks.size()));
  out->set_scored_tokens(n);
  *how = absl::StrFormat(
      "perplexity from the server's echoed prompt log-probabilities over %d chunks of about %d bytes (its own "
      "tokens, every one after a chunk's first): comparable between endpoints of one tokenizer, not token for token "
      "with the engine's",
      chunks.size(), ctx * 4);
  return absl::OkStatus();
}

// One choice suite by log-likelihood (echo) or by generated answers.
absl::Status ScoreChoices(const std::vector<ChoiceTask>& tasks, bool loglik, const EndpointScorer& s,
                          const std::string& name, v1::ChoiceResult* out) {
  int64_t correct = 0, correct_sum = 0, unanswered = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const ChoiceTask& t = tasks[i];
    if (loglik) {
      int best_mean = 0, best_sum = 0;
      double best_mean_score = -INFINITY, best_sum_score = -INFINITY;
      for (size_t e = 0; e < t.endings.size(); ++e) {
        ScoreRequest r;
        r.api = OpenAiApi::kCompletions;
        r.model = s.model;
        r.prompt = t.context + " " + t.endings[e];
        r.echo_logprobs = true;
        absl::StatusOr<ScoreResponse> a = Score(s.url, s.api_key, r, s.timeout_seconds);
        if (!a.ok()) return Prefixed(absl::StrCat("task ", i + 1), a.status());
        absl::StatusOr<std::pair<double, int64_t>> lp =
            SpanLogprob(*a, static_cast<int64_t>(t.context.size()), static_cast<int64_t>(r.prompt.size()));
        if (!lp.ok()) return Prefixed(absl::StrCat("task ", i + 1), lp.status());
        const double mean = lp->first / static_cast<double>(lp->second);
        if (mean > best_mean_score) best_mean_score = mean, best_mean = static_cast<int>(e);
        if (lp->first > best_sum_score) best_sum_score = lp->first, best_sum = static_cast<int>(e);
      }
      correct += best_mean == t.gold;
      correct_sum += best_sum == t.gold;
    } else {
      ScoreRequest r;
      r.api = s.api;
      r.model = s.model;
      r.prompt = LetteredPrompt(t);
      r.max_tokens = 4;
      absl::StatusOr<ScoreResponse> a = Score(s.url, s.api_key, r, s.timeout_seconds);
      if (!a.ok()) return Prefixed(absl::StrCat("task ", i + 1), a.status());
      const int k = AnswerLetter(a->text, static_cast<int>(t.endings.size()));
      unanswered += k < 0;
      correct += k == t.gold;
      correct_sum += k == t.gold;
    }
    if (s.progress && ((i + 1) % 10 == 0 || i + 1 == tasks.size())) {
      s.progress(absl::StrCat(name, " ", i + 1, "/", tasks.size()));
    }
  }
  const int64_t n = static_cast<int64_t>(tasks.size());
  const double acc = static_cast<double>(correct) / static_cast<double>(n);
  const double acc_sum = static_cast<double>(correct_sum) / static_cast<double>(n);
  out->set_n(n);
  out->set_accuracy(acc);
  out->set_accuracy_stderr(Stderr(acc, n));
  out->set_accuracy_unnormalized(acc_sum);
  out->set_accuracy_unnormalized_stderr(Stderr(acc_sum, n));
  out->set_method(loglik ? "loglikelihood" : "generated");
  out->set_unanswered(unanswered);
  return absl::OkStatus();
}

}  // namespace

std::string LetteredPrompt(const ChoiceTask& task) {
  std::string head = task.context;
  if (absl::EndsWith(head, "Answer:")) {
    head.resize(head.size() - 7);  // ARC: "Question: ...\nAnswer:"
  } else {
    head = absl::StrCat("Which ending fits best?\n", head, "\n");  // HellaSwag: a passage to complete
  }
  std::string out = head;
  for (size_t e = 0; e < task.endings.size(); ++e) {
    absl::StrAppend(&out, std::string(1, static_cast<char>('A' + e)), ". ", task.endings[e], "\n");
  }
  absl::StrAppend(&out, "Answer with the letter only.\nAnswer:");
  return out;
}

absl::Status MeasureEndpointAccuracy(const v1::ComparisonSpec& spec, const EndpointScorer& scorer,
                                     const LocalRunOptions& o, v1::AccuracyResult* out) {
  const v1::Accuracy& acc = spec.accuracy();
  std::vector<std::string> notes;
  const bool wants_ppl = acc.has_perplexity() && !acc.perplexity().text().empty();
  std::string no_echo;
  const bool loglik = (wants_ppl || acc.choice_size() > 0) && ProbeEcho(scorer, &no_echo);
  if (wants_ppl) {
    // The spec's file first: a missing one is the spec's error, not the server's.
    TCOBENCH_ASSIGN_OR_RETURN(std::string text, ReadFileText(ResolvePath(o.data_root, acc.perplexity().text()),
                                                             "accuracy.perplexity.text"));
    if (!loglik) {
      notes.push_back(absl::StrCat("perplexity not measured: ", no_echo));
    } else {
      std::string how;
      if (absl::Status s = EchoPerplexity(acc.perplexity(), text, scorer, out->mutable_perplexity(), &how); !s.ok()) {
        out->clear_perplexity();
        notes.push_back(absl::StrCat("perplexity not measured: ", s.message()));
      } else {
        notes.push_back(how);
      }
    }
  }
  if (acc.kl_divergence()) {
    out->mutable_kld()->set_applicable(false);
    out->mutable_kld()->set_note(kKldMissing);
    notes.push_back(kKldMissing);
  }
  for (int i = 0; i < acc.choice_size(); ++i) {
    const v1::Accuracy::Choice& c = acc.choice(i);
    TCOBENCH_ASSIGN_OR_RETURN(std::vector<ChoiceTask> tasks, LoadChoiceTasks(c, i, o.data_root));
    if (tasks.empty()) continue;
    v1::ChoiceResult r;
    r.set_task(TaskName(c.task()));
    r.set_file(c.file());
    if (absl::Status s = ScoreChoices(tasks, loglik, scorer, TaskName(c.task()), &r); !s.ok()) {
      notes.push_back(absl::StrCat(TaskName(c.task()), " not measured: ", s.message()));
      continue;
    }
    *out->add_choice() = r;
    notes.push_back(loglik ? absl::StrCat(TaskName(c.task()), ": scored by each ending's log-likelihood (echoed prompt "
                                                             "log-probabilities)")
                           : absl::StrCat(TaskName(c.task()), ": scored by the generated answer (exact match of the "
                                          "letter; ", r.unanswered(), " of ", r.n(), " named none) because ", no_echo));
  }
  out->set_note(absl::StrJoin(notes, "; "));
  return absl::OkStatus();
}

}  // namespace tcobench
