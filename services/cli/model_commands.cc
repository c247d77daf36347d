// tcobench model info | logits | synth
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/base/flags.h"
#include "common/security/connection_flags.h"
#include "services/cli/commands.h"
#include "services/cli/json_writer.h"
#include "workers/bench/system_info.h"
#include "workers/engine/gguf.h"
#include "workers/engine/llama_model.h"
#include "workers/engine/quantizer.h"
#include "workers/engine/session.h"
#include "workers/engine/synth.h"
#include "workers/engine/tokenizer.h"

namespace tcobench::cli {

int ReportError(const absl::Status& status) {
  std::fprintf(stderr, "tcobench: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return kExitUsage;
    default:
      return kExitFailed;
  }
}

// Parses argv; on --help prints help and returns 0, on error returns 2.
std::optional<int> ParseCommand(const CommandSpec& spec, const std::vector<std::string>& argv,
                                Args* out) {
  // Client commands (those with --coordinator) take the connection's flags too.
  absl::StatusOr<Args> args = Args::Parse(WithConnectionFlags(spec), argv);
  if (!args.ok()) {
    if (args.status().code() == absl::StatusCode::kNotFound) {
      std::fputs(std::string(args.status().message()).c_str(), stdout);
      return kExitOk;
    }
    return ReportError(args.status());
  }
  *out = std::move(*args);
  return std::nullopt;
}

namespace {

// Metadata as info shows it: the architecture's keys, with fallbacks.
struct ModelSummary {
  std::string architecture, name, tokenizer;
  int64_t n_params = 0, n_bytes = 0, n_vocab = 0, n_ctx = 0, n_embd = 0, n_layer = 0, n_head = 0,
          n_head_kv = 0, n_ff = 0, file_type = -1;
  std::map<std::string, std::pair<int64_t, int64_t>> types;  // name -> (count, bytes)
};

int64_t UintOr(const GgufFile& f, const std::string& key, int64_t fallback) {
  absl::StatusOr<uint64_t> v = f.GetUint(key);
  return v.ok() ? static_cast<int64_t>(*v) : fallback;
}

ModelSummary Summarize(const GgufFile& f) {
  ModelSummary s;
  s.architecture = f.GetString("general.architecture").value_or("");
  s.name = f.GetString("general.name").value_or("");
  s.tokenizer = f.GetString("tokenizer.ggml.model").value_or("");
  const std::string p = s.architecture + ".";
  for (const GgufTensorInfo& t : f.tensors()) {
    s.n_params += t.n_elements;
    s.n_bytes += t.n_bytes;
    auto& entry = s.types[GetTypeGeometry(t.type_id)->name];
    entry.first += 1;
    entry.second += t.n_bytes;
  }
  const GgufValue* tokens = f.Find("tokenizer.ggml.tokens");
  s.n_vocab =
      UintOr(f, p + "vocab_size", tokens != nullptr ? static_cast<int64_t>(tokens->count) : 0);
  s.n_ctx = UintOr(f, p + "context_length", 0);
  s.n_embd = UintOr(f, p + "embedding_length", 0);
  s.n_layer = UintOr(f, p + "block_count", 0);
  s.n_head = UintOr(f, p + "attention.head_count", 0);
  s.n_head_kv = UintOr(f, p + "attention.head_count_kv", s.n_head);
  s.n_ff = UintOr(f, p + "feed_forward_length", 0);
  s.file_type = UintOr(f, "general.file_type", -1);
  return s;
}

const CommandSpec kInfoSpec = {
    "tcobench model info FILE [--format table|json]",
    "Reads a GGUF file's header and prints the model's architecture, shape,\n"
    "size and tensor types. Works on any GGUF file, including architectures the\n"
    "engine cannot run.",
    {kFormatFlag},
    1,
    1};

}  // namespace

int RunModelInfo(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kInfoSpec, argv, &args)) return *rc;
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json") {
    return ReportError(absl::InvalidArgumentError("--format must be table or json"));
  }
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(args.positional()[0]);
  if (!file.ok()) return ReportError(file.status());
  const GgufFile& f = **file;
  const ModelSummary s = Summarize(f);
  const double bpw =
      s.n_params > 0 ? 8.0 * static_cast<double>(s.n_bytes) / static_cast<double>(s.n_params) : 0.0;
  if (format == "json") {
    JsonWriter j;
    j.BeginObject();
    j.Key("file").String(f.name());
    j.Key("gguf_version").Int(f.version());
    j.Key("architecture").String(s.architecture);
    j.Key("name").String(s.name);
    j.Key("file_type").Int(s.file_type);
    j.Key("n_params").Int(s.n_params);
    j.Key("n_bytes").Int(s.n_bytes);
    j.Key("bits_per_weight").Double(bpw);
    j.Key("n_vocab").Int(s.n_vocab);
    j.Key("n_ctx").Int(s.n_ctx);
    j.Key("n_embd").Int(s.n_embd);
    j.Key("n_layer").Int(s.n_layer);
    j.Key("n_head").Int(s.n_head);
    j.Key("n_head_kv").Int(s.n_head_kv);
    j.Key("n_ff").Int(s.n_ff);
    j.Key("tokenizer").String(s.tokenizer);
    j.Key("n_tensors").Int(static_cast<int64_t>(f.tensors().size()));
    j.Key("n_metadata").Int(static_cast<int64_t>(f.metadata().size()));
    j.Key("tensor_types").BeginObject();
    for (const auto& [type, cb] : s.types) {
      j.Key(type).BeginObject().Key("count").Int(cb.first).Key("bytes").Int(cb.second).EndObject();
    }
    j.EndObject();
    j.EndObject();
    std::fputs(j.str().c_str(), stdout);
    return kExitOk;
  }
  std::printf("file             %s\n", f.name().c_str());
  std::printf("gguf version     %u\n", f.version());
  std::printf("architecture     %s\n", s.architecture.c_str());
  std::printf("name             %s\n", s.name.c_str());
  std::printf("parameters       %lld (stored elements)\n", static_cast<long long>(s.n_params));
  std::printf("tensor bytes     %lld (%.2f MiB)\n", static_cast<long long>(s.n_bytes),
              s.n_bytes / 1048576.0);
  std::printf("bits per weight  %.3f\n", bpw);
  std::printf("vocabulary       %lld (%s tokenizer)\n", static_cast<long long>(s.n_vocab),
              s.tokenizer.empty() ? "no" : s.tokenizer.c_str());
  std::printf("context          %lld\n", static_cast<long long>(s.n_ctx));
  std::printf("embedding        %lld\n", static_cast<long long>(s.n_embd));
  std::printf("layers           %lld\n", static_cast<long long>(s.n_layer));
  std::printf("heads            %lld (kv %lld)\n", static_cast<long long>(s.n_head),
              static_cast<long long>(s.n_head_kv));
  std::printf("feed-forward     %lld\n", static_cast<long long>(s.n_ff));
  std::printf("tensors          %zu\n\n", f.tensors().size());
  std::printf("%-8s %7s %14s\n", "type", "count", "bytes");
  for (const auto& [type, cb] : s.types) {
    std::printf("%-8s %7lld %14lld\n", type.c_str(), static_cast<long long>(cb.first),
                static_cast<long long>(cb.second));
  }
  return kExitOk;
}

namespace {

const CommandSpec kLogitsSpec = {
    "tcobench model logits FILE --tokens ID,ID,... --output OUT.f32 [--threads N] [--device DEV]",
    "Evaluates the token ids as one prefill (positions 0..n-1) and writes the\n"
    "logits of every position as raw little-endian float32 [n_tokens][n_vocab].",
    {{"tokens", "", true, "IDS", "comma-separated token ids (required)"},
     {"output", "o", true, "FILE", "where to write the logits (required)"},
     {"threads", "t", true, "N", "threads for the matrix products (default: all cores)"},
     kDeviceFlag},
    1,
    1};

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int32_t id;
    if (!absl::SimpleAtoi(part, &id)) {
      return absl::InvalidArgumentError(absl::StrCat("--tokens: '", part, "' is not a token id"));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--tokens is empty");
  return ids;
}

}  // namespace

int RunModelLogits(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kLogitsSpec, argv, &args)) return *rc;
  if (!args.Has("tokens") || !args.Has("output")) {
    return ReportError(
        absl::InvalidArgumentError("--tokens and --output are required (see --help)"));
  }
  absl::StatusOr<std::vector<int32_t>> ids = ParseIds(args.Get("tokens"));
  if (!ids.ok()) return ReportError(ids.status());
  absl::StatusOr<int64_t> threads = args.GetInt("threads", 0, 0, 1024);
  if (!threads.ok()) return ReportError(threads.status());
  absl::StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::Open(args.positional()[0],
                       ModelOptions{static_cast<int>(*threads), false, args.Get("device", "cpu")});
  if (!model.ok()) return ReportError(model.status());
  absl::StatusOr<std::unique_ptr<Session>> session =
      Session::Create(**model, SessionOptions{static_cast<int64_t>(ids->size())});
  if (!session.ok()) return ReportError(session.status());
  std::vector<float> logits;
  absl::Status st = (*session)->Prefill(*ids, LogitsMode::kAll, &logits);
  if (!st.ok()) return ReportError(st);
  const std::string out = args.Get("output");
  std::ofstream os(out, std::ios::binary);
  os.write(reinterpret_cast<const char*>(logits.data()),
           static_cast<std::streamsize>(logits.size() * sizeof(float)));
  os.close();
  if (!os) return ReportError(absl::UnavailableError(absl::StrCat(out, ": cannot write")));
  std::fprintf(stderr, "wrote %zu x %lld logits to %s\n", ids->size(),
               static_cast<long long>((*model)->hparams().n_vocab), out.c_str());
  return kExitOk;
}

namespace {

CommandSpec SynthSpec() {
  std::string shapes;
  for (const SynthShape& s : SynthShapes()) {
    shapes += absl::StrFormat(
        "  %-11s dim %lld, %lld layers, %lld heads (%lld kv), ffn %lld, vocab %lld, %s\n", s.name,
        static_cast<long long>(s.n_embd), static_cast<long long>(s.n_layer),
        static_cast<long long>(s.n_head), static_cast<long long>(s.n_head_kv),
        static_cast<long long>(s.n_ff), static_cast<long long>(s.n_vocab),
        s.tied ? "tied output" : "untied output");
  }
  return {"tcobench model synth OUT.gguf --shape NAME [--type TYPE] [--seed S] [--threads N]",
          "Writes a llama model with random weights (normal, std 0.02; norms 1) and a\n"
          "byte-fallback vocabulary, in a real model's shape, for speed benchmarks.\n"
          "Shapes:\n" +
              shapes,
          {{"shape", "", true, "NAME", "model shape (required)"},
           {"type", "", true, "TYPE",
            "F32 (default), or a quantize type: synthesized in F32, then quantized (" +
                QuantRecipeNames() + ")"},
           {"seed", "", true, "S", "random seed (default 1)"},
           {"threads", "t", true, "N", "threads for quantizing (default: all cores)"}},
          1,
          1};
}

}  // namespace

int RunModelSynth(const std::vector<std::string>& argv) {
  const CommandSpec spec = SynthSpec();
  Args args;
  if (auto rc = ParseCommand(spec, argv, &args)) return *rc;
  const SynthShape* shape = FindSynthShape(args.Get("shape"));
  if (shape == nullptr) {
    std::string names;
    for (const SynthShape& s : SynthShapes()) names += (names.empty() ? "" : ", ") + s.name;
    return ReportError(absl::InvalidArgumentError(
        absl::StrCat("--shape '", args.Get("shape"), "' is unknown; shapes: ", names)));
  }
  const std::string type_name = args.Get("type", "F32");
  std::optional<QuantRecipe> recipe = FindQuantRecipe(type_name);
  const bool is_f32 = absl::AsciiStrToUpper(type_name) == "F32";
  if (!is_f32 && !recipe) {
    return ReportError(absl::InvalidArgumentError(
        absl::StrCat("--type '", type_name, "' is unknown; types: F32, ", QuantRecipeNames())));
  }
  absl::StatusOr<int64_t> seed = args.GetInt("seed", 1, 0, INT64_MAX);
  if (!seed.ok()) return ReportError(seed.status());
  absl::StatusOr<int64_t> threads = args.GetInt("threads", 0, 0, 1024);
  if (!threads.ok()) return ReportError(threads.status());
  SynthOptions options;
  options.seed = static_cast<uint64_t>(*seed);
  const bool tty = isatty(STDERR_FILENO);
  if (tty) {
    options.progress = [](int done, int total) {
      std::fprintf(stderr, "\rsynthesizing tensors: %d/%d", done, total);
      if (done == total) std::fputs("\n", stderr);
    };
  }
  const std::string out = args.positional()[0];
  // F32 and F16 are written directly; other types are synthesized in F32
  // beside the output, then quantized with the standard recipe.
  const bool direct = is_f32 || recipe->default_type == TensorType::kF16;
  options.type = is_f32 ? TensorType::kF32 : recipe->default_type;
  if (!direct) options.type = TensorType::kF32;
  const std::string f32_path = direct ? out : out + ".synth-f32.tmp";
  absl::Status st = SynthesizeModel(*shape, options, f32_path);
  if (st.ok() && !direct) {
    QuantizeOptions q;
    q.n_threads = static_cast<int>(*threads);
    if (tty) {
      q.progress = [](int done, int total, const TensorPlacement&) {
        std::fprintf(stderr, "\rquantizing tensors: %d/%d", done, total);
        if (done == total) std::fputs("\n", stderr);
      };
    }
    st = QuantizeModel(f32_path, out, *recipe, q, nullptr);
    std::filesystem::remove(f32_path);
  }
  if (!st.ok()) return ReportError(st);
  std::fprintf(stderr, "wrote %s (%s, %s)\n", out.c_str(), shape->name.c_str(),
               is_f32 ? "F32" : recipe->name);
  return kExitOk;
}

namespace {

CommandSpec QuantizeSpec() {
  return {
      "tcobench model quantize IN.gguf OUT.gguf --type TYPE [--threads N] [--format table|json]",
      "Writes a quantized variant of IN with llama-quantize's standard recipe for\n"
      "TYPE (no importance matrix): norms stay F32; the output matrix (or the\n"
      "tied embedding) gets Q6_K; the _S/_M mixtures give attn_v/ffn_down more\n"
      "bits in some layers; rows that do not fit a type's blocks fall back to a\n"
      "type they fit (F16 for the 32-block types). See docs/quantization.md.\n"
      "Types: " +
          QuantRecipeNames(),
      {{"type", "", true, "TYPE", "the recipe (required)"},
       {"threads", "t", true, "N", "threads (default: all cores)"},
       {"format", "", true, "FORMAT", "summary as table (default) or json"}},
      2,
      2};
}

}  // namespace

int RunModelQuantize(const std::vector<std::string>& argv) {
  const CommandSpec spec = QuantizeSpec();
  Args args;
  if (auto rc = ParseCommand(spec, argv, &args)) return *rc;
  std::optional<QuantRecipe> recipe = FindQuantRecipe(args.Get("type"));
  if (!recipe) {
    return ReportError(absl::InvalidArgumentError(
        absl::StrCat("--type '", args.Get("type"), "' is unknown; types: ", QuantRecipeNames())));
  }
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json") {
    return ReportError(absl::InvalidArgumentError("--format must be table or json"));
  }
  absl::StatusOr<int64_t> threads = args.GetInt("threads", 0, 0, 1024);
  if (!threads.ok()) return ReportError(threads.status());
  QuantizeOptions options;
  options.n_threads = static_cast<int>(*threads);
  if (isatty(STDERR_FILENO)) {
    options.progress = [](int done, int total, const TensorPlacement& p) {
      std::fprintf(stderr, "\r[%d/%d] %-32s %s -> %s      ", done, total, p.name.c_str(),
                   TypeName(p.from), TypeName(p.to));
      if (done == total) std::fputs("\n", stderr);
    };
  }
  QuantizeSummary summary;
  absl::Status st =
      QuantizeModel(args.positional()[0], args.positional()[1], *recipe, options, &summary);
  if (!st.ok()) return ReportError(st);
  std::map<std::string, int> counts;
  for (const TensorPlacement& p : summary.tensors) counts[TypeName(p.to)]++;
  if (format == "json") {
    JsonWriter j;
    j.BeginObject();
    j.Key("input").String(args.positional()[0]);
    j.Key("output").String(args.positional()[1]);
    j.Key("type").String(recipe->name);
    j.Key("bytes_in").Int(summary.bytes_in);
    j.Key("bytes_out").Int(summary.bytes_out);
    j.Key("tensor_types").BeginObject();
    for (const auto& [type, n] : counts) j.Key(type).Int(n);
    j.EndObject();
    j.Key("tensors").BeginArray();
    for (const TensorPlacement& p : summary.tensors) {
      j.BeginObject().Key("name").String(p.name).Key("from").String(TypeName(p.from));
      j.Key("to").String(TypeName(p.to)).Key("reason").String(p.reason).EndObject();
    }
    j.EndArray();
    j.EndObject();
    std::fputs(j.str().c_str(), stdout);
    return kExitOk;
  }
  std::printf("%s -> %s (%s)\n", args.positional()[0].c_str(), args.positional()[1].c_str(),
              recipe->name);
  std::printf("tensor data: %.2f MiB -> %.2f MiB\n", summary.bytes_in / 1048576.0,
              summary.bytes_out / 1048576.0);
  for (const auto& [type, n] : counts) std::printf("  %-6s %d tensors\n", type.c_str(), n);
  for (const TensorPlacement& p : summary.tensors) {
    if (!p.reason.empty())
      std::printf("  %-28s %s (%s)\n", p.name.c_str(), TypeName(p.to), p.reason.c_str());
  }
  return kExitOk;
}

namespace {

const CommandSpec kTokenizeSpec = {
    "tcobench model tokenize FILE (--text TEXT | --file FILE) [--bos] [--pieces] [--detokenize] "
    "[--format table|json]",
    "Tokenizes text with the model's vocabulary (vocabulary-only GGUF files work)\n"
    "and prints the ids as one list, [1, 2, 3], as llama-tokenize --ids does. No\n"
    "BOS unless --bos (then BOS/EOS as the vocabulary asks). --pieces prints one\n"
    "line per token: its id and its text. --detokenize reads ids (\"[1, 2, 3]\" or\n"
    "\"1,2,3\") and prints their text.",
    {{"text", "", true, "TEXT", "the text (or ids with --detokenize)"},
     {"file", "f", true, "FILE", "read the text from FILE instead"},
     {"bos", "", false, "", "add BOS (and EOS) where the vocabulary says"},
     {"pieces", "", false, "", "one line per token: id and text"},
     {"detokenize", "", false, "", "ids in, text out"},
     kFormatFlag},
    1,
    1};

// "[1, 2, 3]", "1,2,3" or "1 2 3" as ids; an error names what is not one.
absl::StatusOr<std::vector<int32_t>> ParseIdList(absl::string_view text, int32_t n_vocab) {
  std::vector<int32_t> ids;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar("[], \n\t"), absl::SkipEmpty())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(part, &id) || id < 0 || id >= n_vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("--detokenize: '", part, "' is not a token id (0..", n_vocab - 1, ")"));
    }
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

int RunModelTokenize(const std::vector<std::string>& argv) {
  Args args;
  if (auto rc = ParseCommand(kTokenizeSpec, argv, &args)) return *rc;
  const std::string format = args.Get("format", "table");
  if (format != "table" && format != "json") {
    return ReportError(absl::InvalidArgumentError("--format must be table or json"));
  }
  if (args.Has("text") == args.Has("file")) {
    return ReportError(absl::InvalidArgumentError("give exactly one of --text and --file"));
  }
  std::string text = args.Get("text");
  if (args.Has("file")) {
    absl::StatusOr<std::string> t = ReadFileText(args.Get("file"), "--file");
    if (!t.ok()) return ReportError(t.status());
    text = *std::move(t);
  }
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(args.positional()[0]);
  if (!file.ok()) return ReportError(file.status());
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**file);
  if (!tok.ok()) return ReportError(tok.status());
  if (args.Has("detokenize")) {
    absl::StatusOr<std::vector<int32_t>> ids = ParseIdList(text, (*tok)->n_vocab());
    if (!ids.ok()) return ReportError(ids.status());
    const std::string out = (*tok)->Decode(*ids, /*strip_leading_space=*/(*tok)->add_space_prefix());
    if (format == "json") {
      JsonWriter j;
      j.BeginObject().Key("text").String(out).EndObject();
      std::printf("%s", j.str().c_str());
    } else {
      std::printf("%s\n", out.c_str());
    }
    return kExitOk;
  }
  const std::vector<int32_t> ids = (*tok)->Encode(text, args.Has("bos") ? AddSpecial::kYes : AddSpecial::kNo);
  if (format == "json") {
    JsonWriter j;
    j.BeginObject().Key("count").Int(static_cast<int64_t>(ids.size())).Key("ids").BeginArray();
    for (int32_t id : ids) j.Int(id);
    j.EndArray();
    if (args.Has("pieces")) {
      j.Key("pieces").BeginArray();
      for (int32_t id : ids) j.String((*tok)->Piece(id));
      j.EndArray();
    }
    j.EndObject();
    std::printf("%s", j.str().c_str());
  } else if (args.Has("pieces")) {
    for (int32_t id : ids) std::printf("%6d -> '%s'\n", id, (*tok)->Piece(id).c_str());
  } else {
    std::printf("[%s]\n", absl::StrJoin(ids, ", ").c_str());
  }
  return kExitOk;
}

}  // namespace tcobench::cli
