#include "workers/llamacpp/llamacpp.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/base/status_macros.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

// Set by workers/llamacpp/CMakeLists.txt from the folder's stamp.
#ifndef TCOBENCH_LLAMA_HEADER_STAMP
#error "TCOBENCH_LLAMA_HEADER_STAMP is not defined"
#endif
#ifndef TCOBENCH_LLAMA_DEFAULT_LIB
#error "TCOBENCH_LLAMA_DEFAULT_LIB is not defined"
#endif

namespace tcobench {

namespace fs = std::filesystem;

// The C API, resolved from the opened library. Each pointer has the type
// of the declaration in the llama.h this file is compiled against.
#define TCOBENCH_LLAMA_FUNCTIONS(X)                                                              \
  X(llama_version) X(llama_print_system_info) X(llama_supports_gpu_offload) X(llama_backend_init) \
  X(llama_log_set) X(llama_model_default_params) X(llama_context_default_params)                  \
  X(llama_model_load_from_file) X(llama_model_free) X(llama_init_from_model) X(llama_free)        \
  X(llama_model_get_vocab) X(llama_model_n_layer) X(llama_vocab_n_tokens) X(llama_tokenize)       \
  X(llama_token_to_piece) X(llama_vocab_bos) X(llama_vocab_get_add_bos) X(llama_vocab_get_text)   \
  X(llama_get_memory) X(llama_memory_seq_rm) X(llama_memory_clear) X(llama_decode)                \
  X(llama_get_logits_ith) X(llama_batch_init) X(llama_batch_free) X(llama_n_ctx_seq)              \
  X(ggml_commit) X(ggml_backend_reg_count) X(ggml_backend_load_all_from_path)

class LlamaCppLibrary {
 public:
#define TCOBENCH_DECLARE(name) decltype(&::name) name = nullptr;
  TCOBENCH_LLAMA_FUNCTIONS(TCOBENCH_DECLARE)
#undef TCOBENCH_DECLARE
  LlamaCppBuild build;
  std::vector<void*> handles;  // never closed: libllama keeps global state
};

namespace {

constexpr const char* kStamp = TCOBENCH_LLAMA_HEADER_STAMP;  // "v0.5.0 <commit>"

// What llama.cpp logs: kept quiet, the last error lines kept for messages.
std::mutex g_log_mu;
std::string g_last_error;

void LogCallback(ggml_log_level level, const char* text, void*) {
  if (level != GGML_LOG_LEVEL_ERROR && level != GGML_LOG_LEVEL_WARN) return;
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (level == GGML_LOG_LEVEL_ERROR) {
    std::string t(text);
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    if (!t.empty()) g_last_error = t;
  }
}

std::string TakeLastError() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::string e = g_last_error.empty() ? std::string("no reason logged") : g_last_error;
  g_last_error.clear();
  return e;
}

// The stamp's two words: "v0.5.0" and the commit.
std::string HeaderVersion() {
  const absl::string_view s(kStamp);
  return std::string(absl::StripPrefix(s.substr(0, s.find(' ')), "v"));
}
std::string HeaderCommit() {
  const absl::string_view s(kStamp);
  const size_t sp = s.find(' ');
  return sp == absl::string_view::npos ? std::string() : std::string(s.substr(sp + 1));
}

std::mutex g_open_mu;
std::shared_ptr<LlamaCppLibrary> g_library;  // one per process

absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> Load(const fs::path& file) {
  const std::string at = absl::StrCat("--llama-lib ", file.string());
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return absl::NotFoundError(absl::StrCat(at, ": no such file"));
  auto lib = std::make_shared<LlamaCppLibrary>();
  // ggml's libraries beside it first: libllama's own search path may name
  // the folder it was built in, and a loaded library of the same soname is
  // what the loader takes.
  const fs::path dir = fs::absolute(file).parent_path();
  for (const char* dep : {"libggml-base.so.0", "libggml-cpu.so.0", "libggml-blas.so.0", "libggml-cuda.so.0",
                          "libggml-vulkan.so.0", "libggml.so.0"}) {
    if (!fs::exists(dir / dep)) continue;
    void* h = ::dlopen((dir / dep).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return absl::InvalidArgumentError(absl::StrCat(at, ": cannot load ", dep, ": ", ::dlerror()));
    lib->handles.push_back(h);
  }
  void* h = ::dlopen(fs::absolute(file).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) return absl::InvalidArgumentError(absl::StrCat(at, ": cannot load: ", ::dlerror()));
  lib->handles.push_back(h);
  std::vector<std::string> missing;
#define TCOBENCH_RESOLVE(name)                                                     \
  lib->name = reinterpret_cast<decltype(&::name)>(::dlsym(h, #name));              \
  if (lib->name == nullptr) missing.push_back(#name);
  TCOBENCH_LLAMA_FUNCTIONS(TCOBENCH_RESOLVE)
#undef TCOBENCH_RESOLVE
  if (lib->llama_version == nullptr || lib->llama_decode == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(at, ": not a libllama (it has no llama_version/llama_decode)"));
  }
  LlamaCppBuild& b = lib->build;
  b.library = fs::absolute(file).string();
  b.version = lib->llama_version();
  b.commit = lib->ggml_commit != nullptr ? lib->ggml_commit() : "unknown";
  const std::string want_version = HeaderVersion(), want_commit = HeaderCommit();
  const bool same_version = absl::StripSuffix(b.version, "-dev") == want_version;
  // ggml_commit() is the short hash of the commit the header's stamp names.
  const bool same_commit = b.commit.size() >= 7 && absl::StartsWith(want_commit, b.commit);
  if (!same_version || !same_commit || !missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        at, ": libllama ", b.version, " (commit ", b.commit, ") does not match the llama.h tcobench was built with (",
        want_version, ", commit ", want_commit.substr(0, 7), ")",
        missing.empty() ? std::string() : absl::StrCat("; missing ", absl::StrJoin(missing, ", ")),
        "; use a libllama of that build (scripts/build-llama-cpp.sh) or rebuild tcobench with "
        "-DTCOBENCH_LLAMA_DIR naming yours"));
  }
  lib->llama_log_set(LogCallback, nullptr);
  lib->llama_backend_init();
  // A build with its backends as loadable modules (GGML_BACKEND_DL) finds
  // them in its folder.
  if (lib->ggml_backend_reg_count() == 0) lib->ggml_backend_load_all_from_path(dir.c_str());
  if (lib->ggml_backend_reg_count() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(at, ": libllama found no ggml backend in ", dir.string()));
  }
  b.system_info = lib->llama_print_system_info();
  while (!b.system_info.empty() && (b.system_info.back() == ' ' || b.system_info.back() == '|')) b.system_info.pop_back();
  b.gpu_offload = lib->llama_supports_gpu_offload();
  return lib;
}

int Argmax(const float* row, int64_t n) {
  return static_cast<int>(std::max_element(row, row + n) - row);
}

absl::Status DecodeStatus(int32_t rc, const char* what) {
  if (rc == 0) return absl::OkStatus();
  if (rc == 1) {
    return absl::ResourceExhaustedError(absl::StrCat("llama_decode (", what, "): no room in the KV cache"));
  }
  return absl::InternalError(absl::StrCat("llama_decode (", what, ") failed (", rc, "): ", TakeLastError()));
}

absl::StatusOr<ggml_type> KvType(const std::string& name) {
  static const std::pair<const char*, ggml_type> kTypes[] = {
      {"f32", GGML_TYPE_F32},   {"f16", GGML_TYPE_F16},   {"bf16", GGML_TYPE_BF16},
      {"q8_0", GGML_TYPE_Q8_0}, {"q4_0", GGML_TYPE_Q4_0}, {"q4_1", GGML_TYPE_Q4_1},
      {"iq4_nl", GGML_TYPE_IQ4_NL}, {"q5_0", GGML_TYPE_Q5_0}, {"q5_1", GGML_TYPE_Q5_1}};
  const std::string lower = absl::AsciiStrToLower(name.empty() ? "f16" : name);
  for (const auto& [n, t] : kTypes) {
    if (lower == n) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "kv cache type '", name, "' is unknown (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)"));
}

absl::StatusOr<llama_flash_attn_type> FlashType(const std::string& s) {
  if (s.empty() || s == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
  if (s == "on") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
  if (s == "off") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
  return absl::InvalidArgumentError(absl::StrCat("flash attention '", s, "' is unknown (auto, on, off)"));
}

}  // namespace

struct LlamaCppModel::Impl {
  std::shared_ptr<LlamaCppLibrary> lib;
  llama_model* model = nullptr;
  const llama_vocab* vocab = nullptr;
  LlamaCppOptions options;
  int threads = 1;
  int n_layer = 0;
  int64_t n_vocab = 0;
  ggml_type kv_type = GGML_TYPE_F16;
  llama_flash_attn_type flash = LLAMA_FLASH_ATTN_TYPE_AUTO;

  // A context of n_seq sequences of n_ctx positions each; every output row
  // of a batch of up to n_batch tokens can be read.
  absl::StatusOr<llama_context*> NewContext(int n_seq, int64_t n_ctx, int64_t n_batch, int64_t n_ubatch) const {
    llama_context_params cp = lib->llama_context_default_params();
    // llama.cpp rounds a context up to 256 positions per sequence.
    const int64_t per_seq = (n_ctx + 255) / 256 * 256;
    cp.n_ctx = static_cast<uint32_t>(per_seq * n_seq);
    cp.n_seq_max = static_cast<uint32_t>(n_seq);
    cp.n_batch = static_cast<uint32_t>(n_batch);
    cp.n_ubatch = static_cast<uint32_t>(std::min(n_ubatch, n_batch));
    cp.n_threads = cp.n_threads_batch = threads;
    cp.flash_attn_type = flash;
    cp.type_k = cp.type_v = kv_type;
    cp.no_perf = true;
    llama_context* ctx = lib->llama_init_from_model(model, cp);
    if (ctx == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("libllama refused the context (", n_seq, " x ", n_ctx, " positions, kv ",
                       options.kv_cache_type, ", flash attention ", options.flash_attention, "): ", TakeLastError()));
    }
    if (lib->llama_n_ctx_seq(ctx) < n_ctx) {
      lib->llama_free(ctx);
      return absl::FailedPreconditionError(absl::StrCat("libllama gave ", lib->llama_n_ctx_seq(ctx),
                                                        " positions per sequence, ", n_ctx, " are needed"));
    }
    return ctx;
  }
};

namespace {

// A preallocated batch: filled in place for every call, so a measured
// step allocates nothing on our side.
class Batch {
 public:
  Batch(const LlamaCppLibrary& lib, int capacity) : lib_(lib), b_(lib.llama_batch_init(capacity, 0, 1)) {}
  ~Batch() { lib_.llama_batch_free(b_); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  void Clear() { b_.n_tokens = 0; }
  void Add(int32_t token, int32_t pos, int seq, bool output) {
    const int i = b_.n_tokens++;
    b_.token[i] = token;
    b_.pos[i] = pos;
    b_.n_seq_id[i] = 1;
    b_.seq_id[i][0] = seq;
    b_.logits[i] = output ? 1 : 0;
  }
  const llama_batch& get() const { return b_; }

 private:
  const LlamaCppLibrary& lib_;
  llama_batch b_;
};

class LlamaCppRuntime final : public Runtime {
 public:
  LlamaCppRuntime(const LlamaCppModel::Impl& m, llama_context* ctx, int n_seq, int64_t n_ctx, int n_batch)
      : m_(m), ctx_(ctx), n_seq_(n_seq), n_ctx_(n_ctx), n_batch_(n_batch),
        batch_(*m.lib, std::max(n_batch, n_seq)), pos_(static_cast<size_t>(n_seq), 0) {}
  ~LlamaCppRuntime() override { m_.lib->llama_free(ctx_); }

  int max_sequences() const override { return n_seq_; }
  int32_t vocab_size() const override { return static_cast<int32_t>(m_.n_vocab); }

  absl::StatusOr<int32_t> Prefill(int seq, std::span<const int32_t> prompt) override {
    if (seq < 0 || seq >= n_seq_) return absl::InvalidArgumentError(absl::StrCat("sequence ", seq, " out of range"));
    if (prompt.empty() || static_cast<int64_t>(prompt.size()) >= n_ctx_) {
      return absl::InvalidArgumentError(absl::StrCat("prompt of ", prompt.size(), " tokens for a context of ", n_ctx_));
    }
    m_.lib->llama_memory_seq_rm(m_.lib->llama_get_memory(ctx_), seq, -1, -1);
    const size_t n = prompt.size();
    for (size_t start = 0; start < n; start += static_cast<size_t>(n_batch_)) {
      const size_t end = std::min(n, start + static_cast<size_t>(n_batch_));
      batch_.Clear();
      for (size_t i = start; i < end; ++i) batch_.Add(prompt[i], static_cast<int32_t>(i), seq, i + 1 == n);
      TCOBENCH_RETURN_IF_ERROR(DecodeStatus(m_.lib->llama_decode(ctx_, batch_.get()), "prefill"));
    }
    pos_[static_cast<size_t>(seq)] = static_cast<int32_t>(n);
    return Argmax(m_.lib->llama_get_logits_ith(ctx_, -1), m_.n_vocab);
  }

  absl::Status Step(std::span<const int> seqs, std::span<const int32_t> last, std::span<int32_t> next) override {
    batch_.Clear();
    for (size_t i = 0; i < seqs.size(); ++i) {
      const int s = seqs[i];
      if (s < 0 || s >= n_seq_) return absl::InvalidArgumentError(absl::StrCat("sequence ", s, " out of range"));
      if (pos_[static_cast<size_t>(s)] >= n_ctx_) {
        return absl::ResourceExhaustedError(absl::StrCat("sequence ", s, " is full (", n_ctx_, " positions)"));
      }
      batch_.Add(last[i], pos_[static_cast<size_t>(s)]++, s, true);
    }
    TCOBENCH_RETURN_IF_ERROR(DecodeStatus(m_.lib->llama_decode(ctx_, batch_.get()), "decode step"));
    for (size_t i = 0; i < seqs.size(); ++i) {
      next[i] = Argmax(m_.lib->llama_get_logits_ith(ctx_, static_cast<int32_t>(i)), m_.n_vocab);
    }
    return absl::OkStatus();
  }

 private:
  const LlamaCppModel::Impl& m_;
  llama_context* ctx_;
  const int n_seq_;
  const int64_t n_ctx_;
  const int n_batch_;
  Batch batch_;
  std::vector<int32_t> pos_;
};

// One sequence for the evaluators: a whole chunk decodes in one call with
// every row's logits, as llama-perplexity does.
class LlamaCppSession final : public LogitsSession {
 public:
  LlamaCppSession(const LlamaCppModel::Impl& m, llama_context* ctx, int64_t n_ctx)
      : m_(m), ctx_(ctx), n_ctx_(n_ctx), batch_(*m.lib, static_cast<int>(n_ctx)) {}
  ~LlamaCppSession() override { m_.lib->llama_free(ctx_); }

  void Reset() override {
    m_.lib->llama_memory_clear(m_.lib->llama_get_memory(ctx_), true);
    pos_ = 0;
  }
  void Truncate(int64_t n) override {
    if (n >= pos_) return;
    m_.lib->llama_memory_seq_rm(m_.lib->llama_get_memory(ctx_), 0, static_cast<int32_t>(std::max<int64_t>(0, n)), -1);
    pos_ = std::max<int64_t>(0, n);
  }
  absl::Status Prefill(std::span<const int32_t> tokens, LogitsMode mode, std::vector<float>* logits) override {
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (n == 0 || pos_ + n > n_ctx_) {
      return absl::InvalidArgumentError(absl::StrCat(n, " tokens after ", pos_, " do not fit a context of ", n_ctx_));
    }
    batch_.Clear();
    for (int64_t i = 0; i < n; ++i) {
      batch_.Add(tokens[static_cast<size_t>(i)], static_cast<int32_t>(pos_ + i), 0, mode == LogitsMode::kAll || i + 1 == n);
    }
    TCOBENCH_RETURN_IF_ERROR(DecodeStatus(m_.lib->llama_decode(ctx_, batch_.get()), "evaluation"));
    pos_ += n;
    const int64_t rows = mode == LogitsMode::kAll ? n : 1;
    logits->resize(static_cast<size_t>(rows * m_.n_vocab));
    for (int64_t r = 0; r < rows; ++r) {
      const float* src = m_.lib->llama_get_logits_ith(ctx_, mode == LogitsMode::kAll ? static_cast<int32_t>(r) : -1);
      std::memcpy(logits->data() + r * m_.n_vocab, src, static_cast<size_t>(m_.n_vocab) * sizeof(float));
    }
    return absl::OkStatus();
  }

 private:
  const LlamaCppModel::Impl& m_;
  llama_context* ctx_;
  const int64_t n_ctx_;
  Batch batch_;
  int64_t pos_ = 0;
};

}  // namespace

std::string LlamaCppBuild::Describe() const {
  return absl::StrCat("libllama ", version, " (", commit, ") at ", library);
}

bool LlamaCppCompiledIn() { return true; }
std::string LlamaCppHeaderVersion() { return kStamp; }
fs::path DefaultLlamaLib() { return TCOBENCH_LLAMA_DEFAULT_LIB; }

absl::StatusOr<std::shared_ptr<LlamaCppLibrary>> OpenLlamaCpp(const fs::path& library) {
  std::lock_guard<std::mutex> lock(g_open_mu);
  const fs::path file = library.empty() ? DefaultLlamaLib() : library;
  if (g_library != nullptr) {
    std::error_code ec;
    if (fs::equivalent(g_library->build.library, file, ec)) return g_library;
    return absl::InvalidArgumentError(absl::StrCat("--llama-lib ", file.string(), ": this process already uses ",
                                                   g_library->build.library, " (one libllama per process)"));
  }
  TCOBENCH_ASSIGN_OR_RETURN(g_library, Load(file));
  return g_library;
}

const LlamaCppBuild& BuildOf(const LlamaCppLibrary& library) { return library.build; }

LlamaCppModel::LlamaCppModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlamaCppModel::~LlamaCppModel() {
  if (impl_ != nullptr && impl_->model != nullptr) impl_->lib->llama_model_free(impl_->model);
}

absl::StatusOr<std::unique_ptr<LlamaCppModel>> LlamaCppModel::Open(std::shared_ptr<LlamaCppLibrary> library,
                                                                   const fs::path& file,
                                                                   const LlamaCppOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->lib = std::move(library);
  impl->options = options;
  TCOBENCH_ASSIGN_OR_RETURN(impl->kv_type, KvType(options.kv_cache_type));
  TCOBENCH_ASSIGN_OR_RETURN(impl->flash, FlashType(options.flash_attention));
  if (options.gpu_layers != 0 && !impl->lib->build.gpu_offload) {
    return absl::FailedPreconditionError(absl::StrCat("gpu layers ", options.gpu_layers, ": ",
                                                      impl->lib->build.Describe(), " has no GPU backend (",
                                                      impl->lib->build.system_info, ")"));
  }
  impl->threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  llama_model_params mp = impl->lib->llama_model_default_params();
  mp.n_gpu_layers = options.gpu_layers < 0 ? -1 : options.gpu_layers;
  impl->model = impl->lib->llama_model_load_from_file(file.c_str(), mp);
  if (impl->model == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("libllama cannot load ", file.string(), ": ", TakeLastError()));
  }
  impl->vocab = impl->lib->llama_model_get_vocab(impl->model);
  impl->n_vocab = impl->lib->llama_vocab_n_tokens(impl->vocab);
  impl->n_layer = impl->lib->llama_model_n_layer(impl->model);
  return std::unique_ptr<LlamaCppModel>(new LlamaCppModel(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Runtime>> LlamaCppModel::MakeRuntime(int n_seq, int64_t n_ctx) const {
  if (n_seq < 1 || n_seq > 256) return absl::InvalidArgumentError(absl::StrCat("sequences ", n_seq, " out of range"));
  const int n_batch = impl_->options.batch > 0 ? impl_->options.batch : 2048;
  const int n_ubatch = impl_->options.ubatch > 0 ? impl_->options.ubatch : 512;
  TCOBENCH_ASSIGN_OR_RETURN(llama_context * ctx, impl_->NewContext(n_seq, n_ctx, std::max(n_batch, n_seq), n_ubatch));
  return std::unique_ptr<Runtime>(new LlamaCppRuntime(*impl_, ctx, n_seq, n_ctx, std::max(n_batch, n_seq)));
}

std::string LlamaCppModel::OptionsSummary() const {
  const LlamaCppOptions& o = impl_->options;
  return absl::StrCat("threads=", impl_->threads, " batch=", o.batch > 0 ? o.batch : 2048,
                      " ubatch=", o.ubatch > 0 ? o.ubatch : 512, " flash_attention=",
                      o.flash_attention.empty() ? "auto" : o.flash_attention, " kv=",
                      o.kv_cache_type.empty() ? "f16" : absl::AsciiStrToLower(o.kv_cache_type), " gpu_layers=",
                      o.gpu_layers < 0 ? std::string("all") : absl::StrCat(o.gpu_layers), " (of ", impl_->n_layer, ")");
}

const LlamaCppBuild& LlamaCppModel::build() const { return impl_->lib->build; }
int64_t LlamaCppModel::n_vocab() const { return impl_->n_vocab; }

std::vector<int32_t> LlamaCppModel::Encode(absl::string_view text, bool add_special) const {
  std::vector<int32_t> out(text.size() + 8);
  int32_t n = impl_->lib->llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                                         static_cast<int32_t>(out.size()), add_special, /*parse_special=*/false);
  if (n < 0) {
    out.resize(static_cast<size_t>(-n));
    n = impl_->lib->llama_tokenize(impl_->vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                                   static_cast<int32_t>(out.size()), add_special, false);
  }
  out.resize(static_cast<size_t>(std::max(0, n)));
  return out;
}

int32_t LlamaCppModel::bos() const {
  return impl_->lib->llama_vocab_get_add_bos(impl_->vocab) ? impl_->lib->llama_vocab_bos(impl_->vocab) : -1;
}

std::string LlamaCppModel::Piece(int32_t id) const {
  char buf[256];
  const int32_t n = impl_->lib->llama_token_to_piece(impl_->vocab, id, buf, sizeof buf, 0, /*special=*/false);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::vector<std::string> LlamaCppModel::TokenTexts() const {
  std::vector<std::string> t(static_cast<size_t>(impl_->n_vocab));
  for (int32_t i = 0; i < impl_->n_vocab; ++i) t[static_cast<size_t>(i)] = impl_->lib->llama_vocab_get_text(impl_->vocab, i);
  return t;
}

absl::StatusOr<std::unique_ptr<LogitsSession>> LlamaCppModel::NewSession(int64_t n_ctx) const {
  if (n_ctx < 1) return absl::InvalidArgumentError("context must be positive");
  TCOBENCH_ASSIGN_OR_RETURN(llama_context * ctx, impl_->NewContext(1, n_ctx, n_ctx, std::min<int64_t>(n_ctx, 512)));
  return std::unique_ptr<LogitsSession>(new LlamaCppSession(*impl_, ctx, n_ctx));
}

}  // namespace tcobench
