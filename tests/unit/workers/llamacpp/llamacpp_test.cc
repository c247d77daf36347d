// The llama.cpp runtime against the real libllama of scripts/build-llama-cpp.sh
// (skipped, saying so, when this build has none): libraries it must refuse,
// greedy tokens and batched steps equal to the embedded engine's, logits
// within the conformance tolerances of the engine's, perplexity equal to
// llama-perplexity's, multiple choice through the shared evaluators.
#define BOOST_TEST_MODULE llamacpp
#include <cstdio>
#include <nlohmann/json.hpp>

#include "tests/llamacpp_support.h"
#include "tests/test_support.h"
#include "workers/bench/engine_runtime.h"
#include "workers/engine/evaluators.h"
#include "workers/engine/llama_model.h"
#include "workers/llamacpp/llamacpp.h"

namespace tcobench {
namespace {

using testing::SharedPath;
using testing::ValueOf;
namespace fs = std::filesystem;

std::unique_ptr<LlamaModel> OpenEngine(const fs::path& file) {
  return ValueOf(LlamaModel::Open(file, ModelOptions{2}), "engine load " + file.string());
}

std::string TinyStories() { return testing::ReadText(SharedPath("data/tinystories/TinyStories-valid.head32k.txt")); }

// Greedy continuation of `prompt` on sequence `seq`, one Step at a time.
std::vector<int32_t> Greedy(Runtime& rt, int seq, const std::vector<int32_t>& prompt, int n) {
  std::vector<int32_t> out = {ValueOf(rt.Prefill(seq, prompt), "prefill")};
  for (int i = 1; i < n; ++i) {
    int32_t next = 0;
    const int s = seq;
    BOOST_REQUIRE(rt.Step(std::span<const int>(&s, 1), std::span<const int32_t>(&out.back(), 1),
                          std::span<int32_t>(&next, 1)).ok());
    out.push_back(next);
  }
  return out;
}

// First: every refusal happens before a library is in use (one per process).
BOOST_AUTO_TEST_CASE(bad_libraries_are_refused_naming_the_file_and_the_reason, *boost::unit_test::precondition(NeedsLlamaCpp())) {
  const fs::path dir = testing::TempDir();
  absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> missing = OpenLlamaCpp(dir / "no-such-libllama.so");
  BOOST_REQUIRE(!missing.ok());
  BOOST_CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  BOOST_CHECK_NE(missing.status().message().find("no such file"), std::string::npos);

  testing::WriteText(dir / "libtext.so", "not a library\n");
  absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> text = OpenLlamaCpp(dir / "libtext.so");
  BOOST_REQUIRE(!text.ok());
  BOOST_CHECK(text.status().code() == absl::StatusCode::kInvalidArgument);
  BOOST_CHECK_NE(text.status().message().find("cannot load"), std::string::npos);

  // A real shared library that is not libllama: the fake NVML the tests build.
  absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> other = OpenLlamaCpp(TCOBENCH_FAKE_NVML);
  BOOST_REQUIRE(!other.ok());
  BOOST_CHECK_NE(other.status().message().find("not a libllama"), std::string::npos);

  // A libllama of another version: both versions named.
  absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> old = OpenLlamaCpp(TCOBENCH_FAKE_LIBLLAMA);
  BOOST_REQUIRE(!old.ok());
  const std::string m(old.status().message());
  BOOST_TEST_MESSAGE(m);
  BOOST_CHECK_NE(m.find("0.4.0"), std::string::npos);
  BOOST_CHECK_NE(m.find("0.5.0"), std::string::npos);
  BOOST_CHECK_NE(m.find("does not match"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(opens_the_build_s_libllama_and_reports_it, *boost::unit_test::precondition(NeedsLlamaCpp())) {
  const LlamaCppBuild& b = BuildOf(*Library());
  BOOST_TEST_MESSAGE(b.Describe() << " | " << b.system_info);
  BOOST_CHECK_EQUAL(b.version.rfind("0.5.0", 0), 0u);
  BOOST_CHECK_EQUAL(LlamaCppHeaderVersion().find(b.commit.substr(0, 7)), 7u);  // "v0.5.0 de3ff81..."
  BOOST_CHECK_NE(b.system_info.find("CPU"), std::string::npos);
  // The same file again is the same library; another is refused.
  BOOST_CHECK(ValueOf(OpenLlamaCpp(DefaultLlamaLib()), "again") == Library());
  BOOST_CHECK(!OpenLlamaCpp(TCOBENCH_FAKE_LIBLLAMA).ok());
}

BOOST_AUTO_TEST_CASE(greedy_tokens_and_batched_steps_equal_the_engine_s, *boost::unit_test::precondition(NeedsLlamaCpp())) {
  const fs::path file = SharedPath("models/stories260K.gguf");
  std::unique_ptr<LlamaCppModel> llama = OpenLlama(file);
  std::unique_ptr<LlamaModel> engine = OpenEngine(file);
  BOOST_REQUIRE_EQUAL(llama->n_vocab(), engine->hparams().n_vocab);
  std::unique_ptr<Runtime> lr = ValueOf(llama->MakeRuntime(3, 96), "llama runtime");
  std::unique_ptr<Runtime> er = ValueOf(MakeEngineRuntime(*engine, 3, 96), "engine runtime");
  BOOST_CHECK_EQUAL(lr->max_sequences(), 3);
  const std::vector<std::string> texts = {"Once upon a time", "The little dog ran to the park and", "Lily had a red ball."};
  std::vector<std::vector<int32_t>> prompts, alone;
  for (const std::string& t : texts) {
    prompts.push_back(llama->Encode(t, true));
    BOOST_CHECK(prompts.back() == engine->tokenizer().Encode(t, AddSpecial::kYes));  // the same tokens
  }
  for (int s = 0; s < 3; ++s) {
    alone.push_back(Greedy(*lr, s, prompts[s], 40));
    BOOST_CHECK_MESSAGE(alone.back() == Greedy(*er, s, prompts[s], 40), "sequence " << s << ": greedy tokens differ");
  }
  // The three together, one llama_decode per step: the same tokens.
  std::vector<int32_t> last(3), next(3);
  const std::vector<int> seqs = {0, 1, 2};
  for (int s = 0; s < 3; ++s) last[s] = ValueOf(lr->Prefill(s, prompts[s]), "prefill");
  for (int i = 1; i < 40; ++i) {
    BOOST_REQUIRE(lr->Step(seqs, last, next).ok());
    for (int s = 0; s < 3; ++s) BOOST_CHECK_EQUAL(next[s], alone[s][i]);
    last = next;
  }
  // A sequence past its context is an error, not a crash.
  std::vector<int32_t> long_prompt(200, 1);
  BOOST_CHECK(!lr->Prefill(0, long_prompt).ok());
}

// The engine's and llama.cpp's logits on the same files, within the
// conformance test's tolerance (4x the reference's own settings variation).
BOOST_AUTO_TEST_CASE(logits_agree_with_the_engine_within_conformance_tolerance, *boost::unit_test::precondition(NeedsLlamaCpp())) {
  const std::string text = TinyStories();
  for (const auto& [file, model] : std::vector<std::pair<std::string, std::string>>{
           {"models/stories260K.gguf", "stories260K-F32"}, {"models/synthetic/ktiny-F32.gguf", "ktiny-F32"},
           {"models/synthetic/ktiny-F16.gguf", "ktiny-F16"}, {"models/synthetic/ktiny-Q8_0.gguf", "ktiny-Q8_0"},
           {"models/synthetic/ktiny-Q4_K_M.gguf", "ktiny-Q4_K_M"}}) {
    std::unique_ptr<LlamaCppModel> llama = OpenLlama(SharedPath(file));
    std::unique_ptr<LlamaModel> engine = OpenEngine(SharedPath(file));
    ChunkOptions co;
    co.ctx = 64;
    co.max_chunks = 4;
    const KldResult k = ValueOf(EvaluateKld(*EngineLogits(*engine), *llama, text, co), "kld " + model);
    const double limit = KldTolerance(model);
    std::printf("%-14s engine vs llama.cpp: mean KLD %.3g (limit %.3g), top-1 %.4f over %lld tokens\n", model.c_str(),
                k.mean_kld, limit, k.same_top1, static_cast<long long>(k.scored_tokens));
    BOOST_CHECK_GT(limit, 0);
    BOOST_CHECK_MESSAGE(k.mean_kld <= limit, model << ": mean KLD " << k.mean_kld << " > " << limit);
    BOOST_CHECK_GE(k.same_top1, 0.95);
  }
}

BOOST_AUTO_TEST_CASE(perplexity_equals_llama_perplexity_to_4_significant_figures, *boost::unit_test::precondition(NeedsLlamaCpp())) {
  const fs::path text = SharedPath("data/tinystories/TinyStories-valid.head32k.txt");
  for (const char* file : {"models/stories260K.gguf", "models/synthetic/ktiny-Q4_K_M.gguf"}) {
    std::unique_ptr<LlamaCppModel> llama = OpenLlama(SharedPath(file));
    ChunkOptions co;
    co.ctx = 128;
    co.max_chunks = 8;
    const PerplexityResult ours = ValueOf(EvaluatePerplexity(*llama, TinyStories(), co), "perplexity");
    const double ref = LlamaPerplexity(SharedPath(file), text, 128, 8);
    std::printf("%s: llamacpp runtime PPL %.6f, llama-perplexity %.4f\n", file, ours.ppl, ref);
    BOOST_CHECK_EQUAL(ours.chunks, 8);
    // llama-perplexity prints 4 decimals: equal to 4 significant figures.
    char a[32], b[32];
    std::snprintf(a, sizeof a, "%.4g", ours.ppl);
    std::snprintf(b, sizeof b, "%.4g", ref);
    BOOST_CHECK_MESSAGE(std::string(a) == std::string(b) || std::abs(ours.ppl - ref) <= 5e-5 * ref,
                        file << ": " << ours.ppl << " vs llama-perplexity " << ref);
  }
}

BOOST_AUTO_TEST_CASE(multiple_choice_through_llama_cpp_matches_the_engine, *boost::unit_test::precondition(NeedsLlamaCpp())) {
  const fs::path file = SharedPath("models/stories260K.gguf");
  std::unique_ptr<LlamaCppModel> llama = OpenLlama(file);
  std::unique_ptr<LlamaModel> engine = OpenEngine(file);
  // The first 12 tasks (6 lines each).
  const std::string all = testing::ReadText(SharedPath("data/hellaswag/hellaswag_val_full.txt"));
  size_t end = 0;
  for (int line = 0; line < 12 * 6 && end != std::string::npos; ++line) end = all.find('\n', end) + 1;
  const std::vector<ChoiceTask> tasks = ValueOf(ParseHellaswag(all.substr(0, end), "hellaswag"), "tasks");
  BOOST_REQUIRE_EQUAL(tasks.size(), 12u);
  const ChoiceResult a = ValueOf(EvaluateChoice(*llama, tasks, nullptr), "llama choice");
  const ChoiceResult b = ValueOf(EvaluateChoice(*engine, tasks, nullptr), "engine choice");
  BOOST_CHECK_EQUAL(a.n, b.n);
  BOOST_CHECK(a.predicted == b.predicted);
  for (size_t i = 0; i < tasks.size(); ++i) {
    for (size_t e = 0; e < a.ending_logprob[i].size(); ++e) {
      BOOST_CHECK_CLOSE(a.ending_logprob[i][e], b.ending_logprob[i][e], 0.5);  // percent
    }
  }
}

}  // namespace
}  // namespace tcobench
