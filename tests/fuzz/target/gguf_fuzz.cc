// libFuzzer target: the GGUF reader (and the tokenizer built from what it
// reads) must turn any byte string into a clean error or a valid file.
#include <cstddef>
#include <cstdint>
#include <span>

#include "workers/engine/gguf.h"
#include "workers/engine/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = tcobench::GgufFile::Parse(std::span<const uint8_t>(data, size), "fuzz-input");
  if (!file.ok()) return 0;
  // Touch every tensor's bytes: the reader promised they are in bounds.
  uint64_t sum = 0;
  for (const auto& t : (*file)->tensors()) {
    const uint8_t* p = (*file)->TensorData(t);
    if (t.n_bytes > 0) sum += p[0] + p[t.n_bytes - 1];
  }
  auto tok = tcobench::Tokenizer::FromGguf(**file);
  if (tok.ok()) {
    const auto ids = (*tok)->Encode("Hello world", tcobench::AddSpecial::kYes);
    sum += (*tok)->Decode(ids, true).size();
  }
  return sum == 0xFFFFFFFFFFFFFFFFull ? 1 : 0;
}
