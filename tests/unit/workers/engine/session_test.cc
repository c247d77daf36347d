#define BOOST_TEST_MODULE session
#include "workers/engine/session.h"

#include <cmath>

#include "tests/test_support.h"
#include "workers/engine/gguf_writer.h"
#include "workers/engine/synth.h"

namespace tcobench::testing {
namespace {

// Batches of 16+ tokens take the matrix-matrix path and single tokens the
// dot-product path: the same products summed in another order. A wrong
// position or cache row moves these logits (std ~0.3) by far more.
constexpr float kLogitTolerance = 1e-3f;

std::filesystem::path Ktiny(TensorType type) {
  const std::filesystem::path p = TempDir() / (std::string("ktiny-") + TypeName(type) + ".gguf");
  if (!std::filesystem::exists(p)) {
    SynthOptions o;
    o.type = type;
    o.seed = 5;
    BOOST_REQUIRE(SynthesizeModel(*FindSynthShape("ktiny"), o, p).ok());
  }
  return p;
}

// Evaluating a sequence in one batch, or one token at a time through the KV
// cache, or in two chunks, gives the same logits.
BOOST_AUTO_TEST_CASE(batch_and_incremental_agree) {
  for (int threads : {1, 2}) {
    auto model = LlamaModel::Open(Ktiny(TensorType::kF16), ModelOptions{threads});
    BOOST_REQUIRE_MESSAGE(model.ok(), model.status().ToString());
    // 20 tokens: the batch takes the matrix-matrix path, single tokens the
    // dot-product path.
    const std::vector<int32_t> ids = {1, 500, 17,  900, 3,  1000, 260, 261, 42, 77,
                                      5, 600, 700, 800, 90, 91,   92,  93,  94, 95};
    const int64_t nv = (*model)->hparams().n_vocab;
    auto s = Session::Create(**model, SessionOptions{32});
    std::vector<float> all, one, part;
    BOOST_REQUIRE((*s)->Prefill(ids, LogitsMode::kAll, &all).ok());
    BOOST_TEST(all.size() == ids.size() * nv);
    (*s)->Reset();
    for (size_t t = 0; t < ids.size(); ++t) {
      BOOST_REQUIRE((*s)->Decode(ids[t], &one).ok());
      for (int64_t v = 0; v < nv; ++v) {
        BOOST_REQUIRE_SMALL(one[v] - all[t * nv + v], kLogitTolerance);
      }
    }
    (*s)->Reset();
    BOOST_REQUIRE(
        (*s)->Prefill(std::span<const int32_t>(ids.data(), 4), LogitsMode::kLast, &part).ok());
    BOOST_REQUIRE(
        (*s)->Prefill(std::span<const int32_t>(ids.data() + 4, 6), LogitsMode::kAll, &part).ok());
    for (int64_t v = 0; v < nv; ++v)
      BOOST_REQUIRE_SMALL(part[5 * nv + v] - all[9 * nv + v], kLogitTolerance);
  }
}

BOOST_AUTO_TEST_CASE(bad_tokens_and_full_context_are_errors) {
  auto model = LlamaModel::Open(Ktiny(TensorType::kF32), ModelOptions{1});
  BOOST_REQUIRE(model.ok());
  auto s = Session::Create(**model, SessionOptions{4});
  std::vector<float> logits;
  const std::vector<int32_t> bad = {1, 1024};
  BOOST_TEST(absl::IsInvalidArgument((*s)->Prefill(bad, LogitsMode::kLast, &logits)));
  const std::vector<int32_t> neg = {-1};
  BOOST_TEST(absl::IsInvalidArgument((*s)->Prefill(neg, LogitsMode::kLast, &logits)));
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  BOOST_TEST(absl::IsOutOfRange((*s)->Prefill(five, LogitsMode::kLast, &logits)));
  BOOST_TEST((*s)->n_past() == 0);
}

BOOST_AUTO_TEST_CASE(unsupported_files_name_what_is_supported,
                     *boost::unit_test::precondition(NeedsShared())) {
  auto m = LlamaModel::Open(SharedPath("models/vocab/ggml-vocab-gpt-2.gguf"), ModelOptions{1});
  BOOST_REQUIRE(!m.ok());
  BOOST_TEST(std::string(m.status().message()).find("supported: llama") != std::string::npos,
             m.status().message());
  auto spm =
      LlamaModel::Open(SharedPath("models/vocab/ggml-vocab-llama-spm.gguf"), ModelOptions{1});
  BOOST_REQUIRE(!spm.ok());  // vocab only: no tensors
  BOOST_TEST(std::string(spm.status().message()).find("missing") != std::string::npos,
             spm.status().message());
}

}  // namespace
}  // namespace tcobench::testing

namespace tcobench::testing {
namespace {

// Several sequences decoded together in one pass give each sequence the
// logits it gets when decoded alone.
BOOST_AUTO_TEST_CASE(batched_decoding_matches_one_sequence_at_a_time) {
  auto model = LlamaModel::Open(TempDir() / "ktiny-batch.gguf", ModelOptions{2});
  if (!model.ok()) {
    SynthOptions o;
    o.type = TensorType::kF16;
    BOOST_REQUIRE(
        SynthesizeModel(*FindSynthShape("ktiny"), o, TempDir() / "ktiny-batch.gguf").ok());
    model = LlamaModel::Open(TempDir() / "ktiny-batch.gguf", ModelOptions{2});
  }
  BOOST_REQUIRE(model.ok());
  const int64_t nv = (*model)->hparams().n_vocab;
  const int n_seq = 5, steps = 6;
  // Different prompt lengths, so the sequences sit at different positions.
  std::vector<std::vector<int32_t>> prompts;
  for (int s = 0; s < n_seq; ++s) {
    std::vector<int32_t> p = {1};
    for (int k = 0; k < s + 1; ++k) p.push_back(100 + 37 * s + k);
    prompts.push_back(p);
  }
  auto token = [](int s, int step) { return static_cast<int32_t>(300 + 11 * s + step); };
  // Reference: each sequence alone.
  std::vector<std::vector<float>> alone(n_seq);
  for (int s = 0; s < n_seq; ++s) {
    auto one = Session::Create(**model, SessionOptions{32, 1});
    std::vector<float> logits;
    BOOST_REQUIRE((*one)->Prefill(prompts[s], LogitsMode::kLast, &logits).ok());
    for (int step = 0; step < steps; ++step) {
      BOOST_REQUIRE((*one)->Decode(token(s, step), &logits).ok());
      alone[s].insert(alone[s].end(), logits.begin(), logits.end());
    }
  }
  auto batch = Session::Create(**model, SessionOptions{32, n_seq});
  BOOST_REQUIRE(batch.ok());
  std::vector<float> logits;
  for (int s = 0; s < n_seq; ++s)
    BOOST_REQUIRE((*batch)->Prefill(s, prompts[s], LogitsMode::kLast, &logits).ok());
  for (int step = 0; step < steps; ++step) {
    std::vector<int32_t> toks;
    std::vector<int> seqs;
    for (int s = n_seq - 1; s >= 0; --s) {  // any order
      toks.push_back(token(s, step));
      seqs.push_back(s);
    }
    BOOST_REQUIRE((*batch)->DecodeBatch(toks, seqs, &logits).ok());
    for (size_t i = 0; i < seqs.size(); ++i) {
      for (int64_t v = 0; v < nv; ++v) {
        BOOST_REQUIRE_SMALL(logits[i * nv + v] - alone[seqs[i]][step * nv + v], kLogitTolerance);
      }
    }
  }
  for (int s = 0; s < n_seq; ++s)
    BOOST_TEST((*batch)->n_past(s) == static_cast<int64_t>(prompts[s].size()) + steps);
  // A repeated sequence in one batch is an error.
  const std::vector<int32_t> two = {5, 6};
  const std::vector<int> same = {1, 1};
  BOOST_TEST(absl::IsInvalidArgument((*batch)->DecodeBatch(two, same, &logits)));
  BOOST_TEST(!Session::Create(**model, SessionOptions{8, 17}).ok());
}

}  // namespace
}  // namespace tcobench::testing

namespace tcobench::testing {
namespace {

// Copies a GGUF file, adding metadata and tensors.
void CopyWith(const std::filesystem::path& in, const std::filesystem::path& out,
              const std::vector<GgufKv>& extra_kv, const std::string& extra_tensor,
              const std::vector<float>& extra_values) {
  auto f = GgufFile::Open(in);
  BOOST_REQUIRE(f.ok());
  GgufWriter w;
  for (const GgufKv& kv : (*f)->metadata()) w.SetValue(kv.key, kv.value);
  for (const GgufKv& kv : extra_kv) w.SetValue(kv.key, kv.value);
  for (const GgufTensorInfo& t : (*f)->tensors()) {
    BOOST_REQUIRE(w.AddTensor(t.name, t.type,
                              std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                              {(*f)->TensorData(t), static_cast<size_t>(t.n_bytes)})
                      .ok());
  }
  if (!extra_tensor.empty()) {
    const auto* p = reinterpret_cast<const uint8_t*>(extra_values.data());
    BOOST_REQUIRE(w.AddTensor(extra_tensor, TensorType::kF32,
                              {static_cast<int64_t>(extra_values.size())},
                              {p, extra_values.size() * sizeof(float)})
                      .ok());
  }
  BOOST_REQUIRE(w.Write(out).ok());
}

// Llama 3.1-style rope_freqs divide every angle: factors all equal to 2 must
// give the same logits as linear rope scaling by 2; factors of 1 change nothing.
BOOST_AUTO_TEST_CASE(rope_frequency_factors) {
  const std::filesystem::path base = TempDir() / "rope-base.gguf";
  BOOST_REQUIRE(SynthesizeModel(*FindSynthShape("ktiny"), SynthOptions{}, base).ok());
  const int64_t half = 256 / 4 / 2;  // head_dim 64
  CopyWith(base, TempDir() / "rope-ones.gguf", {}, "rope_freqs.weight",
           std::vector<float>(half, 1.0f));
  CopyWith(base, TempDir() / "rope-twos.gguf", {}, "rope_freqs.weight",
           std::vector<float>(half, 2.0f));
  CopyWith(base, TempDir() / "rope-linear.gguf",
           {{"llama.rope.scaling.type", GgufValue::String("linear")},
            {"llama.rope.scaling.factor", GgufValue::Float32(2.0f)}},
           "", {});
  auto logits_of = [](const std::filesystem::path& p) {
    auto m = LlamaModel::Open(p, ModelOptions{1});
    BOOST_REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    auto s = Session::Create(**m, SessionOptions{16});
    std::vector<float> logits;
    const std::vector<int32_t> ids = {1, 40, 300, 77, 500, 12, 900, 33};
    BOOST_REQUIRE((*s)->Prefill(ids, LogitsMode::kAll, &logits).ok());
    return logits;
  };
  const std::vector<float> plain = logits_of(base), ones = logits_of(TempDir() / "rope-ones.gguf");
  const std::vector<float> twos = logits_of(TempDir() / "rope-twos.gguf");
  const std::vector<float> linear = logits_of(TempDir() / "rope-linear.gguf");
  double diff_ones = 0, diff_twos = 0, moved = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    diff_ones = std::max<double>(diff_ones, std::fabs(plain[i] - ones[i]));
    diff_twos = std::max<double>(diff_twos, std::fabs(twos[i] - linear[i]));
    moved = std::max<double>(moved, std::fabs(twos[i] - plain[i]));
  }
  BOOST_TEST(diff_ones == 0.0);
  BOOST_TEST(diff_twos < 1e-5);
  BOOST_TEST(moved > 1e-3);  // the factors do change the result
  // Non-positive factors are rejected.
  CopyWith(base, TempDir() / "rope-bad.gguf", {}, "rope_freqs.weight",
           std::vector<float>(half, 0.0f));
  BOOST_TEST(!LlamaModel::Open(TempDir() / "rope-bad.gguf", ModelOptions{1}).ok());
}

}  // namespace
}  // namespace tcobench::testing
