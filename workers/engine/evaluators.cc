#include "workers/engine/evaluators.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "workers/engine/session.h"
#include "common/base/status_macros.h"

namespace tcobench {
namespace {

// The text cut into chunks as llama-perplexity does: tokenized once with BOS,
// consecutive non-overlapping chunks of ctx tokens, the tail dropped.
struct Chunks {
  std::vector<int32_t> tokens;
  int64_t ctx = 0;
  int64_t count = 0;
  int64_t first = 0;  // first scored logit row: positions first..ctx-2 predict first+1..ctx-1

  // Chunk k with its first token replaced by BOS.
  std::vector<int32_t> Get(int64_t k, int32_t bos) const {
    std::vector<int32_t> c(tokens.begin() + k * ctx, tokens.begin() + (k + 1) * ctx);
    if (bos >= 0) c[0] = bos;
    return c;
  }
  int64_t scored_per_chunk() const { return ctx - 1 - first; }
};

absl::StatusOr<Chunks> MakeChunks(const LogitsModel& tok, absl::string_view text,
                                  const ChunkOptions& o) {
  if (o.ctx < 4 || o.ctx > (1 << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("context ", o.ctx, " is out of range (4..1048576)"));
  }
  if (o.max_chunks < 0) return absl::InvalidArgumentError("chunk count must not be negative");
  Chunks c;
  c.tokens = tok.Encode(text, /*add_special=*/true);
  c.ctx = o.ctx;
  c.first = o.ctx / 2;
  const int64_t n = static_cast<int64_t>(c.tokens.size());
  if (n < 2 * o.ctx) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the text gives ", n, " tokens; at least 2 x ctx = ", 2 * o.ctx, " are needed"));
  }
  c.count = n / o.ctx;
  if (o.max_chunks > 0) c.count = std::min(c.count, o.max_chunks);
  return c;
}

// log-softmax of a row, in double (exponentials of float differences summed
// in double, as the reference does).
void LogSoftmax(const float* logits, int64_t n, std::vector<double>* out) {
  float max = logits[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(logits[i] - max);
  const double lse = std::log(sum) + max;
  out->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) (*out)[i] = logits[i] - lse;
}

// Negative log-likelihood of `target` under one row of logits.
double Nll(const float* logits, int64_t n, int32_t target) {
  float max = logits[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(logits[i] - max);
  return std::log(sum) + max - logits[target];
}

// Mean and standard error of the mean (sqrt of the variance over N - 1).
struct Moments {
  double sum = 0, sum2 = 0;
  int64_t n = 0;
  void Add(double x) {
    sum += x;
    sum2 += x * x;
    ++n;
  }
  double mean() const { return n > 0 ? sum / n : 0; }
  double stderr_of_mean() const {
    if (n < 2) return 0;
    const double var = sum2 / n - mean() * mean();
    return var > 0 ? std::sqrt(var / (n - 1)) : 0;
  }
};

// Value at fraction p of the sorted values, interpolated linearly at p (N - 1).
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double pos = p * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(sorted.size() - 1, lo + 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double ProportionStderr(double p, int64_t n) {
  return n > 1 ? std::sqrt(p * (1 - p) / (n - 1)) : 0;
}

}  // namespace

absl::StatusOr<PerplexityResult> EvaluatePerplexity(const LogitsModel& model, absl::string_view text,
                                                    const ChunkOptions& options) {
  const LogitsModel& tok = model;
  TCOBENCH_ASSIGN_OR_RETURN(const Chunks chunks, MakeChunks(tok, text, options));
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<LogitsSession> session, model.NewSession(chunks.ctx));
  const int64_t nv = model.n_vocab();
  Moments nll;
  double bytes = 0;
  std::vector<float> logits;
  for (int64_t k = 0; k < chunks.count; ++k) {
    const std::vector<int32_t> c = chunks.Get(k, tok.bos());
    session->Reset();
    TCOBENCH_RETURN_IF_ERROR(session->Prefill(c, LogitsMode::kAll, &logits));
    for (int64_t pos = chunks.first; pos < chunks.ctx - 1; ++pos) {
      const int32_t target = c[pos + 1];
      nll.Add(Nll(logits.data() + pos * nv, nv, target));
      bytes += static_cast<double>(tok.Piece(target).size());
    }
    if (options.progress) options.progress(k + 1, chunks.count);
  }
  PerplexityResult r;
  r.chunks = chunks.count;
  r.scored_tokens = nll.n;
  r.text_tokens = static_cast<int64_t>(chunks.tokens.size());
  r.mean_nll = nll.mean();
  r.ppl = std::exp(r.mean_nll);
  r.ppl_stderr = r.ppl * nll.stderr_of_mean();
  r.bits_per_byte = bytes > 0 ? nll.sum / std::log(2.0) / bytes : 0;
  return r;
}

absl::StatusOr<KldResult> EvaluateKld(const LogitsModel& base, const LogitsModel& candidate,
                                      absl::string_view text, const ChunkOptions& options) {
  const int64_t nv = base.n_vocab();
  if (candidate.n_vocab() != nv) {
    return absl::InvalidArgumentError(absl::StrCat("the models' vocabularies differ (", nv, " and ",
                                                   candidate.n_vocab(), " tokens)"));
  }
  const LogitsModel& tok = base;
  TCOBENCH_ASSIGN_OR_RETURN(const Chunks chunks, MakeChunks(tok, text, options));
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<LogitsSession> sb, base.NewSession(chunks.ctx));
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<LogitsSession> sc, candidate.NewSession(chunks.ctx));
  Moments kld, nll_b, nll_c, dp2;
  int64_t same = 0;
  std::vector<double> klds;
  std::vector<float> lb, lc;
  std::vector<double> pb, pc;
  for (int64_t k = 0; k < chunks.count; ++k) {
    const std::vector<int32_t> c = chunks.Get(k, tok.bos());
    sb->Reset();
    sc->Reset();
    TCOBENCH_RETURN_IF_ERROR(sb->Prefill(c, LogitsMode::kAll, &lb));
    TCOBENCH_RETURN_IF_ERROR(sc->Prefill(c, LogitsMode::kAll, &lc));
    for (int64_t pos = chunks.first; pos < chunks.ctx - 1; ++pos) {
      const int32_t target = c[pos + 1];
      LogSoftmax(lb.data() + pos * nv, nv, &pb);
      LogSoftmax(lc.data() + pos * nv, nv, &pc);
      double kl = 0;
      int64_t arg_b = 0, arg_c = 0;
      for (int64_t i = 0; i < nv; ++i) {
        kl += std::exp(pb[i]) * (pb[i] - pc[i]);
        if (pb[i] > pb[arg_b]) arg_b = i;
        if (pc[i] > pc[arg_c]) arg_c = i;
      }
      kl = std::max(kl, 0.0);  // rounding can make a tiny KL negative
      kld.Add(kl);
      klds.push_back(kl);
      same += arg_b == arg_c;
      nll_b.Add(-pb[target]);
      nll_c.Add(-pc[target]);
      const double dp = std::exp(pc[target]) - std::exp(pb[target]);
      dp2.Add(dp * dp);
    }
    if (options.progress) options.progress(k + 1, chunks.count);
  }
  std::sort(klds.begin(), klds.end());
  KldResult r;
  r.chunks = chunks.count;
  r.scored_tokens = kld.n;
  r.mean_kld = kld.mean();
  r.mean_kld_stderr = kld.stderr_of_mean();
  r.kld_p999 = Percentile(klds, 0.999);
  r.kld_p99 = Percentile(klds, 0.99);
  r.kld_p95 = Percentile(klds, 0.95);
  r.kld_p90 = Percentile(klds, 0.90);
  r.kld_median = Percentile(klds, 0.5);
  r.kld_max = klds.empty() ? 0 : klds.back();
  r.rms_dp = std::sqrt(dp2.mean());
  r.same_top1 = kld.n > 0 ? static_cast<double>(same) / kld.n : 0;
  r.same_top1_stderr = ProportionStderr(r.same_top1, kld.n);
  r.ppl_base = std::exp(nll_b.mean());
  r.ppl_base_stderr = r.ppl_base * nll_b.stderr_of_mean();
  r.ppl_candidate = std::exp(nll_c.mean());
  r.ppl_candidate_stderr = r.ppl_candidate * nll_c.stderr_of_mean();
  r.ppl_ratio = r.ppl_candidate / r.ppl_base;
  return r;
}

absl::StatusOr<std::vector<ChoiceTask>> ParseHellaswag(absl::string_view text,
                                                       const std::string& name) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty() || lines.size() % 6 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", lines.size(),
                     " lines; the HellaSwag format has 6 lines per task "
                     "(context, gold index, 4 endings)"));
  }
  std::vector<ChoiceTask> tasks;
  for (size_t i = 0; i < lines.size(); i += 6) {
    ChoiceTask t;
    t.context = std::string(lines[i]);
    if (!absl::SimpleAtoi(lines[i + 1], &t.gold) || t.gold < 0 || t.gold > 3) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": line ", i + 2, ": gold index '",
                                                     lines[i + 1], "' is not 0, 1, 2 or 3"));
    }
    for (size_t e = 0; e < 4; ++e) t.endings.emplace_back(lines[i + 2 + e]);
    tasks.push_back(std::move(t));
  }
  return tasks;
}

absl::StatusOr<std::vector<ChoiceTask>> ParseArc(absl::string_view json, const std::string& name) {
  nlohmann::json doc =
      nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a JSON array of ARC questions"));
  }
  std::vector<ChoiceTask> tasks;
  for (size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& q = doc[i];
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": question ", i, ": ", what));
    };
    if (!q.is_object() || !q.contains("question") || !q["question"].is_string() ||
        !q.contains("choices") || !q["choices"].is_object() || !q.contains("answerKey") ||
        !q["answerKey"].is_string()) {
      return bad("needs question, choices and answerKey");
    }
    const nlohmann::json& texts = q["choices"]["text"];
    const nlohmann::json& labels = q["choices"]["label"];
    if (!texts.is_array() || !labels.is_array() || texts.size() != labels.size() ||
        texts.size() < 2) {
      return bad("choices.text and choices.label must be arrays of the same length (at least 2)");
    }
    ChoiceTask t;
    t.context = "Question: " + q["question"].get<std::string>() + "\nAnswer:";
    t.gold = -1;
    for (size_t c = 0; c < texts.size(); ++c) {
      if (!texts[c].is_string() || !labels[c].is_string()) return bad("choices must be strings");
      t.endings.push_back(texts[c].get<std::string>());
      if (labels[c].get<std::string>() == q["answerKey"].get<std::string>())
        t.gold = static_cast<int>(c);
    }
    if (t.gold < 0) return bad("answerKey names no choice");
    tasks.push_back(std::move(t));
  }
  return tasks;
}

absl::StatusOr<ChoiceResult> EvaluateChoice(const LogitsModel& model,
                                            const std::vector<ChoiceTask>& tasks,
                                            ProgressFn progress) {
  if (tasks.empty()) return absl::InvalidArgumentError("no tasks to evaluate");
  const LogitsModel& tok = model;
  const int64_t nv = model.n_vocab();
  // Tokenize everything first, to size one session for the longest sequence.
  struct Encoded {
    std::vector<int32_t> context;
    std::vector<std::vector<int32_t>> full;
  };
  std::vector<Encoded> enc(tasks.size());
  int64_t longest = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    enc[i].context = tok.Encode(tasks[i].context, /*add_special=*/true);
    for (const std::string& e : tasks[i].endings) {
      enc[i].full.push_back(tok.Encode(tasks[i].context + " " + e, /*add_special=*/true));
      longest = std::max<int64_t>(longest, static_cast<int64_t>(enc[i].full.back().size()));
    }
    longest = std::max<int64_t>(longest, static_cast<int64_t>(enc[i].context.size()));
  }
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<LogitsSession> session, model.NewSession(longest));
  ChoiceResult r;
  int64_t correct = 0, correct_sum = 0;
  std::vector<float> logits;
  std::vector<double> lp;
  for (size_t i = 0; i < tasks.size(); ++i) {
    session->Reset();
    TCOBENCH_RETURN_IF_ERROR(session->Prefill(enc[i].context, LogitsMode::kLast, &logits));
    r.ending_logprob.emplace_back();
    r.ending_tokens.emplace_back();
    int best_mean = 0, best_sum = 0;
    double best_mean_score = -INFINITY, best_sum_score = -INFINITY;
    for (size_t e = 0; e < enc[i].full.size(); ++e) {
      const std::vector<int32_t>& full = enc[i].full[e];
      // The ending's tokens are those after the prefix it shares with the
      // context's own tokenization (the first token is always BOS).
      size_t shared = 0;
      while (shared < full.size() && shared < enc[i].context.size() &&
             full[shared] == enc[i].context[shared]) {
        ++shared;
      }
      if (shared == 0 || shared >= full.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("task ", i, " ending ", e, " adds no tokens to its context"));
      }
      // Re-evaluate from the last shared position, so its logits predict the
      // ending's first token; the cache before it is still valid.
      session->Truncate(static_cast<int64_t>(shared) - 1);
      TCOBENCH_RETURN_IF_ERROR(session->Prefill(
          std::span<const int32_t>(full.data() + shared - 1, full.size() - shared + 1),
          LogitsMode::kAll, &logits));
      double sum = 0;
      const int64_t n_end = static_cast<int64_t>(full.size() - shared);
      for (int64_t r_i = 0; r_i < n_end; ++r_i)
        sum -= Nll(logits.data() + r_i * nv, nv, full[shared + r_i]);
      const double mean = sum / static_cast<double>(n_end);
      r.ending_logprob.back().push_back(sum);
      r.ending_tokens.back().push_back(n_end);
      if (mean > best_mean_score) {
        best_mean_score = mean;
        best_mean = static_cast<int>(e);
      }
      if (sum > best_sum_score) {
        best_sum_score = sum;
        best_sum = static_cast<int>(e);
      }
    }
    correct += best_mean == tasks[i].gold;
    correct_sum += best_sum == tasks[i].gold;
    r.predicted.push_back(best_mean);
    if (progress) progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(tasks.size()));
  }
  r.n = static_cast<int64_t>(tasks.size());
  r.accuracy = static_cast<double>(correct) / r.n;
  r.accuracy_stderr = ProportionStderr(r.accuracy, r.n);
  r.accuracy_unnormalized = static_cast<double>(correct_sum) / r.n;
  r.accuracy_unnormalized_stderr = ProportionStderr(r.accuracy_unnormalized, r.n);
  return r;
}

namespace {

// The engine's model and its sessions as a logits source.
class EngineSession final : public LogitsSession {
 public:
  explicit EngineSession(std::unique_ptr<Session> s) : s_(std::move(s)) {}
  void Reset() override { s_->Reset(); }
  void Truncate(int64_t n) override { s_->Truncate(n); }
  absl::Status Prefill(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) override {
    return s_->Prefill(tokens, mode, logits);
  }

 private:
  std::unique_ptr<Session> s_;
};

class EngineLogitsModel final : public LogitsModel {
 public:
  explicit EngineLogitsModel(const LlamaModel& m) : m_(m) {}
  int64_t n_vocab() const override { return m_.hparams().n_vocab; }
  std::vector<int32_t> Encode(absl::string_view text, bool add_special) const override {
    return m_.tokenizer().Encode(text, add_special ? AddSpecial::kYes : AddSpecial::kNo);
  }
  // As llama-perplexity: chunks start with BOS only where the vocabulary adds one.
  int32_t bos() const override {
    return m_.tokenizer().add_bos() ? m_.tokenizer().bos() : -1;
  }
  std::string Piece(int32_t id) const override { return m_.tokenizer().Piece(id); }
  std::vector<std::string> TokenTexts() const override {
    const GgufValue* t = m_.gguf().Find("tokenizer.ggml.tokens");
    return t == nullptr ? std::vector<std::string>() : t->strings;
  }
  absl::StatusOr<std::unique_ptr<LogitsSession>> NewSession(int64_t n_ctx) const override {
    TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Session> s, Session::Create(m_, SessionOptions{n_ctx}));
    return std::unique_ptr<LogitsSession>(new EngineSession(std::move(s)));
  }

 private:
  const LlamaModel& m_;
};

}  // namespace

std::unique_ptr<LogitsModel> EngineLogits(const LlamaModel& model) {
  return std::make_unique<EngineLogitsModel>(model);
}

absl::StatusOr<PerplexityResult> EvaluatePerplexity(const LlamaModel& model, absl::string_view text,
                                                    const ChunkOptions& options) {
  return EvaluatePerplexity(*EngineLogits(model), text, options);
}

absl::StatusOr<KldResult> EvaluateKld(const LlamaModel& base, const LlamaModel& candidate,
                                      absl::string_view text, const ChunkOptions& options) {
  return EvaluateKld(*EngineLogits(base), *EngineLogits(candidate), text, options);
}

absl::StatusOr<ChoiceResult> EvaluateChoice(const LlamaModel& model, const std::vector<ChoiceTask>& tasks,
                                            ProgressFn progress) {
  return EvaluateChoice(*EngineLogits(model), tasks, std::move(progress));
}

}  // namespace tcobench
