#include "workers/engine/isa.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tcobench {

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

absl::StatusOr<Isa> ParseIsa(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "scalar") return Isa::kScalar;
  if (lower == "avx2") return Isa::kAvx2;
  if (lower == "avx512") return Isa::kAvx512;
  return absl::InvalidArgumentError(
      absl::StrCat("ISA '", name, "' is unknown; levels: scalar, avx2, avx512"));
}

Isa DetectedIsa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  // AVX-512 F, BW, DQ and VL, which libgcc reports only when the OS saves
  // the ZMM state.
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (avx512) return Isa::kAvx512;
  if (avx2) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

bool HasAvx512Vnni() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return DetectedIsa() == Isa::kAvx512 && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

Isa ActiveIsa() {
  static const Isa active = [] {
    const Isa detected = DetectedIsa();
    const char* env = std::getenv("TCOBENCH_ISA");
    if (env == nullptr || *env == '\0') return detected;
    absl::StatusOr<Isa> wanted = ParseIsa(env);
    if (!wanted.ok()) {
      std::fprintf(stderr, "tcobench: warning: TCOBENCH_ISA: %s\n",
                   std::string(wanted.status().message()).c_str());
      return detected;
    }
    if (static_cast<int>(*wanted) > static_cast<int>(detected)) {
      std::fprintf(stderr, "tcobench: warning: TCOBENCH_ISA=%s is not available here; using %s\n",
                   IsaName(*wanted), IsaName(detected));
      return detected;
    }
    return *wanted;
  }();
  return active;
}

}  // namespace tcobench
