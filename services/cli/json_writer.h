// Minimal JSON output with correct string escaping, for --format json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

namespace tcobench::cli {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  // The document, indented by two spaces, with a final newline.
  std::string str() const { return out_ + "\n"; }

 private:
  void BeforeValue();
  void Newline();
  std::string out_;
  std::vector<bool> has_items_;  // per open container
  bool after_key_ = false;
};

std::string JsonEscape(absl::string_view s);

}  // namespace tcobench::cli
