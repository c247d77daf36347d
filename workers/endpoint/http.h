// A small HTTP/1.1 client for OpenAI-compatible servers: one POST per
// connection, the response body read as it arrives (chunked, sized or to the
// end of the connection), every wait bounded by a deadline. Plain http only:
// an https base URL is refused with a message saying so (put the worker next
// to the server, or a local TLS-terminating proxy in front of it).
//
// Errors by code: UNAVAILABLE: no connection was made (the name did not
// resolve, or nothing accepted); DEADLINE_EXCEEDED: the deadline passed;
// ABORTED: the connection broke or the server's bytes are not HTTP.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace tcobench {

struct HttpUrl {
  std::string host;
  int port = 80;
  std::string path;  // the base path without a trailing '/', e.g. "/v1"
};

// "http://HOST[:PORT][/PATH]"; errors name what is wrong.
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url);

class HttpResponse {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  // Connects, sends the request and reads the status line and headers.
  // `headers` are "Name: value" lines without CRLF.
  static absl::StatusOr<std::unique_ptr<HttpResponse>> Post(const HttpUrl& url, absl::string_view path,
                                                            const std::vector<std::string>& headers,
                                                            absl::string_view body, Deadline deadline);
  // Any method, with its content type ("" for none; GET with no body sends
  // no length).
  static absl::StatusOr<std::unique_ptr<HttpResponse>> Send(absl::string_view method, const HttpUrl& url,
                                                            absl::string_view path, absl::string_view content_type,
                                                            const std::vector<std::string>& headers,
                                                            absl::string_view body, Deadline deadline);
  ~HttpResponse();
  HttpResponse(const HttpResponse&) = delete;
  HttpResponse& operator=(const HttpResponse&) = delete;

  int status() const { return status_; }
  // A header's value (lower-case name), "" when absent.
  std::string Header(absl::string_view lower_name) const;
  // The next piece of the body, de-chunked; an empty piece when the body has
  // ended. DEADLINE_EXCEEDED when the deadline passes first; ABORTED when
  // the connection breaks before the body's end.
  absl::StatusOr<absl::string_view> Read();
  // The rest of the body (for error responses), at most `limit` bytes.
  std::string ReadAll(size_t limit = 1 << 16);
  // The whole body; the read's error, or RESOURCE_EXHAUSTED past `limit`.
  absl::StatusOr<std::string> ReadBody(size_t limit = 16u << 20);

 private:
  explicit HttpResponse(int fd, Deadline deadline) : fd_(fd), deadline_(deadline) {}
  absl::Status Fill();  // reads more bytes into buf_
  absl::Status ReadHead();

  int fd_;
  Deadline deadline_;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string buf_;     // received, not yet consumed
  size_t pos_ = 0;      // consumed prefix of buf_
  std::string piece_;   // what Read() returned last
  bool eof_ = false;
  enum class Framing { kChunked, kLength, kClose } framing_ = Framing::kClose;
  int64_t remaining_ = 0;  // kLength: body bytes left; kChunked: of this chunk
  bool done_ = false;
};

}  // namespace tcobench
