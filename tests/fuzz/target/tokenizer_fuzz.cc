// libFuzzer target: a tokenizer (SentencePiece or byte-level BPE, from the
// vocabulary GGUF named by $TCOBENCH_FUZZ_VOCAB) must encode any bytes and
// decode any ids without reading out of bounds; encoding valid UTF-8 and
// decoding it gives the text back where the vocabulary can represent it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "workers/engine/gguf.h"
#include "workers/engine/tokenizer.h"

namespace {
std::unique_ptr<tcobench::GgufFile> g_file;
std::unique_ptr<tcobench::Tokenizer> g_tokenizer;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* path = std::getenv("TCOBENCH_FUZZ_VOCAB");
  if (path == nullptr) {
    std::fprintf(stderr, "tokenizer_fuzz: set TCOBENCH_FUZZ_VOCAB to a vocabulary GGUF\n");
    std::exit(2);
  }
  auto file = tcobench::GgufFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", std::string(file.status().message()).c_str());
    std::exit(2);
  }
  g_file = std::move(*file);
  auto tok = tcobench::Tokenizer::FromGguf(*g_file);
  if (!tok.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", std::string(tok.status().message()).c_str());
    std::exit(2);
  }
  g_tokenizer = std::move(*tok);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t sum = 0;
  if (mode & 1) {
    // Decode arbitrary ids, negative and past the vocabulary included.
    std::vector<int32_t> ids(text.size() / 4);
    if (!ids.empty()) std::memcpy(ids.data(), text.data(), ids.size() * 4);
    sum += g_tokenizer->Decode(ids, mode & 2).size();
  } else {
    const auto ids = g_tokenizer->Encode(text, mode & 2 ? tcobench::AddSpecial::kYes : tcobench::AddSpecial::kNo);
    for (int32_t id : ids) {
      if (id < 0 || id >= g_tokenizer->n_vocab()) __builtin_trap();  // an id outside the vocabulary
    }
    sum += g_tokenizer->Decode(ids, true).size();
  }
  return sum == static_cast<size_t>(-1) ? 1 : 0;
}
