#include "workers/engine/quantizer.h"

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "workers/engine/gguf.h"
#include "workers/engine/gguf_writer.h"
#include "workers/engine/quants.h"
#include "common/base/status_macros.h"
#include "workers/engine/thread_pool.h"

namespace tcobench {
namespace {

using T = TensorType;

bool IsQuantized(TensorType t) { return t != T::kF32 && t != T::kF16 && t != T::kBF16; }

// llama.cpp's use_more_bits: the first and last eighth of the layers, and
// every third layer in between.
bool UseMoreBits(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// Position of tensor `name` among the tensors with the same role, by file order.
struct LayerCounter {
  int64_t attn_v_total = 0, ffn_down_total = 0;
  int64_t attn_v_seen = 0, ffn_down_seen = 0;
};

}  // namespace

const std::vector<QuantRecipe>& QuantRecipes() {
  static const std::vector<QuantRecipe> kRecipes = {
      {"F16", T::kF16, 1},      {"BF16", T::kBF16, 32},   {"Q8_0", T::kQ8_0, 7},
      {"Q4_0", T::kQ4_0, 2},    {"Q4_1", T::kQ4_1, 3},    {"Q5_0", T::kQ5_0, 8},
      {"Q5_1", T::kQ5_1, 9},    {"Q2_K", T::kQ2_K, 10},   {"Q3_K_M", T::kQ3_K, 12},
      {"Q4_K_S", T::kQ4_K, 14}, {"Q4_K_M", T::kQ4_K, 15}, {"Q5_K_S", T::kQ5_K, 16},
      {"Q5_K_M", T::kQ5_K, 17}, {"Q6_K", T::kQ6_K, 18},
  };
  return kRecipes;
}

std::optional<QuantRecipe> FindQuantRecipe(absl::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(name);
  for (const QuantRecipe& r : QuantRecipes()) {
    if (upper == r.name) return r;
  }
  return std::nullopt;
}

std::string QuantRecipeNames() {
  std::string names;
  for (const QuantRecipe& r : QuantRecipes())
    names += (names.empty() ? "" : ", ") + std::string(r.name);
  return names;
}

namespace {

// The reference's attn_v rules cover the fused attn_qkv too (it counts them
// as attn_v; its own attn_qkv rule comes after and is never reached).
bool IsAttnV(absl::string_view name) {
  return absl::StrContains(name, "attn_v.weight") || absl::StrContains(name, "attn_qkv.weight");
}

// The recipe's choice for one matrix (llama_tensor_get_type without imatrix).
TensorType ChooseType(const QuantRecipe& recipe, const GgufTensorInfo& t, bool has_output,
                      int64_t gqa, LayerCounter* layers, std::string* reason) {
  const std::string name = recipe.name;
  TensorType type = recipe.default_type;
  if (!IsQuantized(type)) return type;  // F16/BF16: every matrix converted
  const bool is_output =
      t.name == "output.weight" || (!has_output && t.name == "token_embd.weight");
  if (is_output) {
    if (t.ne[0] % Geometry(type).block_size != 0) {
      *reason = "output matrix, rows do not fit the recipe type";
      type = T::kQ8_0;
    } else if (type != T::kQ8_0) {
      *reason = "output matrix";
      type = T::kQ6_K;
    }
  } else if (IsAttnV(t.name)) {
    const int64_t i = layers->attn_v_seen++, n = layers->attn_v_total;
    if (name == "Q2_K") {
      *reason = "attn_v";
      type = gqa >= 4 ? T::kQ4_K : T::kQ3_K;
    } else if (name == "Q3_K_M") {
      *reason = "attn_v";
      type = i < 2 ? T::kQ5_K : T::kQ4_K;
    } else if ((name == "Q4_K_M" || name == "Q5_K_M") && UseMoreBits(i, n)) {
      *reason = "attn_v in a more-bits layer";
      type = T::kQ6_K;
    } else if (name == "Q4_K_S" && i < 4) {
      *reason = "attn_v in the first 4 layers";
      type = T::kQ5_K;
    }
  } else if (absl::StrContains(t.name, "ffn_down")) {
    const int64_t i = layers->ffn_down_seen++, n = layers->ffn_down_total;
    if (name == "Q2_K") {
      *reason = "ffn_down";
      type = T::kQ3_K;
    } else if (name == "Q3_K_M") {
      *reason = "ffn_down";
      type = i < n / 16 ? T::kQ5_K : T::kQ4_K;
    } else if ((name == "Q4_K_M" || name == "Q5_K_M") && UseMoreBits(i, n)) {
      *reason = "ffn_down in a more-bits layer";
      type = T::kQ6_K;
    } else if (name == "Q4_K_S" && i < n / 8) {
      *reason = "ffn_down in the first eighth of the layers";
      type = T::kQ5_K;
    }
  } else if (absl::StrContains(t.name, "attn_output.weight")) {
    if (name == "Q2_K") {
      *reason = "attn_output";
      type = T::kQ3_K;
    } else if (name == "Q3_K_M") {
      *reason = "attn_output";
      type = T::kQ4_K;
    }
  }
  // Shape fallback: rows that are not whole blocks of the chosen type.
  if (t.ne[0] % Geometry(type).block_size != 0) {
    const TensorType chosen = type;
    switch (type) {
      case T::kQ4_K:
        type = T::kQ5_0;
        break;
      case T::kQ5_K:
        type = T::kQ5_1;
        break;
      case T::kQ6_K:
        type = T::kQ8_0;
        break;
      case T::kQ2_K:
      case T::kQ3_K:
        type = T::kQ4_0;
        break;
      default:
        type = T::kF16;
        break;
    }
    if (t.ne[0] % Geometry(type).block_size != 0) type = T::kF16;
    *reason = absl::StrCat("rows of ", t.ne[0], " do not fit ", TypeName(chosen), "'s blocks");
  }
  return type;
}

}  // namespace

absl::Status QuantizeModel(const std::filesystem::path& in, const std::filesystem::path& out,
                           const QuantRecipe& recipe, const QuantizeOptions& options,
                           QuantizeSummary* summary) {
  TCOBENCH_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(in));
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && std::filesystem::equivalent(in, out, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(out.string(), ": output would overwrite the input"));
  }
  GgufWriter writer(file->alignment());
  for (const GgufKv& kv : file->metadata()) {
    if (kv.key != "general.alignment") writer.SetValue(kv.key, kv.value);
  }
  writer.SetValue("general.file_type", GgufValue::Uint32(recipe.file_type));
  writer.SetValue("general.quantization_version", GgufValue::Uint32(2));

  LayerCounter layers;
  bool has_output = false;
  for (const GgufTensorInfo& t : file->tensors()) {
    if (IsAttnV(t.name)) ++layers.attn_v_total;
    if (absl::StrContains(t.name, "ffn_down")) ++layers.ffn_down_total;
    if (t.name == "output.weight") has_output = true;
  }
  int64_t gqa = 1;
  if (absl::StatusOr<std::string> arch = file->GetString("general.architecture"); arch.ok()) {
    absl::StatusOr<uint64_t> heads = file->GetUint(*arch + ".attention.head_count");
    absl::StatusOr<uint64_t> kv_heads = file->GetUint(*arch + ".attention.head_count_kv");
    if (heads.ok() && kv_heads.ok() && *kv_heads > 0)
      gqa = static_cast<int64_t>(*heads / *kv_heads);
  }

  int threads = options.n_threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  QuantizeSummary local;
  if (summary == nullptr) summary = &local;
  *summary = {};
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  int done = 0;
  for (const GgufTensorInfo& t : file->tensors()) {
    TensorPlacement p;
    p.name = t.name;
    p.ne.assign(t.ne.begin(), t.ne.begin() + t.n_dims);
    p.from = t.type;
    p.to = t.type;
    const uint8_t* src = file->TensorData(t);
    // Vectors (norms) and anything not a 2-D+ matrix keep their type.
    const bool quantize = t.n_dims >= 2 && !absl::StrContains(t.name, "_norm.weight");
    if (quantize) p.to = ChooseType(recipe, t, has_output, gqa, &layers, &p.reason);
    if (p.to == p.from) {
      TCOBENCH_RETURN_IF_ERROR(
          writer.AddTensor(t.name, t.type, p.ne, {src, static_cast<size_t>(t.n_bytes)}));
    } else {
      const TypeOps* from = GetReferenceOps(t.type);
      const TypeOps* to = GetReferenceOps(p.to);
      if (from == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(in.string(), ": tensor '", t.name, "' has type ", TypeName(t.type),
                         ", which cannot be converted; supported: ", SupportedWeightTypesList()));
      }
      const int64_t row = t.ne[0];
      const int64_t rows = t.n_elements / row;
      const int64_t in_row_bytes = RowBytes(t.type, row);
      const int64_t out_row_bytes = RowBytes(p.to, row);
      values.resize(static_cast<size_t>(t.n_elements));
      bytes.resize(static_cast<size_t>(out_row_bytes * rows));
      pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          float* v = values.data() + r * row;
          from->to_float(src + r * in_row_bytes, v, row);
          to->quantize(v, bytes.data() + r * out_row_bytes, row);
        }
      });
      TCOBENCH_RETURN_IF_ERROR(writer.AddTensor(t.name, p.to, p.ne, bytes));
    }
    summary->bytes_in += t.n_bytes;
    summary->bytes_out += RowBytes(p.to, t.ne[0]) * (t.n_elements / t.ne[0]);
    summary->tensors.push_back(p);
    if (options.progress) options.progress(++done, static_cast<int>(file->tensors().size()), p);
  }
  return writer.Write(out);
}

}  // namespace tcobench
