#include "common/security/connection_flags.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace tcobench {

CommandSpec WithConnectionFlags(CommandSpec spec) {
  auto has = [&spec](const char* name) {
    return std::any_of(spec.flags.begin(), spec.flags.end(),
                       [name](const FlagSpec& f) { return f.name == name; });
  };
  if (!has("coordinator")) return spec;
  for (const FlagSpec& f :
       {FlagSpec{"tls-ca", "", true, "FILE",
                 "verify the coordinator's certificate with this CA (PEM); turns TLS on"},
        FlagSpec{"tls-cert", "", true, "FILE", "this client's certificate (PEM), for mutual TLS"},
        FlagSpec{"tls-key", "", true, "FILE", "its private key (PEM)"},
        FlagSpec{"token-file", "", true, "FILE",
                 "bearer token for the coordinator (default $TCOBENCH_TOKEN)"}}) {
    if (!has(f.name.c_str())) spec.flags.push_back(f);
  }
  return spec;
}

std::string CoordinatorAddress(const Args& args) {
  if (args.Has("coordinator")) return args.Get("coordinator");
  const char* env = std::getenv("TCOBENCH_COORDINATOR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7700";
}

absl::StatusOr<ClientOptions> ConnectionOptions(const Args& args) {
  ClientOptions o;
  o.address = CoordinatorAddress(args);
  o.ca_file = args.Get("tls-ca");
  o.cert_file = args.Get("tls-cert");
  o.key_file = args.Get("tls-key");
  absl::StatusOr<std::string> token = ReadToken(args.Get("token-file"));
  if (!token.ok()) return token.status();
  o.token = std::move(*token);
  return o;
}

}  // namespace tcobench
