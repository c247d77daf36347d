#include "services/coordinator/selector.h"

#include "absl/strings/str_cat.h"

namespace tcobench {

int IsaRank(const std::string& isa) {
  if (isa == "avx512") return 2;
  if (isa == "avx2") return 1;
  return 0;
}

bool SelectorMatches(const v1::Hardware::Selector& s, const v1::WorkerInventory& w,
                     std::string* why) {
  // Every worker has a CPU; "gpu" needs one that reported GPUs and can run
  // the engine on them (a CUDA build).
  if (s.class_() == "gpu" && w.gpus().empty()) {
    *why = "class gpu (worker has no GPU)";
    return false;
  }
  if (s.class_() == "gpu" && !w.gpu_runtime()) {
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

}  // namespace tcobench
