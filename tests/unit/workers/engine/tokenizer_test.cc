#define BOOST_TEST_MODULE tokenizer
#include "workers/engine/tokenizer.h"

#include <sstream>

#include "tests/test_support.h"
#include "workers/engine/synth.h"

namespace tcobench::testing {
namespace {

// llama.cpp's tokenizer test vectors: .inp holds texts separated by
// "\n__ggml_vocab_test__\n", .out one line of ids per text.
void CheckVocabVectors(const std::string& vocab) {
  const std::filesystem::path base = SharedPath("models/vocab/" + vocab);
  auto file = GgufFile::Open(base);
  BOOST_REQUIRE_MESSAGE(file.ok(), file.status().ToString());
  auto tok = Tokenizer::FromGguf(**file);
  BOOST_REQUIRE_MESSAGE(tok.ok(), tok.status().ToString());
  const std::string inp = ReadText(base.string() + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t start = 0;
  for (size_t at; (at = inp.find(sep, start)) != std::string::npos; start = at + sep.size()) {
    texts.push_back(inp.substr(start, at - start));
  }
  if (start < inp.size()) texts.push_back(inp.substr(start));
  std::istringstream out(ReadText(base.string() + ".out"));
  std::string line;
  size_t i = 0, mismatches = 0;
  for (; i < texts.size() && std::getline(out, line); ++i) {
    std::vector<int32_t> want;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) want.push_back(id);
    const std::vector<int32_t> got = (*tok)->Encode(texts[i], AddSpecial::kNo);
    if (got != want) {
      ++mismatches;
      std::ostringstream g;
      for (int32_t id : got) g << ' ' << id;
      BOOST_ERROR(vocab << " case " << i << " '" << texts[i] << "': got" << g.str() << ", want"
                        << line);
    }
  }
  BOOST_TEST(i == texts.size());
  BOOST_TEST(i > 30u);
  BOOST_TEST_MESSAGE(vocab << ": " << i - mismatches << "/" << i << " cases match");
}

BOOST_AUTO_TEST_CASE(llama_spm_vectors_match, *boost::unit_test::precondition(NeedsShared())) {
  CheckVocabVectors("ggml-vocab-llama-spm.gguf");
}

BOOST_AUTO_TEST_CASE(phi3_spm_vectors_match, *boost::unit_test::precondition(NeedsShared())) {
  CheckVocabVectors("ggml-vocab-phi-3.gguf");
}

BOOST_AUTO_TEST_CASE(gpt2_bpe_vectors_match, *boost::unit_test::precondition(NeedsShared())) {
  CheckVocabVectors("ggml-vocab-gpt-2.gguf");
  // Byte-level BPE decodes back to the exact bytes.
  auto file = GgufFile::Open(SharedPath("models/vocab/ggml-vocab-gpt-2.gguf"));
  auto tok = Tokenizer::FromGguf(**file);
  BOOST_REQUIRE(tok.ok());
  for (const char* text :
       {"Hello world", "  two  spaces\n\ttab", "Äpfel 🦙 ½ нещо", "it's 123,456!"}) {
    BOOST_TEST((*tok)->Decode((*tok)->Encode(text, AddSpecial::kNo), true) == text);
  }
}

// Files whose tokenizer.ggml.pre names the digits-apart rule (starcoder,
// refact: the rule SmolLM files name too).
BOOST_AUTO_TEST_CASE(other_bpe_pre_tokenizer_vectors_match,
                     *boost::unit_test::precondition(NeedsShared())) {
  CheckVocabVectors("ggml-vocab-starcoder.gguf");
  CheckVocabVectors("ggml-vocab-refact.gguf");
}

// Llama 3 (llama-bpe: a pre-token that is a whole vocabulary entry is taken
// without merges, e.g. "Cửa Việt") and Qwen2 (Llama 3's split with single
// digits), against llama.cpp's own vectors.
BOOST_AUTO_TEST_CASE(llama_bpe_and_qwen2_vectors_match, *boost::unit_test::precondition(NeedsShared())) {
  CheckVocabVectors("ggml-vocab-llama-bpe.gguf");
  CheckVocabVectors("ggml-vocab-qwen2.gguf");
}

// Llama 3's split rule against what its regular expression gives.
BOOST_AUTO_TEST_CASE(llama3_pre_tokenizer_splits_as_its_regex) {
  using bpe::PreTokenize;
  using bpe::PreTokenizer;
  auto split = [](const char* text) { return PreTokenize(PreTokenizer::kLlama3, text); };
  using V = std::vector<std::string>;
  BOOST_TEST(split("Hello world") == (V{"Hello", " world"}));
  // Digits in threes; contractions in any case; punctuation with its space.
  BOOST_TEST(split("1234567 items") == (V{"123", "456", "7", " items"}));
  BOOST_TEST(split("I'M here, it's") == (V{"I", "'M", " here", ",", " it", "'s"}));
  // One non-letter glues to the letters after it ('(' and '$' here).
  BOOST_TEST(split("f(x) $cost") == (V{"f", "(x", ")", " $", "cost"}));
  // Newlines: punctuation takes the newlines after it; a white-space run ends
  // at its last newline; spaces before a word leave one to the word.
  BOOST_TEST(split("end.\n\nNext") == (V{"end", ".\n\n", "Next"}));
  BOOST_TEST(split("a \n  b") == (V{"a", " \n", " ", " b"}));
  BOOST_TEST(split("x   y") == (V{"x", "  ", " y"}));
  BOOST_TEST(split("tail  ") == (V{"tail", "  "}));
  // Non-ASCII letters and numbers.
  BOOST_TEST(split("Äpfel ½ 日本語") == (V{"Äpfel", " ", "½", " 日本語"}));
  // GPT-2's rule differs on exactly these points.
  BOOST_TEST(PreTokenize(PreTokenizer::kGpt2, "1234567 I'M") ==
             (V{"1234567", " I", "'", "M"}));
  BOOST_TEST(PreTokenize(PreTokenizer::kDigitsThenGpt2, "a12 b") == (V{"a", "1", "2", " b"}));
  BOOST_TEST(PreTokenize(PreTokenizer::kQwen2, "1234 I'M") == (V{"1", "2", "3", "4", " I", "'M"}));
}

BOOST_AUTO_TEST_CASE(unsupported_tokenizer_is_rejected,
                     *boost::unit_test::precondition(NeedsShared())) {
  // BERT's WordPiece model, and BPE files whose pre-tokenizer is not written yet.
  for (const char* vocab : {"ggml-vocab-bert-bge.gguf", "ggml-vocab-deepseek-coder.gguf",
                            "ggml-vocab-mpt.gguf"}) {
    auto file = GgufFile::Open(SharedPath(std::string("models/vocab/") + vocab));
    BOOST_REQUIRE(file.ok());
    auto tok = Tokenizer::FromGguf(**file);
    BOOST_REQUIRE_MESSAGE(!tok.ok(), vocab);
    BOOST_TEST(std::string(tok.status().message()).find("supported") != std::string::npos,
               tok.status().message());
  }
}

BOOST_AUTO_TEST_CASE(stories260k_prompt_tokens_match_reference,
                     *boost::unit_test::precondition(NeedsShared())) {
  // The reference tokenized this text (with BOS) for the logits golden files.
  auto file = GgufFile::Open(SharedPath("models/stories260K.gguf"));
  auto tok = Tokenizer::FromGguf(**file);
  BOOST_REQUIRE(tok.ok());
  const std::string text =
      " Spot. Spot saw the shiny car and said, \"Wow, Kitty, your car is so bright and clean!\" "
      "Kitty "
      "smiled and replied, \"Thank you, Spot. I polish it every day.\"\nAfter playing with the "
      "car, Kitty "
      "and Spot fe";
  const std::vector<int32_t> want = {
      1,   410, 301, 427, 309, 426, 301, 427, 309, 394, 265, 262, 415, 271, 422, 280, 295, 269,
      336, 432, 313, 448, 327, 432, 410, 462, 362, 422, 432, 364, 420, 280, 295, 410, 293, 384,
      268, 325, 428, 415, 413, 269, 280, 305, 303, 443, 436, 410, 462, 362, 422, 262, 423, 290,
      266, 269, 410, 276, 427, 421, 417, 266, 432, 313, 434, 415, 303, 433, 364, 432, 301, 427,
      309, 426, 359, 282, 414, 421, 293, 415, 312, 344, 363, 328, 426, 436, 13,  447, 431, 413,
      285, 337, 299, 335, 265, 280, 295, 432, 410, 462, 362, 422, 269, 301, 427, 309, 272, 411};
  BOOST_TEST((*tok)->Encode(text, AddSpecial::kYes) == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(byte_fallback_and_decode_round_trip) {
  const std::filesystem::path path = TempDir() / "tok-ktiny.gguf";
  BOOST_REQUIRE(SynthesizeModel(*FindSynthShape("ktiny"), SynthOptions{}, path).ok());
  auto file = GgufFile::Open(path);
  auto tok = Tokenizer::FromGguf(**file);
  BOOST_REQUIRE_MESSAGE(tok.ok(), tok.status().ToString());
  for (const char* text :
       {"hello world", "Äpfel 🦙 ½", "tabs\tand\nnewlines", " leading", "x"}) {
    const std::vector<int32_t> ids = (*tok)->Encode(text, AddSpecial::kYes);
    BOOST_TEST(ids.front() == (*tok)->bos());
    BOOST_TEST((*tok)->Decode(ids, true) == text);
  }
  BOOST_TEST((*tok)->Encode("", AddSpecial::kYes) == std::vector<int32_t>({1}),
             boost::test_tools::per_element());
  BOOST_TEST((*tok)->Encode("", AddSpecial::kNo).empty());
  // Bytes with no token of their own come out as <0xXX> byte tokens.
  const std::vector<int32_t> ids = (*tok)->Encode("\xC3\x84", AddSpecial::kNo);
  BOOST_TEST(ids.size() == 3u);  // space marker, then two byte tokens
  BOOST_TEST(ids[1] == 3 + 0xC3);
  BOOST_TEST(ids[2] == 3 + 0x84);
}

}  // namespace
}  // namespace tcobench::testing
