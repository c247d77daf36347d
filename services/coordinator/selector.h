// Which workers a hardware target's selector admits.
#pragma once

#include <string>

#include "tcobench/v1/coordinator.pb.h"

namespace tcobench {

// scalar < avx2 < avx512; an unknown level ranks with scalar.
int IsaRank(const std::string& isa);

// Whether a worker's inventory satisfies a hardware selector; `why` says
// what does not match.
bool SelectorMatches(const v1::Hardware::Selector& selector, const v1::WorkerInventory& worker,
                     std::string* why);

}  // namespace tcobench
