#include "services/coordinator/selector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tcobench {

int IsaRank(const std::string& isa) {
  if (isa == "avx512") return 2;
  if (isa == "avx2") return 1;
  return 0;
}

bool SelectorMatches(const v1::Hardware::Selector& s, const v1::WorkerInventory& w,
                     std::string* why, bool engine) {
  // Every worker has a CPU; "gpu" needs one that reported GPUs and can run
  // the engine on them (a CUDA build).
  if (s.class_() == "gpu" && w.gpus().empty()) {
    *why = "class gpu (worker has no GPU)";
    return false;
  }
  if (s.class_() == "gpu" && engine && !w.gpu_runtime()) {
    *why = "class gpu (worker's build cannot run the engine on its GPUs: no CUDA backend)";
    return false;
  }
  if (!s.isa().empty() && IsaRank(w.isa()) < IsaRank(s.isa())) {
    *why = absl::StrCat("isa ", s.isa(), " (worker runs ", w.isa(), ")");
    return false;
  }
  if (s.min_memory_bytes() > 0 && w.memory_bytes() < s.min_memory_bytes()) {
    *why =
        absl::StrCat("memory ", s.min_memory_bytes(), " bytes (worker has ", w.memory_bytes(), ")");
    return false;
  }
  for (const auto& [k, v] : s.labels()) {
    auto it = w.labels().find(k);
    if (it == w.labels().end() || it->second != v) {
      *why = absl::StrCat("label ", k, "=", v);
      return false;
    }
  }
  return true;
}

bool JobMatches(const v1::ComparisonSpec& spec, const std::string& variant, const std::string& hardware,
                const v1::WorkerInventory& w, std::string* why) {
  const v1::Hardware* hw = nullptr;
  for (const v1::Hardware& h : spec.hardware()) {
    if (h.name() == hardware) hw = &h;
  }
  if (hw == nullptr) {
    *why = absl::StrCat("no hardware target '", hardware, "'");
    return false;
  }
  bool engine = false;
  for (const v1::Variant& v : spec.variants()) {
    if (variant != "*" && v.name() != variant) continue;
    if (v.runtime() == "llamacpp") {
      if (std::find(w.runtimes().begin(), w.runtimes().end(), "llamacpp") == w.runtimes().end()) {
        *why = "runtime llamacpp (worker has no libllama: --llama-lib)";
        return false;
      }
      if (hw->selector().class_() == "gpu" && !w.llama_cpp_gpu()) {
        *why = absl::StrCat("class gpu with runtime llamacpp (worker's libllama has no GPU backend: ",
                            w.llama_cpp_build(), ")");
        return false;
      }
      continue;
    }
    if (v.runtime() != "openai") {
      engine = true;
      continue;
    }
    if (std::find(w.endpoints().begin(), w.endpoints().end(), v.endpoint()) == w.endpoints().end()) {
      *why = absl::StrCat("endpoint '", v.endpoint(), "' (worker advertises ",
                          w.endpoints().empty() ? std::string("none") : absl::StrJoin(w.endpoints(), ", "), ")");
      return false;
    }
  }
  return SelectorMatches(hw->selector(), w, why, engine);
}

}  // namespace tcobench
