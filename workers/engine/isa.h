// Instruction-set levels the CPU kernels are built for, what this CPU has,
// and which level is in use (TCOBENCH_ISA=scalar|avx2|avx512 lowers it, so a
// worker can present a smaller hardware class).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tcobench {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

const char* IsaName(Isa isa);
absl::StatusOr<Isa> ParseIsa(absl::string_view name);

// The best level this CPU supports (AVX-512 F/BW/DQ/VL counts as avx512;
// that level has its own repacked kernels where the CPU also has VNNI, and
// runs the AVX2 kernels for everything else).
Isa DetectedIsa();
// Whether the CPU has AVX-512 VNNI (int8 dot products; the avx512 level's
// repacked kernels need it; without it that level uses the AVX2 ones).
bool HasAvx512Vnni();
// The level in use: DetectedIsa(), lowered by $TCOBENCH_ISA. A request above
// what the CPU has is clamped (with one warning on stderr); an unknown name is
// a warning and ignored. Fixed at the first call.
Isa ActiveIsa();

}  // namespace tcobench
