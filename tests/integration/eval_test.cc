// The evaluators against the reference's published numbers
// (../shared/data/golden/PERPLEXITY.md), run as a user runs them.
#define BOOST_TEST_MODULE eval
#include <cmath>
#include <nlohmann/json.hpp>

#include "tests/test_support.h"
#include "workers/engine/evaluators.h"
#include "workers/engine/session.h"

namespace tcobench::testing {
namespace {

using nlohmann::json;

json RunJson(const std::string& args) {
  const CommandResult r = RunTcobench(args + " --format json --threads 2");
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, args << ": " << r.err);
  return json::parse(r.out);
}

// Rounds to `digits` significant digits, as the reference prints them.
double Significant(double x, int digits) {
  const double scale =
      std::pow(10.0, digits - 1 - static_cast<int>(std::floor(std::log10(std::fabs(x)))));
  return std::round(x * scale) / scale;
}

const std::string kStories = "models/stories260K.gguf";
const std::string kTiny = "data/tinystories/TinyStories-valid.head32k.txt";

BOOST_AUTO_TEST_CASE(perplexity_matches_llama_perplexity,
                     *boost::unit_test::precondition(NeedsShared())) {
  json j = RunJson("eval perplexity " + Quote(SharedPath(kStories).string()) + " --text " +
                   Quote(SharedPath(kTiny).string()) + " --ctx 128");
  std::printf("stories260K TinyStories ctx 128: PPL %.4f +/- %.5f (reference 5.7258 +/- 0.20021)\n",
              j["ppl"].get<double>(), j["ppl_stderr"].get<double>());
  BOOST_TEST(Significant(j["ppl"], 4) == 5.726);
  BOOST_TEST(Significant(j["ppl_stderr"], 4) == 0.2002);
  BOOST_TEST(j["chunks"] == 121);
  BOOST_TEST(j["scored_tokens"] == 7623);
  BOOST_TEST(j["text_tokens"] == 15519);
  BOOST_TEST(j["bits_per_byte"].get<double>() > 0);

  j = RunJson("eval perplexity " + Quote(SharedPath(kStories).string()) + " --text " +
              Quote(SharedPath("data/wikitext-2-raw/wiki.test.raw").string()) +
              " --ctx 128 --chunks 20");
  std::printf(
      "stories260K wikitext-2 ctx 128, 20 chunks: PPL %.4f +/- %.5f (reference 109.4426 +/- "
      "10.49776)\n",
      j["ppl"].get<double>(), j["ppl_stderr"].get<double>());
  BOOST_TEST(Significant(j["ppl"], 4) == 109.4);
  BOOST_TEST(Significant(j["ppl_stderr"], 4) == 10.50);
  BOOST_TEST(j["scored_tokens"] == 1260);
  BOOST_TEST(j["text_tokens"] == 809290);
}

BOOST_AUTO_TEST_CASE(kld_of_our_q8_0_matches_reference,
                     *boost::unit_test::precondition(NeedsShared())) {
  const std::string q8 = (TempDir() / "stories260K-Q8_0.gguf").string();
  const CommandResult q = RunTcobench("model quantize " + Quote(SharedPath(kStories).string()) +
                                      " " + Quote(q8) + " --type Q8_0 --format json");
  BOOST_REQUIRE_MESSAGE(q.exit_code == 0, q.err);
  const json placement = json::parse(q.out);
  BOOST_TEST(placement["tensor_types"]["Q8_0"] == 32);
  BOOST_TEST(placement["tensor_types"]["F16"] == 5);  // the 172-wide ffn_down tensors
  BOOST_TEST(placement["tensor_types"]["F32"] == 11);
  BOOST_TEST(std::filesystem::file_size(q8) == 379168u);  // the reference file's size
  const json j = RunJson("eval kld " + Quote(SharedPath(kStories).string()) + " " + Quote(q8) +
                         " --text " + Quote(SharedPath(kTiny).string()) + " --ctx 128");
  const double same = j["same_top1"], kld = j["mean_kld"];
  std::printf(
      "stories260K Q8_0 vs F32: same top-1 %.3f%% (reference 98.308%%, limit +/-0.5pp), mean KLD "
      "%.6f "
      "(reference 0.000951, limit +/-10%%)\n",
      100 * same, kld);
  BOOST_TEST(std::fabs(100 * same - 98.308) <= 0.5);
  BOOST_TEST(std::fabs(kld - 0.000951) <= 0.1 * 0.000951);
  BOOST_TEST(j["scored_tokens"] == 7623);
  BOOST_TEST(Significant(j["ppl_base"], 4) == 5.726);  // exact base log-probabilities, no clamping
  BOOST_TEST(j["kld_p99"].get<double>() >= j["kld_p90"].get<double>());
  BOOST_TEST(j["kld_max"].get<double>() >= j["kld_p999"].get<double>());
}

BOOST_AUTO_TEST_CASE(choice_is_repeatable, *boost::unit_test::precondition(NeedsShared())) {
  const std::string cmd =
      "eval choice " + Quote(SharedPath(kStories).string()) + " --task hellaswag " +
      Quote(SharedPath("data/hellaswag/hellaswag_val_full.txt").string()) + " --limit 100";
  const json a = RunJson(cmd), b = RunJson(cmd);
  BOOST_TEST(a["n"] == 100);
  BOOST_TEST(a["accuracy"] == b["accuracy"]);
  BOOST_TEST(a["accuracy_unnormalized"] == b["accuracy_unnormalized"]);
  std::printf("stories260K HellaSwag first 100: accuracy %.2f%% (summed: %.2f%%)\n",
              100 * a["accuracy"].get<double>(), 100 * a["accuracy_unnormalized"].get<double>());
}

// Independent scoring of one ending: a fresh full prefill of context + " " +
// ending, summing the log-probabilities of the tokens after the context's.
double EndingLogprob(const LlamaModel& model, const std::string& context, const std::string& ending,
                     int64_t* n) {
  const Tokenizer& tok = model.tokenizer();
  const std::vector<int32_t> ctx = tok.Encode(context, AddSpecial::kYes);
  const std::vector<int32_t> full = tok.Encode(context + " " + ending, AddSpecial::kYes);
  size_t shared = 0;
  while (shared < ctx.size() && full[shared] == ctx[shared]) ++shared;
  auto s = Session::Create(model, SessionOptions{static_cast<int64_t>(full.size())});
  std::vector<float> logits;
  BOOST_REQUIRE((*s)->Prefill(full, LogitsMode::kAll, &logits).ok());
  const int64_t nv = model.hparams().n_vocab;
  double sum = 0;
  for (size_t t = shared; t < full.size(); ++t) {
    const float* row = logits.data() + (t - 1) * nv;
    double z = 0, max = row[0];
    for (int64_t i = 1; i < nv; ++i) max = std::max<double>(max, row[i]);
    for (int64_t i = 0; i < nv; ++i) z += std::exp(row[i] - max);
    sum += row[full[t]] - max - std::log(z);
  }
  *n = static_cast<int64_t>(full.size() - shared);
  return sum;
}

BOOST_AUTO_TEST_CASE(choice_arithmetic_on_a_hand_made_file,
                     *boost::unit_test::precondition(NeedsShared())) {
  auto model = LlamaModel::Open(SharedPath(kStories), ModelOptions{2});
  BOOST_REQUIRE(model.ok());
  std::vector<ChoiceTask> tasks = {
      {"Once upon a time, there was a little girl named Lily.",
       {"She liked to play.", "Purple", "The cat sat", "Run!"},
       0},
      {"Tom had a big red ball.",
       {"He threw it to his dog.", "Ball ball ball", "x", "It was very very happy"},
       0},
      {"The sun was hot.", {"Lily went to the park to play.", "hot", "zzz qqq", "The"}, 0},
  };
  // Independent scores; make task 0's gold the best normalised ending and the
  // other two golds wrong ones, so the expected accuracy is exactly 1/3.
  std::vector<int> best(tasks.size());
  std::vector<std::vector<double>> want(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    double best_score = -INFINITY;
    for (size_t e = 0; e < tasks[i].endings.size(); ++e) {
      int64_t n = 0;
      want[i].push_back(EndingLogprob(**model, tasks[i].context, tasks[i].endings[e], &n));
      if (want[i].back() / n > best_score) {
        best_score = want[i].back() / n;
        best[i] = static_cast<int>(e);
      }
    }
  }
  tasks[0].gold = best[0];
  tasks[1].gold = (best[1] + 1) % 4;
  tasks[2].gold = (best[2] + 2) % 4;
  // The same tasks through the text format and the command line.
  std::string text;
  for (const ChoiceTask& t : tasks) {
    text += t.context + "\n" + std::to_string(t.gold) + "\n";
    for (const std::string& e : t.endings) text += e + "\n";
  }
  const std::filesystem::path file = TempDir() / "three.txt";
  WriteText(file, text);
  auto parsed = ParseHellaswag(text, "three.txt");
  BOOST_REQUIRE(parsed.ok());
  auto r = EvaluateChoice(**model, *parsed, nullptr);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (size_t i = 0; i < tasks.size(); ++i) {
    BOOST_TEST(r->predicted[i] == best[i]);
    for (size_t e = 0; e < 4; ++e)
      BOOST_TEST(std::fabs(r->ending_logprob[i][e] - want[i][e]) < 1e-3);
  }
  BOOST_TEST(r->n == 3);
  BOOST_TEST(std::fabs(r->accuracy - 1.0 / 3) < 1e-12);
  BOOST_TEST(std::fabs(r->accuracy_stderr - std::sqrt((1.0 / 3) * (2.0 / 3) / 2)) < 1e-12);
  const json j = RunJson("eval choice " + Quote(SharedPath(kStories).string()) +
                         " --task hellaswag " + Quote(file.string()));
  BOOST_TEST(std::fabs(j["accuracy"].get<double>() - 1.0 / 3) < 1e-12);
  BOOST_TEST(j["n"] == 3);
}

BOOST_AUTO_TEST_CASE(bad_task_files_are_clear_errors) {
  BOOST_TEST(!ParseHellaswag("ctx\n0\na\nb\nc\n", "short.txt").ok());
  auto r = ParseHellaswag("ctx\n7\na\nb\nc\nd\n", "gold.txt");
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(std::string(r.status().message()).find("line 2") != std::string::npos);
  BOOST_TEST(!ParseArc("{}", "arc.json").ok());
  BOOST_TEST(
      !ParseArc(
           R"([{"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "C"}])",
           "arc.json")
           .ok());
  auto ok = ParseArc(
      R"([{"question": "q?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "B"}])",
      "arc.json");
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST((*ok)[0].gold == 1);
  BOOST_TEST((*ok)[0].context == "Question: q?\nAnswer:");
}

}  // namespace
}  // namespace tcobench::testing
