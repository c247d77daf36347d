// tcobench eval perplexity | kld | choice
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/flags.h"
#include "services/cli/commands.h"
#include "services/cli/json_writer.h"
#include "workers/bench/system_info.h"
#include "workers/engine/evaluators.h"
#include "workers/engine/llama_model.h"
#include "common/base/status_macros.h"

namespace tcobench::cli {
namespace {

absl::StatusOr<std::string> ReadText(const std::string& path) { return ReadFileText(path); }

// "\r<what> 12/121" on a terminal; nothing otherwise.
ProgressFn TerminalProgress(const std::string& what) {
  if (!isatty(STDERR_FILENO)) return nullptr;
  return [what](int64_t done, int64_t total) {
    std::fprintf(stderr, "\r%s %lld/%lld", what.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done == total) std::fputs("\n", stderr);
  };
}

struct CommonEvalArgs {
  std::string format;
  int threads = 0;
  std::string device;
};

absl::StatusOr<CommonEvalArgs> ReadCommon(const Args& args) {
  CommonEvalArgs c;
  c.format = args.Get("format", "table");
  if (c.format != "table" && c.format != "json")
    return absl::InvalidArgumentError("--format must be table or json");
  TCOBENCH_ASSIGN_OR_RETURN(const int64_t threads, args.GetInt("threads", 0, 0, 1024));
  c.threads = static_cast<int>(threads);
  c.device = args.Get("device", "cpu");
  return c;
}

absl::StatusOr<ChunkOptions> ReadChunks(const Args& args) {
  ChunkOptions o;
  TCOBENCH_ASSIGN_OR_RETURN(o.ctx, args.GetInt("ctx", 512, 4, 1 << 20));
  TCOBENCH_ASSIGN_OR_RETURN(o.max_chunks, args.GetInt("chunks", 0, 0, INT32_MAX));
  if (!args.Has("text")) return absl::InvalidArgumentError("--text FILE is required");
  o.progress = TerminalProgress("chunk");
  return o;
}

const FlagSpec kTextFlag = {"text", "f", true, "FILE", "evaluation text (required)"};
const FlagSpec kCtxFlag = {"ctx", "c", true, "N", "tokens per chunk (default 512)"};
const FlagSpec kChunksFlag = {"chunks", "", true, "K", "evaluate at most K chunks (default: all)"};
const FlagSpec kThreadsFlag = {"threads", "t", true, "N", "threads (default: all cores)"};

const CommandSpec kPerplexitySpec = {
    "tcobench eval perplexity MODEL --text FILE [--ctx N] [--chunks K] [--threads N] [--device DEV] [--format "
    "table|json]",
    "Perplexity as llama-perplexity computes it: the text is tokenized once with\n"
    "BOS and cut into chunks of N tokens; each chunk starts with BOS and scores\n"
    "its second half (positions N/2+1 .. N-1). Prints PPL +/- its standard error.\n"
    "See docs/evaluation.md.",
    {kTextFlag, kCtxFlag, kChunksFlag, kThreadsFlag, kDeviceFlag, kFormatFlag},
    1,
    1};

const CommandSpec kKldSpec = {
    "tcobench eval kld BASE.gguf CANDIDATE.gguf --text FILE [--ctx N] [--chunks K] [--threads N] "
    "[--format table|json]",
    "KL divergence of CANDIDATE from BASE over the perplexity chunks and scored\n"
    "positions, from both models' exact log-probabilities, with top-1 agreement,\n"
    "the change in target probability and both perplexities.",
    {kTextFlag, kCtxFlag, kChunksFlag, kThreadsFlag, kDeviceFlag, kFormatFlag},
    2,
    2};

const CommandSpec kChoiceSpec = {
    "tcobench eval choice MODEL --task hellaswag|arc-easy FILE [--limit N] [--threads N] [--device DEV] [--format "
    "table|json]",
    "Multiple-choice accuracy: each ending is scored by the log-likelihood of its\n"
    "tokens given the context, divided by its token count (the normalised score\n"
    "picks the answer; the plain sum is reported too). FILE is HellaSwag in\n"
    "llama.cpp's 6-lines-per-task text format, or ARC as a JSON array.",
    {{"task", "", true, "TASK", "hellaswag or arc-easy (required)"},
     {"limit", "n", true, "N", "evaluate the first N tasks only"},
     kThreadsFlag,
     kDeviceFlag,
     kFormatFlag},
    2,
    2};

absl::StatusOr<std::unique_ptr<LlamaModel>> OpenModel(const std::string& path,
                                                      const CommonEvalArgs& c) {
  return LlamaModel::Open(path, ModelOptions{c.threads, false, c.device});
}

// What perplexity and kld both start from: the flags, the text, and a model
// for every positional argument.
struct ChunkedEval {
  CommonEvalArgs common;
  ChunkOptions chunks;
  std::string text;
  std::vector<std::unique_ptr<LlamaModel>> models;
};

absl::StatusOr<ChunkedEval> LoadChunkedEval(const Args& args) {
  ChunkedEval e;
  TCOBENCH_ASSIGN_OR_RETURN(e.common, ReadCommon(args));
  TCOBENCH_ASSIGN_OR_RETURN(e.chunks, ReadChunks(args));
  TCOBENCH_ASSIGN_OR_RETURN(e.text, ReadText(args.Get("text")));
  for (const std::string& path : args.positional()) {
    TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, OpenModel(path, e.common));
    e.models.push_back(std::move(model));
  }
  return e;
}

}  // namespace

int RunEvalPerplexity(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kPerplexitySpec, argv, &args)) return *rc;
  absl::StatusOr<ChunkedEval> in = LoadChunkedEval(args);
  if (!in.ok()) return ReportError(in.status());
  const CommonEvalArgs* common = &in->common;
  const ChunkOptions* chunks = &in->chunks;
  absl::StatusOr<PerplexityResult> r = EvaluatePerplexity(*in->models[0], in->text, *chunks);
  if (!r.ok()) return ReportError(r.status());
  if (common->format == "json") {
    JsonWriter j;
    j.BeginObject();
    j.Key("model").String(args.positional()[0]);
    j.Key("text").String(args.Get("text"));
    j.Key("ctx").Int(chunks->ctx);
    j.Key("ppl").Double(r->ppl);
    j.Key("ppl_stderr").Double(r->ppl_stderr);
    j.Key("chunks").Int(r->chunks);
    j.Key("scored_tokens").Int(r->scored_tokens);
    j.Key("text_tokens").Int(r->text_tokens);
    j.Key("mean_nll").Double(r->mean_nll);
    j.Key("bits_per_byte").Double(r->bits_per_byte);
    j.EndObject();
    std::fputs(j.str().c_str(), stdout);
  } else {
    std::printf("model          %s\n", args.positional()[0].c_str());
    std::printf("text           %s (%lld tokens)\n", args.Get("text").c_str(),
                static_cast<long long>(r->text_tokens));
    std::printf("chunks         %lld of %lld tokens, %lld scored tokens\n",
                static_cast<long long>(r->chunks), static_cast<long long>(chunks->ctx),
                static_cast<long long>(r->scored_tokens));
    std::printf("perplexity     %.4f +/- %.5f\n", r->ppl, r->ppl_stderr);
    std::printf("bits per byte  %.4f\n", r->bits_per_byte);
  }
  return kExitOk;
}

int RunEvalKld(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kKldSpec, argv, &args)) return *rc;
  absl::StatusOr<ChunkedEval> in = LoadChunkedEval(args);
  if (!in.ok()) return ReportError(in.status());
  const CommonEvalArgs* common = &in->common;
  const ChunkOptions* chunks = &in->chunks;
  absl::StatusOr<KldResult> r = EvaluateKld(*in->models[0], *in->models[1], in->text, *chunks);
  if (!r.ok()) return ReportError(r.status());
  if (common->format == "json") {
    JsonWriter j;
    j.BeginObject();
    j.Key("base").String(args.positional()[0]);
    j.Key("candidate").String(args.positional()[1]);
    j.Key("text").String(args.Get("text"));
    j.Key("ctx").Int(chunks->ctx);
    j.Key("chunks").Int(r->chunks);
    j.Key("scored_tokens").Int(r->scored_tokens);
    j.Key("mean_kld").Double(r->mean_kld);
    j.Key("mean_kld_stderr").Double(r->mean_kld_stderr);
    j.Key("kld_p999").Double(r->kld_p999);
    j.Key("kld_p99").Double(r->kld_p99);
    j.Key("kld_p95").Double(r->kld_p95);
    j.Key("kld_p90").Double(r->kld_p90);
    j.Key("kld_median").Double(r->kld_median);
    j.Key("kld_max").Double(r->kld_max);
    j.Key("rms_dp").Double(r->rms_dp);
    j.Key("same_top1").Double(r->same_top1);
    j.Key("same_top1_stderr").Double(r->same_top1_stderr);
    j.Key("ppl_base").Double(r->ppl_base);
    j.Key("ppl_base_stderr").Double(r->ppl_base_stderr);
    j.Key("ppl_candidate").Double(r->ppl_candidate);
    j.Key("ppl_candidate_stderr").Double(r->ppl_candidate_stderr);
    j.Key("ppl_ratio").Double(r->ppl_ratio);
    j.EndObject();
    std::fputs(j.str().c_str(), stdout);
  } else {
    std::printf("base            %s\ncandidate       %s\n", args.positional()[0].c_str(),
                args.positional()[1].c_str());
    std::printf("scored tokens   %lld (%lld chunks of %lld)\n",
                static_cast<long long>(r->scored_tokens), static_cast<long long>(r->chunks),
                static_cast<long long>(chunks->ctx));
    std::printf("PPL base        %.4f +/- %.5f\n", r->ppl_base, r->ppl_base_stderr);
    std::printf("PPL candidate   %.4f +/- %.5f\n", r->ppl_candidate, r->ppl_candidate_stderr);
    std::printf("PPL ratio       %.5f\n", r->ppl_ratio);
    std::printf("mean KLD        %.6f +/- %.6f\n", r->mean_kld, r->mean_kld_stderr);
    std::printf("KLD p99.9/p99   %.6f / %.6f\n", r->kld_p999, r->kld_p99);
    std::printf("KLD p95/p90     %.6f / %.6f\n", r->kld_p95, r->kld_p90);
    std::printf("KLD median/max  %.6f / %.6f\n", r->kld_median, r->kld_max);
    std::printf("same top-1      %.3f%% +/- %.3f%%\n", 100 * r->same_top1,
                100 * r->same_top1_stderr);
    std::printf("RMS dp          %.3f%%\n", 100 * r->rms_dp);
  }
  return kExitOk;
}

int RunEvalChoice(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kChoiceSpec, argv, &args)) return *rc;
  absl::StatusOr<CommonEvalArgs> common = ReadCommon(args);
  if (!common.ok()) return ReportError(common.status());
  const std::string task = absl::AsciiStrToLower(args.Get("task"));
  if (task != "hellaswag" && task != "arc-easy") {
    return ReportError(absl::InvalidArgumentError("--task must be hellaswag or arc-easy"));
  }
  absl::StatusOr<int64_t> limit = args.GetInt("limit", 0, 1, INT32_MAX);
  if (!limit.ok()) return ReportError(limit.status());
  const std::string file = args.positional()[1];
  absl::StatusOr<std::string> text = ReadText(file);
  if (!text.ok()) return ReportError(text.status());
  absl::StatusOr<std::vector<ChoiceTask>> tasks =
      task == "hellaswag" ? ParseHellaswag(*text, file) : ParseArc(*text, file);
  if (!tasks.ok()) return ReportError(tasks.status());
  if (*limit > 0 && static_cast<size_t>(*limit) < tasks->size())
    tasks->resize(static_cast<size_t>(*limit));
  absl::StatusOr<std::unique_ptr<LlamaModel>> model =
      OpenModel(args.positional()[0], *common);
  if (!model.ok()) return ReportError(model.status());
  absl::StatusOr<ChoiceResult> r = EvaluateChoice(**model, *tasks, TerminalProgress("task"));
  if (!r.ok()) return ReportError(r.status());
  if (common->format == "json") {
    JsonWriter j;
    j.BeginObject();
    j.Key("model").String(args.positional()[0]);
    j.Key("task").String(task);
    j.Key("file").String(file);
    j.Key("n").Int(r->n);
    j.Key("accuracy").Double(r->accuracy);
    j.Key("accuracy_stderr").Double(r->accuracy_stderr);
    j.Key("accuracy_unnormalized").Double(r->accuracy_unnormalized);
    j.Key("accuracy_unnormalized_stderr").Double(r->accuracy_unnormalized_stderr);
    j.EndObject();
    std::fputs(j.str().c_str(), stdout);
  } else {
    std::printf("model                   %s\n", args.positional()[0].c_str());
    std::printf("task                    %s (%lld tasks from %s)\n", task.c_str(),
                static_cast<long long>(r->n), file.c_str());
    std::printf("accuracy (normalised)   %.2f%% +/- %.2f%%\n", 100 * r->accuracy,
                100 * r->accuracy_stderr);
    std::printf("accuracy (summed)       %.2f%% +/- %.2f%%\n", 100 * r->accuracy_unnormalized,
                100 * r->accuracy_unnormalized_stderr);
  }
  return kExitOk;
}

}  // namespace tcobench::cli
