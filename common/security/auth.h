// Bearer-token authentication and roles (docs/security.md). The
// coordinator reads `ROLE NAME TOKEN` lines from --auth-tokens; a call's
// "authorization: Bearer TOKEN" names its principal. Tokens are kept as
// SHA-256 digests and compared in constant time, every entry every time.
#pragma once

#include <array>
#include <functional>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/base/mutex.h"

namespace tcobench {

enum class Role { kWorker, kClient, kAdmin };
const char* RoleName(Role role);

struct Principal {
  Role role = Role::kAdmin;
  std::string name;
};

class TokenTable {
 public:
  // One `ROLE NAME TOKEN` per line (roles: worker, client, admin); blank
  // lines and '#' comments are skipped. Errors name the file and line.
  // Tokens must be at least 16 characters and unique.
  static absl::StatusOr<TokenTable> Parse(const std::string& text, const std::string& file = "tokens");
  static absl::StatusOr<TokenTable> Load(const std::string& file);

  // The principal an "authorization" metadata value names:
  // UNAUTHENTICATED when it is missing, not "Bearer …", or unknown.
  absl::StatusOr<Principal> Authenticate(std::string_view authorization) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Principal principal;
    std::array<uint8_t, 32> digest;
  };
  std::vector<Entry> entries_;
};

// Per-client request budget: `per_second` on average, bursts up to twice
// that. Thread-safe.
class RateLimiter {
 public:
  RateLimiter(double per_second, std::function<double()> now);
  // Whether `client` may make one more request now.
  bool Allow(const std::string& client);

 private:
  struct Bucket {
    double tokens;
    double last;
  };
  const double rate_;
  const double burst_;
  std::function<double()> now_;
  Mutex mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcobench
