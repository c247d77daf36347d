// Transport security and client identity for every gRPC endpoint:
// server credentials from --tls-cert/--tls-key (and --tls-client-ca for
// mutual TLS), the rule that a plaintext server listens on loopback only
// unless --insecure, and client channels that use TLS when given a CA and
// send the bearer token on every call (docs/security.md).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tcobench {

struct ServerTlsOptions {
  std::string cert_file;       // PEM; with key_file, turns TLS on
  std::string key_file;
  std::string client_ca_file;  // PEM; clients must present a certificate it signed
  bool insecure = false;       // plaintext on a non-loopback address, on purpose
};

// Whether a listen address is on this machine only: 127.0.0.0/8,
// localhost, [::1], or a unix socket.
bool IsLoopbackAddress(const std::string& address);

// The credentials to serve `listen` with; an error names the flag that is
// missing or wrong (a plaintext non-loopback listen without --insecure, a
// key without a certificate, an unreadable file).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options, const std::string& listen);

struct ClientOptions {
  std::string address;
  std::string ca_file;    // PEM; turns TLS on
  std::string cert_file;  // PEM client certificate and key, for mutual TLS
  std::string key_file;
  std::string token;      // sent as "authorization: Bearer TOKEN" on every call
};

// A channel to the coordinator per `options`.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);

// The bearer token: the file's contents (whitespace trimmed) when `file` is
// given, else $TCOBENCH_TOKEN, else "" (no token). Never from the command
// line, where other users of the machine can read it.
absl::StatusOr<std::string> ReadToken(const std::string& file);

// A PEM file's contents, or an error naming `flag`.
absl::StatusOr<std::string> ReadPem(const std::string& file, const char* flag);

}  // namespace tcobench
