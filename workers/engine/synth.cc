#include "workers/engine/synth.h"

#include <cmath>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "workers/engine/bpe.h"
#include "workers/engine/gguf_writer.h"
#include "workers/engine/quants.h"
#include "workers/engine/rng.h"
#include "common/base/status_macros.h"

namespace tcobench {
namespace {

constexpr char kSpace[] = "\xe2\x96\x81";

// <unk>, <s>, </s> (Gemma: <pad>, <eos>, <bos>, <unk> and user-defined
// tokens), the 256 byte tokens, single characters with and without the space
// marker, then distinct made-up words until the vocabulary is full.
void MakeVocab(int64_t n_vocab, SynthShape::Vocab kind, std::vector<std::string>* tokens,
               std::vector<float>* scores, std::vector<int32_t>* types) {
  const bool gemma = kind == SynthShape::Vocab::kGemma;
  static const std::vector<std::string> kPhi3Chat = {"<|endoftext|>", "<|assistant|>", "<|end|>",
                                                     "<|user|>"};
  const std::vector<std::string> last =
      kind == SynthShape::Vocab::kPhi3 ? kPhi3Chat : std::vector<std::string>{};
  n_vocab -= static_cast<int64_t>(last.size());
  std::set<std::string> seen;
  auto add = [&](std::string text, float score, int32_t type) {
    if (static_cast<int64_t>(tokens->size()) >= n_vocab || !seen.insert(text).second) return;
    tokens->push_back(std::move(text));
    scores->push_back(score);
    types->push_back(type);
  };
  if (gemma) {
    add("<pad>", 0.0f, 3);
    add("<eos>", 0.0f, 3);
    add("<bos>", 0.0f, 3);
    add("<unk>", 0.0f, 2);
    add("<start_of_turn>", 0.0f, 3);
    add("<end_of_turn>", 0.0f, 3);
    // User-defined tokens are matched in the text before anything else.
    for (const char* t : {"\n\n", "<b>", "</b>", "<h1>"}) add(t, 0.0f, 4);
  } else {
    add("<unk>", 0.0f, 2);
    add("<s>", 0.0f, 3);
    add("</s>", 0.0f, 3);
  }
  for (int b = 0; b < 256; ++b) add(absl::StrFormat("<0x%02X>", b), 0.0f, 6);
  auto normal = [&](std::string text) {
    add(std::move(text), -static_cast<float>(tokens->size() + 1), 1);
  };
  normal(kSpace);
  for (char c = 33; c < 127; ++c) {
    normal(std::string(1, c));
    normal(absl::StrCat(kSpace, std::string(1, c)));
  }
  static const char kLetters[] = "etaoinshrdlucmfwypvbgkjqxz";
  for (int64_t k = 0; static_cast<int64_t>(tokens->size()) < n_vocab; ++k) {
    std::string word;
    for (int64_t v = k + 26; v > 0; v /= 26) word.push_back(kLetters[v % 26]);
    normal(absl::StrCat(kSpace, word));
    normal(word);
  }
  for (const std::string& t : last) {
    tokens->push_back(t);
    scores->push_back(0.0f);
    types->push_back(3);
  }
}

// A byte-level BPE vocabulary in the GPT-2 spelling: the 256 byte
// characters, then random merges of existing tokens until n_bpe tokens, then
// the special tokens (the named ones, then reserved ones).
void MakeBpeVocab(int64_t n_vocab, int64_t n_special, const std::vector<std::string>& named,
                  const std::string& reserved, uint64_t seed, std::vector<std::string>* tokens,
                  std::vector<int32_t>* types, std::vector<std::string>* merges) {
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    tokens->push_back(bpe::ByteEncode(std::string(1, static_cast<char>(b))));
    seen.insert(tokens->back());
  }
  Rng rng(seed);
  const int64_t n_bpe = n_vocab - n_special;
  while (static_cast<int64_t>(tokens->size()) < n_bpe) {
    // Short tokens are picked more often, as in a real vocabulary.
    const uint64_t pool = std::min<uint64_t>(tokens->size(), 256 + tokens->size() / 8);
    const std::string& a = (*tokens)[rng.Next() % pool];
    const std::string& b = (*tokens)[rng.Next() % pool];
    std::string merged = a + b;
    if (merged.size() > 48 || !seen.insert(merged).second) continue;
    merges->push_back(a + " " + b);
    tokens->push_back(std::move(merged));
  }
  types->assign(tokens->size(), 1);
  for (int64_t k = 0; k < n_special; ++k) {
    const int64_t n_named = static_cast<int64_t>(named.size());
    tokens->push_back(k < n_named ? named[k] : absl::StrCat("<|", reserved, k - n_named, "|>"));
    types->push_back(3);
  }
}

// Llama 3.1's RoPE frequency factors (scaling factor 32, low/high frequency
// factors 1 and 4, original context 8192), one per rotated pair.
std::vector<float> Llama3RopeFactors(int64_t head_dim, float base) {
  const double factor = 32, low = 1, high = 4, original = 8192;
  const double low_wavelen = original / low, high_wavelen = original / high;
  std::vector<float> out;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(base, static_cast<double>(i) / head_dim);
    const double wavelen = 2 * M_PI / freq;
    double f = 1.0;
    if (wavelen > low_wavelen) {
      f = factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (original / wavelen - low) / (high - low);
      f = 1.0 / ((1 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

// LongRoPE factors: short ones near 1, long ones rising to 40 over the
// frequencies (as Phi-3.5's do), one per rotated pair.
std::vector<float> LongRopeFactors(int64_t n_pairs, bool long_context) {
  std::vector<float> out;
  for (int64_t i = 0; i < n_pairs; ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(std::max<int64_t>(1, n_pairs - 1));
    out.push_back(static_cast<float>(long_context ? 1.0 + 39.0 * t * t : 1.0 + 0.05 * t));
  }
  return out;
}

}  // namespace

const std::vector<SynthShape>& SynthShapes() {
  using V = SynthShape::Vocab;
  static const std::vector<SynthShape> kShapes = {
      {"ktiny", 256, 4, 4, 2, 768, 1024, 2048, true},
      {"stories15m", 288, 6, 6, 6, 768, 32000, 256, true},
      {"llama-1b", 2048, 22, 32, 4, 5632, 32000, 2048, false},
      {"llama3-1b", 2048, 16, 32, 8, 8192, 128256, 131072, true, 500000.0f, V::kBpe, true},
      // The 1B wave's families at their real shapes (random weights).
      {.name = "qwen3-0.6b", .n_embd = 1024, .n_layer = 28, .n_head = 16, .n_head_kv = 8,
       .n_ff = 3072, .n_vocab = 151936, .n_ctx = 40960, .tied = true, .rope_freq_base = 1e6f,
       .vocab = V::kQwen2, .architecture = "qwen3", .head_dim = 128, .rms_eps = 1e-6f,
       .qk_norm = true},
      {.name = "qwen2.5-0.5b", .n_embd = 896, .n_layer = 24, .n_head = 14, .n_head_kv = 2,
       .n_ff = 4864, .n_vocab = 151936, .n_ctx = 32768, .tied = true, .rope_freq_base = 1e6f,
       .vocab = V::kQwen2, .architecture = "qwen2", .rms_eps = 1e-6f, .qkv_bias = true},
      {.name = "gemma3-1b", .n_embd = 1152, .n_layer = 26, .n_head = 4, .n_head_kv = 1,
       .n_ff = 6912, .n_vocab = 262144, .n_ctx = 32768, .tied = true, .rope_freq_base = 1e6f,
       .vocab = V::kGemma, .architecture = "gemma3", .head_dim = 256, .rms_eps = 1e-6f,
       .qk_norm = true, .post_norms = true, .n_swa = 512, .swa_pattern = 6},
      {.name = "phi3-mini", .n_embd = 3072, .n_layer = 32, .n_head = 32, .n_head_kv = 32,
       .n_ff = 8192, .n_vocab = 32064, .n_ctx = 4096, .tied = false, .vocab = V::kPhi3,
       .architecture = "phi3",
       .fused = true},
      // Small ones of each family for tests (every matrix width a multiple
      // of 256, so every quantized type applies; gemma3's window small enough
      // that a 64-token chunk slides past it; phi3 with LongRoPE factors).
      {.name = "ktiny-qwen2", .n_embd = 256, .n_layer = 4, .n_head = 4, .n_head_kv = 2,
       .n_ff = 768, .n_vocab = 2048, .n_ctx = 4096, .tied = true, .rope_freq_base = 1e6f,
       .vocab = V::kQwen2, .architecture = "qwen2", .rms_eps = 1e-6f, .qkv_bias = true},
      {.name = "ktiny-qwen3", .n_embd = 256, .n_layer = 4, .n_head = 4, .n_head_kv = 2,
       .n_ff = 768, .n_vocab = 2048, .n_ctx = 4096, .tied = false, .rope_freq_base = 1e6f,
       .vocab = V::kQwen2, .architecture = "qwen3", .head_dim = 128, .rms_eps = 1e-6f,
       .qk_norm = true},
      {.name = "ktiny-gemma3", .n_embd = 256, .n_layer = 6, .n_head = 4, .n_head_kv = 2,
       .n_ff = 768, .n_vocab = 1024, .n_ctx = 4096, .tied = true, .rope_freq_base = 1e6f,
       .vocab = V::kGemma, .architecture = "gemma3", .head_dim = 128, .rms_eps = 1e-6f,
       .qk_norm = true, .post_norms = true, .n_swa = 16, .swa_pattern = 3,
       .final_softcap = 30.0f},
      {.name = "ktiny-phi3", .n_embd = 256, .n_layer = 4, .n_head = 4, .n_head_kv = 4,
       .n_ff = 768, .n_vocab = 1024, .n_ctx = 4096, .tied = false, .vocab = V::kPhi3,
       .architecture = "phi3",
       .fused = true, .longrope = true},
  };
  return kShapes;
}

const SynthShape* FindSynthShape(const std::string& name) {
  for (const SynthShape& s : SynthShapes()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

absl::Status SynthesizeModel(const SynthShape& shape, const SynthOptions& options,
                             const std::filesystem::path& out) {
  if (options.type != TensorType::kF32 && options.type != TensorType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat("synthesis type ", TypeName(options.type),
                                                   " is not supported; supported: F32, F16"));
  }
  const std::string& arch = shape.architecture;
  const int64_t hd = shape.head_dim > 0 ? shape.head_dim : shape.n_embd / shape.n_head;
  const int64_t q_dim = shape.n_head * hd, kv_dim = shape.n_head_kv * hd;
  auto u32 = [](int64_t v) { return GgufValue::Uint32(static_cast<uint32_t>(v)); };
  GgufWriter w;
  auto set = [&](const std::string& key, GgufValue v) {
    w.SetValue(absl::StrCat(arch, ".", key), std::move(v));
  };
  w.SetValue("general.architecture", GgufValue::String(arch));
  w.SetValue("general.name", GgufValue::String(absl::StrCat("tcobench-synth-", shape.name)));
  w.SetValue("general.file_type", GgufValue::Uint32(options.type == TensorType::kF32 ? 0 : 1));
  set("context_length", u32(shape.n_ctx));
  set("embedding_length", u32(shape.n_embd));
  set("block_count", u32(shape.n_layer));
  set("feed_forward_length", u32(shape.n_ff));
  set("attention.head_count", u32(shape.n_head));
  set("attention.head_count_kv", u32(shape.n_head_kv));
  if (shape.head_dim > 0) {
    set("attention.key_length", u32(hd));
    set("attention.value_length", u32(hd));
  }
  set("rope.dimension_count", u32(hd));
  set("attention.layer_norm_rms_epsilon", GgufValue::Float32(shape.rms_eps));
  set("rope.freq_base", GgufValue::Float32(shape.rope_freq_base));
  set("vocab_size", u32(shape.n_vocab));
  if (shape.n_swa > 0) {
    set("attention.sliding_window", u32(shape.n_swa));
    set("attention.sliding_window_pattern", u32(shape.swa_pattern));
    set("rope.freq_base_swa", GgufValue::Float32(shape.rope_freq_base_swa));
  }
  if (shape.final_softcap > 0) set("final_logit_softcapping", GgufValue::Float32(shape.final_softcap));
  if (shape.longrope) {
    set("rope.scaling.type", GgufValue::String("longrope"));
    set("rope.scaling.attn_factor", GgufValue::Float32(1.19f));
    set("rope.scaling.original_context_length", u32(shape.n_ctx));
  }
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  if (shape.vocab == SynthShape::Vocab::kBpe || shape.vocab == SynthShape::Vocab::kQwen2) {
    const bool qwen = shape.vocab == SynthShape::Vocab::kQwen2;
    // Qwen: 151,643 merged tokens of 151,936 at the real size.
    const int64_t n_special = qwen ? std::min<int64_t>(293, shape.n_vocab / 8) : 256;
    std::vector<std::string> merges;
    MakeBpeVocab(shape.n_vocab, n_special,
                 qwen ? std::vector<std::string>{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
                      : std::vector<std::string>{"<|begin_of_text|>", "<|end_of_text|>"},
                 qwen ? "extra_" : "reserved_special_token_", options.seed, &tokens, &types,
                 &merges);
    w.SetValue("tokenizer.ggml.model", GgufValue::String("gpt2"));
    w.SetValue("tokenizer.ggml.pre", GgufValue::String(qwen ? "qwen2" : "llama-bpe"));
    w.SetValue("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(tokens)));
    w.SetValue("tokenizer.ggml.token_type", GgufValue::Int32Array(types));
    w.SetValue("tokenizer.ggml.merges", GgufValue::StringArray(std::move(merges)));
    const uint32_t first = static_cast<uint32_t>(shape.n_vocab - n_special);
    w.SetValue("tokenizer.ggml.bos_token_id", GgufValue::Uint32(first));
    w.SetValue("tokenizer.ggml.eos_token_id", GgufValue::Uint32(qwen ? first : first + 1));
    w.SetValue("tokenizer.ggml.add_bos_token", GgufValue::Bool(!qwen));
  } else {
    const bool gemma = shape.vocab == SynthShape::Vocab::kGemma;
    std::vector<float> scores;
    MakeVocab(shape.n_vocab, shape.vocab, &tokens, &scores, &types);
    w.SetValue("tokenizer.ggml.model", GgufValue::String("llama"));
    w.SetValue("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(tokens)));
    w.SetValue("tokenizer.ggml.scores", GgufValue::Float32Array(scores));
    w.SetValue("tokenizer.ggml.token_type", GgufValue::Int32Array(types));
    w.SetValue("tokenizer.ggml.bos_token_id", GgufValue::Uint32(gemma ? 2 : 1));
    const bool phi3 = shape.vocab == SynthShape::Vocab::kPhi3;
    w.SetValue("tokenizer.ggml.eos_token_id",
               GgufValue::Uint32(gemma ? 1 : phi3 ? static_cast<uint32_t>(shape.n_vocab - 4) : 2));
    w.SetValue("tokenizer.ggml.unknown_token_id", GgufValue::Uint32(gemma ? 3 : 0));
    if (gemma) {
      w.SetValue("tokenizer.ggml.padding_token_id", GgufValue::Uint32(0));
      w.SetValue("tokenizer.ggml.add_space_prefix", GgufValue::Bool(false));
    }
    w.SetValue("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
  }
  w.SetValue("tokenizer.ggml.add_eos_token", GgufValue::Bool(false));

  Rng rng(options.seed);
  enum class Kind { kMatrix, kNorm, kBias };
  struct Spec {
    std::string name;
    int64_t n_in, n_out;  // vectors: n_in values, n_out 0
    Kind kind;
  };
  std::vector<Spec> specs = {{"token_embd.weight", shape.n_embd, shape.n_vocab, Kind::kMatrix}};
  for (int64_t i = 0; i < shape.n_layer; ++i) {
    const std::string b = absl::StrCat("blk.", i, ".");
    auto add = [&](const std::string& name, int64_t n_in, int64_t n_out, Kind kind) {
      specs.push_back({b + name, n_in, n_out, kind});
    };
    add("attn_norm.weight", shape.n_embd, 0, Kind::kNorm);
    if (shape.fused) {
      add("attn_qkv.weight", shape.n_embd, q_dim + 2 * kv_dim, Kind::kMatrix);
    } else {
      add("attn_q.weight", shape.n_embd, q_dim, Kind::kMatrix);
      add("attn_k.weight", shape.n_embd, kv_dim, Kind::kMatrix);
      add("attn_v.weight", shape.n_embd, kv_dim, Kind::kMatrix);
    }
    if (shape.qkv_bias) {
      add("attn_q.bias", q_dim, 0, Kind::kBias);
      add("attn_k.bias", kv_dim, 0, Kind::kBias);
      add("attn_v.bias", kv_dim, 0, Kind::kBias);
    }
    if (shape.qk_norm) {
      add("attn_q_norm.weight", hd, 0, Kind::kNorm);
      add("attn_k_norm.weight", hd, 0, Kind::kNorm);
    }
    add("attn_output.weight", q_dim, shape.n_embd, Kind::kMatrix);
    if (shape.post_norms) add("post_attention_norm.weight", shape.n_embd, 0, Kind::kNorm);
    add("ffn_norm.weight", shape.n_embd, 0, Kind::kNorm);
    if (shape.fused) {
      add("ffn_up.weight", shape.n_embd, 2 * shape.n_ff, Kind::kMatrix);  // gate rows, then up
    } else {
      add("ffn_gate.weight", shape.n_embd, shape.n_ff, Kind::kMatrix);
      add("ffn_up.weight", shape.n_embd, shape.n_ff, Kind::kMatrix);
    }
    add("ffn_down.weight", shape.n_ff, shape.n_embd, Kind::kMatrix);
    if (shape.post_norms) add("post_ffw_norm.weight", shape.n_embd, 0, Kind::kNorm);
  }
  specs.push_back({"output_norm.weight", shape.n_embd, 0, Kind::kNorm});
  auto add_floats = [&](const std::string& name, const std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return w.AddTensor(name, TensorType::kF32, {static_cast<int64_t>(v.size())}, bytes);
  };
  if (shape.llama3_rope_factors) {
    TCOBENCH_RETURN_IF_ERROR(
        add_floats("rope_freqs.weight", Llama3RopeFactors(hd, shape.rope_freq_base)));
  }
  if (shape.longrope) {
    TCOBENCH_RETURN_IF_ERROR(add_floats("rope_factors_long.weight", LongRopeFactors(hd / 2, true)));
    TCOBENCH_RETURN_IF_ERROR(
        add_floats("rope_factors_short.weight", LongRopeFactors(hd / 2, false)));
  }
  if (!shape.tied) specs.push_back({"output.weight", shape.n_embd, shape.n_vocab, Kind::kMatrix});

  // Llama files keep all-one norms (the files earlier releases wrote).
  const bool plain_norms = arch == "llama";
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  int done = 0;
  for (const Spec& s : specs) {
    if (s.kind != Kind::kMatrix) {
      values.resize(static_cast<size_t>(s.n_in));
      for (float& v : values) {
        v = s.kind == Kind::kBias  ? static_cast<float>(rng.Normal() * 0.1)
            : plain_norms          ? 1.0f
                                   : static_cast<float>(1.0 + rng.Normal() * 0.1);
      }
      TCOBENCH_RETURN_IF_ERROR(add_floats(s.name, values));
    } else {
      const int64_t n = s.n_in * s.n_out;
      values.resize(static_cast<size_t>(n));
      for (float& v : values) v = static_cast<float>(rng.Normal() * 0.02);
      bytes.resize(static_cast<size_t>(RowBytes(options.type, n)));
      GetReferenceOps(options.type)->from_float(values.data(), bytes.data(), n);
      TCOBENCH_RETURN_IF_ERROR(w.AddTensor(s.name, options.type, {s.n_in, s.n_out}, bytes));
    }
    if (options.progress) options.progress(++done, static_cast<int>(specs.size()));
  }
  return w.Write(out);
}

}  // namespace tcobench
