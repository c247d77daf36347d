#include "common/security/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tcobench {
namespace {

std::array<uint8_t, 32> Digest(std::string_view token) {
  std::array<uint8_t, 32> d;
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kWorker: return "worker";
    case Role::kClient: return "client";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

absl::StatusOr<TokenTable> TokenTable::Parse(const std::string& text, const std::string& file) {
  TokenTable table;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("--auth-tokens: ", file, " line ", line_no, ": ", why));
    };
    if (words.size() != 3) return bad("expected ROLE NAME TOKEN");
    Entry e;
    if (words[0] == "worker") {
      e.principal.role = Role::kWorker;
    } else if (words[0] == "client") {
      e.principal.role = Role::kClient;
    } else if (words[0] == "admin") {
      e.principal.role = Role::kAdmin;
    } else {
      return bad(absl::StrCat("unknown role '", words[0], "' (worker, client or admin)"));
    }
    e.principal.name = std::string(words[1]);
    if (words[2].size() < 16) return bad("the token is shorter than 16 characters");
    e.digest = Digest(std::string_view(words[2].data(), words[2].size()));
    for (const Entry& other : table.entries_) {
      if (other.digest == e.digest) return bad(absl::StrCat("the token repeats ", other.principal.name, "'s"));
    }
    table.entries_.push_back(std::move(e));
  }
  if (table.entries_.empty()) return absl::InvalidArgumentError(absl::StrCat("--auth-tokens: ", file, " holds no tokens"));
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--auth-tokens: cannot read '", file, "'"));
  std::ostringstream s;
  s << in.rdbuf();
  return Parse(s.str(), file);
}

absl::StatusOr<Principal> TokenTable::Authenticate(std::string_view authorization) const {
  if (authorization.empty()) return absl::UnauthenticatedError("no token: send 'authorization: Bearer TOKEN'");
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer) {
    return absl::UnauthenticatedError("the authorization header is not 'Bearer TOKEN'");
  }
  const std::array<uint8_t, 32> d = Digest(authorization.substr(kBearer.size()));
  // Every entry, every time: the time taken says nothing about which matched.
  const Entry* found = nullptr;
  for (const Entry& e : entries_) {
    if (CRYPTO_memcmp(e.digest.data(), d.data(), d.size()) == 0) found = &e;
  }
  if (found == nullptr) return absl::UnauthenticatedError("unknown token");
  return found->principal;
}

RateLimiter::RateLimiter(double per_second, std::function<double()> now)
    : rate_(per_second), burst_(2 * per_second), now_(std::move(now)) {}

bool RateLimiter::Allow(const std::string& client) {
  const double now = now_();
  MutexLock lock(&mu_);
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + (now - b.last) * rate_);
  b.last = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace tcobench
