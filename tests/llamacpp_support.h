// Tests against llama.cpp itself (the libllama and tools that
// scripts/build-llama-cpp.sh builds): a precondition that skips, saying why,
// when this build has none; loading a file through libllama; the final
// estimate of llama-perplexity.
#pragma once

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/test_support.h"
#include "workers/llamacpp/llamacpp.h"

namespace tcobench {

// Precondition: a libllama this build can open, and shared/.
struct NeedsLlamaCpp {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id id) const {
    std::string why;
    if (!LlamaCppCompiledIn()) {
      why = LlamaCppHeaderVersion();
    } else if (!std::filesystem::exists(DefaultLlamaLib())) {
      why = "no " + DefaultLlamaLib().string() + " (scripts/build-llama-cpp.sh)";
    } else if (!std::filesystem::exists(testing::SharedPath("models/stories260K.gguf"))) {
      why = "shared models/data not found at " + testing::SharedDir().string();
    }
    boost::test_tools::assertion_result r(why.empty());
    if (!why.empty()) {
      ++testing::SharedSkips();
      r.message() << "skipped: " << why;
      std::printf("SKIPPED %s: %s\n", boost::unit_test::framework::get(id, boost::unit_test::TUT_ANY).p_name->c_str(),
                  why.c_str());
    }
    return r;
  }
};

inline std::shared_ptr<LlamaCppLibrary> Library() { return testing::ValueOf(OpenLlamaCpp(DefaultLlamaLib()), "open libllama"); }

inline std::unique_ptr<LlamaCppModel> OpenLlama(const std::filesystem::path& file, int threads = 2) {
  LlamaCppOptions o;
  o.threads = threads;
  return testing::ValueOf(LlamaCppModel::Open(Library(), file, o), "load " + file.string());
}

// The golden logits' "reference settings": F32 KV cache, no flash attention.
inline std::unique_ptr<LlamaCppModel> OpenLlamaReference(const std::filesystem::path& file) {
  LlamaCppOptions o;
  o.threads = 2;
  o.kv_cache_type = "f32";
  o.flash_attention = "off";
  return testing::ValueOf(LlamaCppModel::Open(Library(), file, o), "load " + file.string());
}


// llama-perplexity's final estimate, run beside this test on the same file.
// `extra`: more options (e.g. the reference settings, "-ctk f32 -ctv f32 -fa off").
inline double LlamaPerplexity(const std::filesystem::path& model, const std::filesystem::path& text, int ctx, int chunks,
                              const std::string& extra = "") {
  const std::filesystem::path bin = DefaultLlamaLib().parent_path().parent_path() / "bin" / "llama-perplexity";
  BOOST_REQUIRE_MESSAGE(std::filesystem::exists(bin), bin << " is missing (scripts/build-llama-cpp.sh builds it)");
  const std::filesystem::path log = testing::TempDir() / "llama-perplexity.log";
  const std::string cmd = bin.string() + " -m " + testing::Quote(model.string()) + " -f " +
                          testing::Quote(text.string()) + " -c " + std::to_string(ctx) + " --chunks " +
                          std::to_string(chunks) + " -t 2 " + extra + " > " + log.string() + " 2>&1";
  // llama.cpp v0.5.0's tools log through a thread they never join (the
  // logger is leaked on purpose, common/log.cpp): about one run in three
  // exits 0 before its last lines are written. Such a run is repeated.
  for (int attempt = 0; attempt < 10; ++attempt) {
    BOOST_REQUIRE_EQUAL(std::system(cmd.c_str()), 0);
    const std::string out = testing::ReadText(log);
    const size_t at = out.find("Final estimate: PPL = ");
    if (at != std::string::npos) return std::stod(out.substr(at + 22));
  }
  BOOST_FAIL("llama-perplexity never printed its final estimate: " << log);
  return 0;
}

// The conformance limit for a golden model name (ktiny-Q8_0 …): 4x the
// larger of its settings-variation and native-vs-dequantized mean KLD in
// shared/data/golden/logits/INDEX.json.
inline double KldTolerance(const std::string& model) {
  static const nlohmann::json index =
      nlohmann::json::parse(testing::ReadText(testing::SharedPath("data/golden/logits/INDEX.json")));
  double t = 0;
  for (const char* k : {"settings_variation", "native_vs_dequantized_f32"}) {
    for (const auto& e : index[k]) {
      if (e["model"] == model) t = std::max(t, e["mean_kld"].get<double>());
    }
  }
  return 4 * t;
}

}  // namespace tcobench
