// tcobench generate: text generation with the embedded engine.
#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/base/flags.h"
#include "services/cli/commands.h"
#include "workers/engine/llama_model.h"
#include "workers/engine/sampler.h"
#include "workers/engine/session.h"

namespace tcobench::cli {
namespace {

const CommandSpec kGenerateSpec = {
    "tcobench generate FILE [--prompt TEXT] -n N [--temp T] [--top-k K] [--top-p P] [--seed S] "
    "[--threads N] [--device DEV]",
    "Generates N new tokens after the prompt (or after BOS alone). The generated\n"
    "text goes to stdout; prefill and decode speed go to stderr. Generation stops\n"
    "early at an end-of-generation token.",
    {{"prompt", "p", true, "TEXT", "prompt text (default: empty, start from BOS)"},
     {"n-predict", "n", true, "N", "new tokens to generate (default 128)"},
     {"temp", "", true, "T", "temperature; 0 = greedy (default 0.8)"},
     {"top-k", "", true, "K", "sample from the K most likely tokens; 0 = all (default 40)"},
     {"top-p", "", true, "P", "nucleus sampling threshold; 1 = off (default 0.95)"},
     {"seed", "s", true, "S", "random seed for sampling (default 0)"},
     {"threads", "t", true, "N", "threads (default: all cores)"},
     kDeviceFlag},
    1,
    1};

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int RunGenerate(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kGenerateSpec, argv, &args)) return *rc;
  absl::StatusOr<int64_t> n_predict = args.GetInt("n-predict", 128, 0, 1 << 20);
  absl::StatusOr<double> temp = args.GetDouble("temp", 0.8);
  absl::StatusOr<int64_t> top_k = args.GetInt("top-k", 40, 0, 1 << 24);
  absl::StatusOr<double> top_p = args.GetDouble("top-p", 0.95);
  absl::StatusOr<int64_t> seed = args.GetInt("seed", 0, 0, INT64_MAX);
  absl::StatusOr<int64_t> threads = args.GetInt("threads", 0, 0, 1024);
  for (const absl::Status& s : {n_predict.status(), temp.status(), top_k.status(), top_p.status(),
                                seed.status(), threads.status()}) {
    if (!s.ok()) return ReportError(s);
  }
  if (*temp < 0 || *top_p <= 0 || *top_p > 1) {
    return ReportError(absl::InvalidArgumentError("--temp must be >= 0 and --top-p in (0, 1]"));
  }
  absl::StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::Open(args.positional()[0],
                       ModelOptions{static_cast<int>(*threads), false, args.Get("device", "cpu")});
  if (!model.ok()) return ReportError(model.status());
  const Tokenizer& tok = (*model)->tokenizer();
  const std::string prompt = args.Get("prompt");
  std::vector<int32_t> tokens = tok.Encode(prompt, AddSpecial::kYes);
  if (tokens.empty()) tokens.push_back(tok.bos());
  const int64_t n_ctx = static_cast<int64_t>(tokens.size()) + *n_predict;
  if (n_ctx > (*model)->hparams().n_ctx_train) {
    std::fprintf(
        stderr, "tcobench: note: %lld tokens exceed the model's training context of %lld\n",
        static_cast<long long>(n_ctx), static_cast<long long>((*model)->hparams().n_ctx_train));
  }
  absl::StatusOr<std::unique_ptr<Session>> session =
      Session::Create(**model, SessionOptions{n_ctx});
  if (!session.ok()) return ReportError(session.status());
  Sampler sampler(SamplerOptions{static_cast<float>(*temp), static_cast<int>(*top_k),
                                 static_cast<float>(*top_p), static_cast<uint64_t>(*seed)});

  std::vector<float> logits;
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status st = (*session)->Prefill(tokens, LogitsMode::kLast, &logits);
  if (!st.ok()) return ReportError(st);
  const auto t1 = std::chrono::steady_clock::now();
  // With no prompt text, the first piece's space prefix is dropped, as the
  // reference prints a story that starts right after BOS.
  bool strip_space = prompt.empty() && tok.add_space_prefix();
  int64_t generated = 0;
  int64_t decoded = 0;
  while (generated < *n_predict) {
    const int32_t next = sampler.Sample(logits);
    ++generated;
    if (tok.IsEndOfGeneration(next)) break;
    std::string piece = tok.Piece(next);
    if (strip_space && !piece.empty()) {
      if (piece[0] == ' ') piece.erase(0, 1);
      strip_space = false;
    }
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    if (generated >= *n_predict) break;
    st = (*session)->Decode(next, &logits);
    if (!st.ok()) return ReportError(st);
    ++decoded;
  }
  const auto t2 = std::chrono::steady_clock::now();
  std::fputs("\n", stdout);
  const double prefill_s = Seconds(t0, t1), decode_s = Seconds(t1, t2);
  std::fprintf(stderr,
               "prefill: %zu tokens in %.3f s (%.2f tokens/s); decode: %lld tokens in %.3f s "
               "(%.2f tokens/s); %d threads\n",
               tokens.size(), prefill_s, tokens.size() / prefill_s, static_cast<long long>(decoded),
               decode_s, decoded > 0 ? decoded / decode_s : 0.0, (*model)->n_threads());
  return kExitOk;
}

}  // namespace tcobench::cli
