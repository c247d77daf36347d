// llama.cpp as a runtime (docs/llamacpp.md): libllama, loaded at run time
// from the file a worker names (--llama-lib), driven through its C API.
// The load generator's Runtime runs sequences as llama.cpp sequence ids
// (prefill and batched decode steps through llama_decode, greedy tokens
// from the logits); the evaluators read its logits through LogitsModel, so
// perplexity, KL divergence and multiple choice are the engine's code.
//
// The code is compiled against one llama.h (the folder
// scripts/build-llama-cpp.sh makes, found at configure time); a library of
// another build is refused when opened, naming both versions, because the
// C API's structs change between builds. A build without llama.h compiles
// the same interface and every call says how to get one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "workers/engine/logits_model.h"
#include "workers/loadgen/runtime.h"

namespace tcobench {

// What a libllama says about itself once opened.
struct LlamaCppBuild {
  std::string library;      // the file opened
  std::string version;      // llama_version(), e.g. 0.5.0-dev
  std::string commit;       // ggml_commit(): the llama.cpp commit it was built from
  std::string system_info;  // llama_print_system_info(): CPU features, backends
  bool gpu_offload = false; // llama_supports_gpu_offload(): a GPU backend is in it
  std::string Describe() const;  // "libllama 0.5.0-dev (de3ff81) at PATH"
};

// True when this build was compiled against a llama.h.
bool LlamaCppCompiledIn();
// The llama.h this build was compiled against ("v0.5.0 de3ff815…"), or
// why there is none.
std::string LlamaCppHeaderVersion();
// The libllama of the folder found at build time ("" when none).
std::filesystem::path DefaultLlamaLib();

class LlamaCppLibrary;

// Opens libllama (and the ggml libraries beside it) once per process (an
// empty path: DefaultLlamaLib()); a
// second call with the same file returns the same library, with another
// file an error. Errors are INVALID_ARGUMENT (exit 2 in the programs) and
// name the file and what is wrong: missing, not loadable, not a libllama, or built from another
// llama.cpp than the header (both versions named).
absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> OpenLlamaCpp(const std::filesystem::path& library);
const LlamaCppBuild& BuildOf(const LlamaCppLibrary& library);

// A variant's settings (spec: variants[].llamacpp, threads, ctx).
struct LlamaCppOptions {
  int threads = 0;                        // 0: every CPU
  int batch = 0;                          // n_batch, tokens per llama_decode; 0: 2048
  int ubatch = 0;                         // n_ubatch; 0: 512
  std::string flash_attention = "auto";   // auto, on, off
  std::string kv_cache_type = "f16";      // K and V: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1
  int gpu_layers = 0;                     // layers offloaded to a GPU; -1: all
};

// A model file loaded into libllama.
class LlamaCppModel : public LogitsModel {
 public:
  static absl::StatusOr<std::unique_ptr<LlamaCppModel>> Open(std::shared_ptr<LlamaCppLibrary> library,
                                                               const std::filesystem::path& file,
                                                               const LlamaCppOptions& options);
  ~LlamaCppModel() override;

  // The Runtime: n_seq sequences of n_ctx positions each, in one context.
  absl::StatusOr<std::unique_ptr<Runtime>> MakeRuntime(int n_seq, int64_t n_ctx) const;
  // "threads=2 batch=2048 ubatch=512 flash_attention=auto kv=f16 gpu_layers=0 (of 22)".
  std::string OptionsSummary() const;
  const LlamaCppBuild& build() const;

  int64_t n_vocab() const override;
  std::vector<int32_t> Encode(absl::string_view text, bool add_special) const override;
  int32_t bos() const override;
  std::string Piece(int32_t id) const override;
  std::vector<std::string> TokenTexts() const override;
  absl::StatusOr<std::unique_ptr<LogitsSession>> NewSession(int64_t n_ctx) const override;

  struct Impl;

 private:
  explicit LlamaCppModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tcobench
