// Which workers a hardware target's selector admits.
#pragma once

#include <string>

#include "tcobench/v1/coordinator.pb.h"

namespace tcobench {

// scalar < avx2 < avx512; an unknown level ranks with scalar.
int IsaRank(const std::string& isa);

// Whether a worker's inventory satisfies a hardware selector; `why` says
// what does not match.
// `engine` false: the job's variants all run on endpoints, so class gpu
// needs GPUs but not the engine's CUDA backend.
bool SelectorMatches(const v1::Hardware::Selector& selector, const v1::WorkerInventory& worker,
                     std::string* why, bool engine = true);

// Whether a worker can run a job of `spec` (job variant `variant`, one name
// or "*" for all, on target `hardware`): the target's selector, and every
// endpoint the job's variants name advertised by the worker.
bool JobMatches(const v1::ComparisonSpec& spec, const std::string& variant, const std::string& hardware,
                const v1::WorkerInventory& worker, std::string* why);

}  // namespace tcobench
