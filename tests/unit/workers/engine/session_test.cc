#define BOOST_TEST_MODULE session
#include "workers/engine/session.h"

#include <cmath>

#include "tests/test_support.h"
#include "workers/engine/synth.h"

namespace tcobench::testing {
namespace {

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
    const std::vector<int32_t> ids = {1, 500, 17, 900, 3, 1000, 260, 261, 42, 77};
    const int64_t nv = (*model)->hparams().n_vocab;
    auto s = Session::Create(**model, SessionOptions{32});
    std::vector<float> all, one, part;
    BOOST_REQUIRE((*s)->Prefill(ids, LogitsMode::kAll, &all).ok());
    BOOST_TEST(all.size() == ids.size() * nv);
    (*s)->Reset();
    for (size_t t = 0; t < ids.size(); ++t) {
      BOOST_REQUIRE((*s)->Decode(ids[t], &one).ok());
      for (int64_t v = 0; v < nv; ++v) {
        BOOST_REQUIRE_SMALL(one[v] - all[t * nv + v], 1e-4f);
      }
    }
    (*s)->Reset();
    BOOST_REQUIRE(
        (*s)->Prefill(std::span<const int32_t>(ids.data(), 4), LogitsMode::kLast, &part).ok());
    BOOST_REQUIRE(
        (*s)->Prefill(std::span<const int32_t>(ids.data() + 4, 6), LogitsMode::kAll, &part).ok());
    for (int64_t v = 0; v < nv; ++v) BOOST_REQUIRE_SMALL(part[5 * nv + v] - all[9 * nv + v], 1e-4f);
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
