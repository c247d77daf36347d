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

// <unk>, <s>, </s>, the 256 byte tokens, single characters with and without
// the space marker, then distinct made-up words until the vocabulary is full.
void MakeVocab(int64_t n_vocab, std::vector<std::string>* tokens, std::vector<float>* scores,
               std::vector<int32_t>* types) {
  std::set<std::string> seen;
  auto add = [&](std::string text, float score, int32_t type) {
    if (static_cast<int64_t>(tokens->size()) >= n_vocab || !seen.insert(text).second) return;
    tokens->push_back(std::move(text));
    scores->push_back(score);
    types->push_back(type);
  };
  add("<unk>", 0.0f, 2);
  add("<s>", 0.0f, 3);
  add("</s>", 0.0f, 3);
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
}

// A byte-level BPE vocabulary in the GPT-2 spelling: the 256 byte
// characters, then random merges of existing tokens until n_bpe tokens, then
// the special tokens (<|begin_of_text|>, <|end_of_text|>, reserved ones).
void MakeBpeVocab(int64_t n_vocab, int64_t n_special, uint64_t seed,
                  std::vector<std::string>* tokens, std::vector<int32_t>* types,
                  std::vector<std::string>* merges) {
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
    tokens->push_back(k == 0   ? "<|begin_of_text|>"
                      : k == 1 ? "<|end_of_text|>"
                               : absl::StrCat("<|reserved_special_token_", k - 2, "|>"));
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

}  // namespace

const std::vector<SynthShape>& SynthShapes() {
  static const std::vector<SynthShape> kShapes = {
      {"ktiny", 256, 4, 4, 2, 768, 1024, 2048, true},
      {"stories15m", 288, 6, 6, 6, 768, 32000, 256, true},
      {"llama-1b", 2048, 22, 32, 4, 5632, 32000, 2048, false},
      {"llama3-1b", 2048, 16, 32, 8, 8192, 128256, 131072, true, 500000.0f, SynthShape::Vocab::kBpe,
       true},
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
  GgufWriter w;
  w.SetValue("general.architecture", GgufValue::String("llama"));
  w.SetValue("general.name", GgufValue::String(absl::StrCat("tcobench-synth-", shape.name)));
  w.SetValue("general.file_type", GgufValue::Uint32(options.type == TensorType::kF32 ? 0 : 1));
  w.SetValue("llama.context_length", GgufValue::Uint32(static_cast<uint32_t>(shape.n_ctx)));
  w.SetValue("llama.embedding_length", GgufValue::Uint32(static_cast<uint32_t>(shape.n_embd)));
  w.SetValue("llama.block_count", GgufValue::Uint32(static_cast<uint32_t>(shape.n_layer)));
  w.SetValue("llama.feed_forward_length", GgufValue::Uint32(static_cast<uint32_t>(shape.n_ff)));
  w.SetValue("llama.attention.head_count", GgufValue::Uint32(static_cast<uint32_t>(shape.n_head)));
  w.SetValue("llama.attention.head_count_kv",
             GgufValue::Uint32(static_cast<uint32_t>(shape.n_head_kv)));
  w.SetValue("llama.rope.dimension_count",
             GgufValue::Uint32(static_cast<uint32_t>(shape.n_embd / shape.n_head)));
  w.SetValue("llama.attention.layer_norm_rms_epsilon", GgufValue::Float32(1e-5f));
  w.SetValue("llama.rope.freq_base", GgufValue::Float32(shape.rope_freq_base));
  w.SetValue("llama.vocab_size", GgufValue::Uint32(static_cast<uint32_t>(shape.n_vocab)));
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  if (shape.vocab == SynthShape::Vocab::kBpe) {
    std::vector<std::string> merges;
    MakeBpeVocab(shape.n_vocab, 256, options.seed, &tokens, &types, &merges);
    w.SetValue("tokenizer.ggml.model", GgufValue::String("gpt2"));
    w.SetValue("tokenizer.ggml.pre", GgufValue::String("llama-bpe"));
    w.SetValue("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(tokens)));
    w.SetValue("tokenizer.ggml.token_type", GgufValue::Int32Array(types));
    w.SetValue("tokenizer.ggml.merges", GgufValue::StringArray(std::move(merges)));
    const uint32_t bos = static_cast<uint32_t>(shape.n_vocab - 256);
    w.SetValue("tokenizer.ggml.bos_token_id", GgufValue::Uint32(bos));
    w.SetValue("tokenizer.ggml.eos_token_id", GgufValue::Uint32(bos + 1));
  } else {
    std::vector<float> scores;
    MakeVocab(shape.n_vocab, &tokens, &scores, &types);
    w.SetValue("tokenizer.ggml.model", GgufValue::String("llama"));
    w.SetValue("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(tokens)));
    w.SetValue("tokenizer.ggml.scores", GgufValue::Float32Array(scores));
    w.SetValue("tokenizer.ggml.token_type", GgufValue::Int32Array(types));
    w.SetValue("tokenizer.ggml.bos_token_id", GgufValue::Uint32(1));
    w.SetValue("tokenizer.ggml.eos_token_id", GgufValue::Uint32(2));
    w.SetValue("tokenizer.ggml.unknown_token_id", GgufValue::Uint32(0));
  }
  w.SetValue("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
  w.SetValue("tokenizer.ggml.add_eos_token", GgufValue::Bool(false));

  Rng rng(options.seed);
  const int64_t hd = shape.n_embd / shape.n_head;
  struct Spec {
    std::string name;
    int64_t n_in, n_out;  // n_out == 0: a norm vector of n_in
  };
  std::vector<Spec> specs = {{"token_embd.weight", shape.n_embd, shape.n_vocab}};
  for (int64_t i = 0; i < shape.n_layer; ++i) {
    const std::string b = absl::StrCat("blk.", i, ".");
    specs.push_back({b + "attn_norm.weight", shape.n_embd, 0});
    specs.push_back({b + "attn_q.weight", shape.n_embd, shape.n_head * hd});
    specs.push_back({b + "attn_k.weight", shape.n_embd, shape.n_head_kv * hd});
    specs.push_back({b + "attn_v.weight", shape.n_embd, shape.n_head_kv * hd});
    specs.push_back({b + "attn_output.weight", shape.n_head * hd, shape.n_embd});
    specs.push_back({b + "ffn_norm.weight", shape.n_embd, 0});
    specs.push_back({b + "ffn_gate.weight", shape.n_embd, shape.n_ff});
    specs.push_back({b + "ffn_up.weight", shape.n_embd, shape.n_ff});
    specs.push_back({b + "ffn_down.weight", shape.n_ff, shape.n_embd});
  }
  specs.push_back({"output_norm.weight", shape.n_embd, 0});
  if (shape.llama3_rope_factors) {
    const std::vector<float> factors = Llama3RopeFactors(hd, shape.rope_freq_base);
    std::vector<uint8_t> bytes(factors.size() * sizeof(float));
    std::memcpy(bytes.data(), factors.data(), bytes.size());
    TCOBENCH_RETURN_IF_ERROR(w.AddTensor("rope_freqs.weight", TensorType::kF32,
                                         {static_cast<int64_t>(factors.size())}, bytes));
  }
  if (!shape.tied) specs.push_back({"output.weight", shape.n_embd, shape.n_vocab});

  std::vector<float> values;
  std::vector<uint8_t> bytes;
  int done = 0;
  for (const Spec& s : specs) {
    if (s.n_out == 0) {
      values.assign(static_cast<size_t>(s.n_in), 1.0f);
      bytes.resize(values.size() * sizeof(float));
      std::memcpy(bytes.data(), values.data(), bytes.size());
      TCOBENCH_RETURN_IF_ERROR(w.AddTensor(s.name, TensorType::kF32, {s.n_in}, bytes));
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
