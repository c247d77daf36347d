#define BOOST_TEST_MODULE gguf
#include "workers/engine/gguf.h"

#include <cstring>

#include "tests/test_support.h"
#include "workers/engine/gguf_writer.h"
#include "workers/engine/synth.h"

namespace tcobench::testing {
namespace {

// A small valid file with every metadata value type and two tensors.
std::filesystem::path MakeSample() {
  const std::filesystem::path path = TempDir() / "sample.gguf";
  GgufWriter w(64);
  GgufValue v;
  v.type = GgufValueType::kUint8;
  v.u = 200;
  w.SetValue("t.u8", v);
  v = {};
  v.type = GgufValueType::kInt8;
  v.i = -100;
  w.SetValue("t.i8", v);
  v = {};
  v.type = GgufValueType::kUint16;
  v.u = 65000;
  w.SetValue("t.u16", v);
  v = {};
  v.type = GgufValueType::kInt16;
  v.i = -32000;
  w.SetValue("t.i16", v);
  w.SetValue("t.u32", GgufValue::Uint32(4000000000u));
  w.SetValue("t.i32", GgufValue::Int32(-2000000000));
  w.SetValue("t.f32", GgufValue::Float32(1.5f));
  w.SetValue("t.bool", GgufValue::Bool(true));
  w.SetValue("t.str", GgufValue::String("héllo"));
  v = {};
  v.type = GgufValueType::kUint64;
  v.u = 1ull << 40;
  w.SetValue("t.u64", v);
  v = {};
  v.type = GgufValueType::kInt64;
  v.i = -(1ll << 40);
  w.SetValue("t.i64", v);
  v = {};
  v.type = GgufValueType::kFloat64;
  v.f = 0.25;
  w.SetValue("t.f64", v);
  w.SetValue("t.strs", GgufValue::StringArray({"a", "", "ccc"}));
  w.SetValue("t.f32s", GgufValue::Float32Array({1.0f, -2.0f}));
  GgufValue nested;
  nested.type = GgufValueType::kArray;
  nested.elem_type = GgufValueType::kArray;
  nested.items = {GgufValue::Int32Array({1, 2, 3}), GgufValue::StringArray({"x"})};
  nested.count = nested.items.size();
  w.SetValue("t.nested", nested);
  std::vector<float> a(64 * 3), b(7);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = -static_cast<float>(i);
  auto bytes = [](const std::vector<float>& x) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4);
  };
  BOOST_REQUIRE(w.AddTensor("a", TensorType::kF32, {64, 3}, bytes(a)).ok());
  BOOST_REQUIRE(w.AddTensor("b", TensorType::kF32, {7}, bytes(b)).ok());
  BOOST_REQUIRE(w.Write(path).ok());
  return path;
}

BOOST_AUTO_TEST_CASE(writer_reader_round_trip_every_value_type) {
  auto f = GgufFile::Open(MakeSample());
  BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  const GgufFile& g = **f;
  BOOST_TEST(g.version() == 3u);
  BOOST_TEST(g.alignment() == 64u);
  BOOST_TEST(g.data_offset() % 64 == 0u);
  BOOST_TEST(NonNull(g.Find("t.u8"), "t.u8")->u == 200u);
  BOOST_TEST(NonNull(g.Find("t.i8"), "t.i8")->i == -100);
  BOOST_TEST(NonNull(g.Find("t.u16"), "t.u16")->u == 65000u);
  BOOST_TEST(NonNull(g.Find("t.i16"), "t.i16")->i == -32000);
  BOOST_TEST(ValueOf(g.GetUint("t.u32"), "t.u32") == 4000000000u);
  BOOST_TEST(NonNull(g.Find("t.i32"), "t.i32")->i == -2000000000);
  BOOST_TEST(ValueOf(g.GetFloat("t.f32"), "t.f32") == 1.5);
  BOOST_TEST(ValueOf(g.GetBool("t.bool"), "t.bool"));
  BOOST_TEST(ValueOf(g.GetString("t.str"), "t.str") == "héllo");
  BOOST_TEST(ValueOf(g.GetUint("t.u64"), "t.u64") == (1ull << 40));
  BOOST_TEST(NonNull(g.Find("t.i64"), "t.i64")->i == -(1ll << 40));
  BOOST_TEST(ValueOf(g.GetFloat("t.f64"), "t.f64") == 0.25);
  BOOST_TEST(NonNull(g.Find("t.strs"), "t.strs")->strings == std::vector<std::string>({"a", "", "ccc"}),
             boost::test_tools::per_element());
  BOOST_TEST(NonNull(g.Find("t.f32s"), "t.f32s")->NumberAt(1) == -2.0);
  const GgufValue* nested = g.Find("t.nested");
  BOOST_REQUIRE(nested != nullptr);
  BOOST_TEST(nested->items.size() == 2u);
  BOOST_TEST(nested->items[0].IntegerAt(2) == 3);
  BOOST_TEST(nested->items[1].strings[0] == "x");
  BOOST_TEST(!g.GetUint("t.str").ok());  // wrong type is an error, not a crash
  BOOST_TEST(!g.GetUint("t.i8").ok());   // negative is not a count
  BOOST_TEST(absl::IsNotFound(g.GetUint("missing").status()));
  const GgufTensorInfo* a = g.FindTensor("a");
  BOOST_REQUIRE(a != nullptr);
  BOOST_TEST(a->ne[0] == 64);
  BOOST_TEST(a->ne[1] == 3);
  BOOST_TEST(a->n_bytes == 64 * 3 * 4);
  float x;
  std::memcpy(&x, g.TensorData(*a) + 4 * 100, 4);
  BOOST_TEST(x == 100.0f);
  const GgufTensorInfo* b = NonNull(g.FindTensor("b"), "tensor b");
  std::memcpy(&x, g.TensorData(*b) + 4 * 6, 4);
  BOOST_TEST(x == -6.0f);
}

BOOST_AUTO_TEST_CASE(reads_version_2) {
  // Version 2 has the same layout as 3 (64-bit counts; 3 only added big-endian files).
  std::vector<uint8_t> bytes = ReadFile(MakeSample());
  bytes[4] = 2;
  auto f = GgufFile::Parse(bytes, "v2.gguf");
  BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  BOOST_TEST((*f)->version() == 2u);
  BOOST_TEST((*f)->tensors().size() == 2u);
}

BOOST_AUTO_TEST_CASE(reads_real_file, *boost::unit_test::precondition(NeedsShared())) {
  auto f = GgufFile::Open(SharedPath("models/stories260K.gguf"));
  BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  BOOST_TEST((*f)->tensors().size() == 48u);
  BOOST_TEST((*f)->metadata().size() == 19u);
  BOOST_TEST((*f)->data_offset() == 14176u);
  BOOST_TEST(ValueOf((*f)->GetString("general.architecture"), "general.architecture") == "llama");
  BOOST_TEST(ValueOf((*f)->GetUint("llama.feed_forward_length"), "llama.feed_forward_length") == 172u);
  BOOST_TEST(NonNull((*f)->Find("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens")->count == 512u);
}

BOOST_AUTO_TEST_CASE(missing_file_is_not_found) {
  auto f = GgufFile::Open(TempDir() / "does-not-exist.gguf");
  BOOST_TEST(absl::IsNotFound(f.status()));
}

// Every error names the file and a byte offset; nothing crashes or hangs.
void ExpectCleanError(const std::vector<uint8_t>& bytes, const std::string& what) {
  auto f = GgufFile::Parse(bytes, "hostile.gguf");
  BOOST_REQUIRE_MESSAGE(!f.ok(), what << ": accepted a bad file");
  const std::string msg(f.status().message());
  BOOST_CHECK_MESSAGE(
      msg.find("hostile.gguf") != std::string::npos && msg.find("byte") != std::string::npos,
      what << ": message lacks file or offset: " << msg);
  BOOST_CHECK(absl::IsInvalidArgument(f.status()));
}

std::vector<std::filesystem::path> HostileBases() {
  std::vector<std::filesystem::path> bases = {MakeSample()};
  const std::filesystem::path synth = TempDir() / "ktiny-hostile-base.gguf";
  if (!std::filesystem::exists(synth)) {
    SynthOptions o;
    BOOST_REQUIRE(SynthesizeModel(*FindSynthShape("ktiny"), o, synth).ok());
  }
  bases.push_back(synth);
  if (std::filesystem::exists(SharedPath("models/stories260K.gguf"))) {
    bases.push_back(SharedPath("models/stories260K.gguf"));
    bases.push_back(SharedPath("models/synthetic/ktiny-Q4_K_M.gguf"));
  } else {
    BOOST_TEST_MESSAGE("shared/ absent: hostile-file tests use synthesized files only");
  }
  return bases;
}

BOOST_AUTO_TEST_CASE(every_truncation_is_a_clean_error) {
  for (const auto& base : HostileBases()) {
    const std::vector<uint8_t> full = ReadFile(base);
    auto parsed = GgufFile::Parse(full, "ok");
    BOOST_REQUIRE(parsed.ok());
    // Bytes the file needs: the end of its last tensor (trailing padding is optional).
    uint64_t needed = 0;
    for (const GgufTensorInfo& t : (*parsed)->tensors()) {
      needed = std::max<uint64_t>(needed, (*parsed)->data_offset() + t.offset + t.n_bytes);
    }
    for (int k = 0; k < 64; ++k) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + full.size() * k / 64);
      if (cut.size() < needed) {
        ExpectCleanError(cut, base.filename().string() + " cut at " + std::to_string(k) + "/64");
      } else {
        BOOST_TEST(GgufFile::Parse(cut, "padding-only cut").ok());
      }
    }
    // Cuts inside the header region, byte by byte for the first KiB.
    for (size_t n = 0; n < std::min<size_t>(1024, full.size()); n += 7) {
      ExpectCleanError(std::vector<uint8_t>(full.begin(), full.begin() + n),
                       base.filename().string() + " cut at byte " + std::to_string(n));
    }
  }
}

BOOST_AUTO_TEST_CASE(flipped_header_bytes_never_crash) {
  for (const auto& base : HostileBases()) {
    const std::vector<uint8_t> full = ReadFile(base);
    auto parsed = GgufFile::Parse(full, "ok");
    BOOST_REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
    const size_t header = std::min<size_t>((*parsed)->data_offset(), 4096);
    std::mt19937 rng(7);
    static const uint8_t kMasks[] = {0x01, 0x80, 0xFF};
    // One copy, corrupted in place and restored after each parse: copying
    // the whole file per case made this test take minutes under ASan.
    std::vector<uint8_t> bad = full;
    for (size_t i = 0; i < header; ++i) {
      bad[i] ^= kMasks[i % 3];
      auto f = GgufFile::Parse(bad, "flipped.gguf");  // may still be valid; must not crash
      if (!f.ok()) {
        const std::string msg(f.status().message());
        BOOST_CHECK_MESSAGE(msg.find("byte") != std::string::npos, msg);
      }
      f = absl::InternalError("");  // drop the view into `bad` before restoring it
      bad[i] = full[i];
    }
    // Random multi-byte corruption.
    for (int trial = 0; trial < 2000; ++trial) {
      size_t at[4];
      for (size_t& a : at) {
        const auto value = static_cast<uint8_t>(rng());  // the value first, as `bad[rng() % n] = rng()` evaluates
        a = rng() % header;
        bad[a] = value;
      }
      (void)GgufFile::Parse(bad, "random.gguf");
      for (size_t a : at) bad[a] = full[a];
    }
  }
}

// Builds header bytes by hand for targeted absurd values.
struct Raw {
  std::vector<uint8_t> b;
  void U32(uint32_t v) {
    b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4);
  }
  void U64(uint64_t v) {
    b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8);
  }
  void Str(const std::string& s) {
    U64(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
  void Header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b = {'G', 'G', 'U', 'F'};
    U32(version);
    U64(n_tensors);
    U64(n_kv);
  }
};

BOOST_AUTO_TEST_CASE(absurd_values_are_rejected_before_use) {
  Raw r;
  r.Header(1, 0, 0);
  ExpectCleanError(r.b, "version 1");
  r.Header(4, 0, 0);
  ExpectCleanError(r.b, "version 4");
  r.Header(3, ~0ull, 0);
  ExpectCleanError(r.b, "huge tensor count");
  r.Header(3, 0, 1ull << 62);
  ExpectCleanError(r.b, "huge kv count");
  r.Header(3, 0, 1);
  r.U64(~0ull);  // key length
  ExpectCleanError(r.b, "huge key length");
  r.Header(3, 0, 1);
  r.Str("k");
  r.U32(9);  // array
  r.U32(8);  // of strings
  r.U64(1ull << 60);
  ExpectCleanError(r.b, "huge array");
  r.Header(3, 0, 1);
  r.Str("k");
  r.U32(77);  // unknown value type
  ExpectCleanError(r.b, "unknown value type");
  r.Header(3, 0, 1);
  r.Str("k");
  for (int d = 0; d < 100; ++d) {
    r.U32(9);
    r.U32(9);
    r.U64(1);
  }  // arrays nested 100 deep
  ExpectCleanError(r.b, "deep nesting");
  r.Header(3, 0, 1);
  r.Str("general.alignment");
  r.U32(4);
  r.U32(3);  // not a power of two
  ExpectCleanError(r.b, "alignment 3");
  auto tensor = [&](uint32_t n_dims, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    r.Header(3, 1, 0);
    r.Str("t");
    r.U32(n_dims);
    for (uint64_t d : dims) r.U64(d);
    r.U32(type);
    r.U64(offset);
    r.b.resize(r.b.size() + 64, 0);
  };
  tensor(5, {1, 1, 1, 1, 1}, 0, 0);
  ExpectCleanError(r.b, "5 dimensions");
  tensor(1, {0}, 0, 0);
  ExpectCleanError(r.b, "zero dimension");
  tensor(2, {1ull << 40, 1ull << 40}, 0, 0);
  ExpectCleanError(r.b, "element count overflow");
  tensor(1, {4}, 4, 0);
  ExpectCleanError(r.b, "unknown type id");
  tensor(1, {33}, 8, 0);
  ExpectCleanError(r.b, "row not a multiple of the block");
  tensor(1, {4}, 0, 1ull << 50);
  ExpectCleanError(r.b, "offset past the end");
  tensor(1, {4}, 0, 3);
  ExpectCleanError(r.b, "misaligned offset");
  tensor(1, {1024}, 0, 0);
  ExpectCleanError(r.b, "data past the end");
  // Duplicate names are rejected.
  r.Header(3, 0, 2);
  r.Str("k");
  r.U32(4);
  r.U32(1);
  r.Str("k");
  r.U32(4);
  r.U32(2);
  ExpectCleanError(r.b, "duplicate key");
  // A valid minimal file parses.
  tensor(1, {4}, 0, 0);
  BOOST_TEST(GgufFile::Parse(r.b, "ok").ok());
}

}  // namespace
}  // namespace tcobench::testing
