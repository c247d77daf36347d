// The llama.cpp runtime in a build configured without llama.h: the same
// interface, every entry point saying how to get one.
#include "workers/llamacpp/llamacpp.h"

namespace tcobench {

class LlamaCppLibrary {
 public:
  LlamaCppBuild build;
};

struct LlamaCppModel::Impl {};

namespace {
constexpr const char* kWhy =
    "this tcobench was built without llama.cpp (no llama.h at configure time): run "
    "scripts/build-llama-cpp.sh, then scripts/build.sh (or configure with -DTCOBENCH_LLAMA_DIR=FOLDER)";
absl::Status NotBuilt() { return absl::InvalidArgumentError(kWhy); }
}  // namespace

std::string LlamaCppBuild::Describe() const { return "no libllama"; }
bool LlamaCppCompiledIn() { return false; }
std::string LlamaCppHeaderVersion() { return kWhy; }
std::filesystem::path DefaultLlamaLib() { return {}; }
absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> OpenLlamaCpp(const std::filesystem::path&) { return NotBuilt(); }
const LlamaCppBuild& BuildOf(const LlamaCppLibrary& library) { return library.build; }

LlamaCppModel::LlamaCppModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlamaCppModel::~LlamaCppModel() = default;
absl::StatusOr<std::unique_ptr<LlamaCppModel>> LlamaCppModel::Open(std::shared_ptr<LlamaCppLibrary>,
                                                                   const std::filesystem::path&,
                                                                   const LlamaCppOptions&) {
  return NotBuilt();
}
absl::StatusOr<std::unique_ptr<Runtime>> LlamaCppModel::MakeRuntime(int, int64_t) const { return NotBuilt(); }
std::string LlamaCppModel::OptionsSummary() const { return ""; }
const LlamaCppBuild& LlamaCppModel::build() const {
  static const LlamaCppBuild none;
  return none;
}
int64_t LlamaCppModel::n_vocab() const { return 0; }
std::vector<int32_t> LlamaCppModel::Encode(absl::string_view, bool) const { return {}; }
int32_t LlamaCppModel::bos() const { return -1; }
std::string LlamaCppModel::Piece(int32_t) const { return ""; }
std::vector<std::string> LlamaCppModel::TokenTexts() const { return {}; }
absl::StatusOr<std::unique_ptr<LogitsSession>> LlamaCppModel::NewSession(int64_t) const { return NotBuilt(); }

}  // namespace tcobench
