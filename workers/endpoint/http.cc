#include "workers/endpoint/http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tcobench {
namespace {

int MillisLeft(HttpResponse::Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

// Waits for `events` on fd until the deadline.
absl::Status Wait(int fd, short events, HttpResponse::Deadline deadline, const char* what) {
  while (true) {
    pollfd p{fd, events, 0};
    const int ms = MillisLeft(deadline);
    const int n = poll(&p, 1, ms);
    if (n > 0) return absl::OkStatus();
    if (n == 0) return absl::DeadlineExceededError(absl::StrCat("timed out ", what));
    if (errno != EINTR) return absl::AbortedError(absl::StrCat(what, ": ", std::strerror(errno)));
  }
}

absl::StatusOr<int> Connect(const HttpUrl& url, HttpResponse::Deadline deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(url.port);
  if (int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", url.host, ": ", gai_strerror(rc)));
  }
  std::string last = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      absl::Status s = Wait(fd, POLLOUT, deadline, "connecting");
      int err = 0;
      socklen_t len = sizeof err;
      if (s.ok() && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        freeaddrinfo(found);
        return fd;
      }
      last = s.ok() ? std::strerror(err) : std::string(s.message());
    } else {
      last = std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  return absl::UnavailableError(absl::StrCat("cannot connect to ", url.host, ":", url.port, ": ", last));
}

absl::Status SendAll(int fd, absl::string_view data, HttpResponse::Deadline deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (absl::Status s = Wait(fd, POLLOUT, deadline, "sending the request"); !s.ok()) return s;
    } else if (n < 0 && errno != EINTR) {
      return absl::AbortedError(absl::StrCat("sending the request: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (absl::StartsWith(rest, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", url, "': https endpoints are not supported; run the worker next to the server (http on loopback "
                  "or a private network) or behind a local TLS-terminating proxy"));
  }
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' is not an http:// URL"));
  }
  HttpUrl out;
  const size_t slash = rest.find('/');
  absl::string_view hostport = rest.substr(0, slash);
  out.path = slash == absl::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  if (hostport.empty()) return absl::InvalidArgumentError(absl::StrCat("'", url, "' names no host"));
  absl::string_view host = hostport;
  if (hostport.front() == '[') {  // [IPv6]:port
    const size_t close = hostport.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError(absl::StrCat("'", url, "': bad IPv6 host"));
    host = hostport.substr(1, close - 1);
    hostport.remove_prefix(close + 1);
    if (!hostport.empty() && hostport.front() != ':') {
      return absl::InvalidArgumentError(absl::StrCat("'", url, "': bad host"));
    }
    if (!hostport.empty() && !absl::SimpleAtoi(hostport.substr(1), &out.port)) {
      return absl::InvalidArgumentError(absl::StrCat("'", url, "': bad port"));
    }
  } else if (const size_t colon = hostport.rfind(':'); colon != absl::string_view::npos) {
    host = hostport.substr(0, colon);
    if (!absl::SimpleAtoi(hostport.substr(colon + 1), &out.port)) {
      return absl::InvalidArgumentError(absl::StrCat("'", url, "': port '", hostport.substr(colon + 1),
                                                     "' is not a number"));
    }
  }
  if (out.port <= 0 || out.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "': port ", out.port, " is out of range"));
  }
  out.host = std::string(host);
  return out;
}

absl::StatusOr<std::unique_ptr<HttpResponse>> HttpResponse::Post(const HttpUrl& url, absl::string_view path,
                                                                 const std::vector<std::string>& headers,
                                                                 absl::string_view body, Deadline deadline) {
  return Send("POST", url, path, "application/json", headers, body, deadline);
}

absl::StatusOr<std::unique_ptr<HttpResponse>> HttpResponse::Send(absl::string_view method, const HttpUrl& url,
                                                                 absl::string_view path,
                                                                 absl::string_view content_type,
                                                                 const std::vector<std::string>& headers,
                                                                 absl::string_view body, Deadline deadline) {
  absl::StatusOr<int> fd = Connect(url, deadline);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<HttpResponse> r(new HttpResponse(*fd, deadline));
  std::string head = absl::StrCat(method, " ", url.path, path, " HTTP/1.1\r\nHost: ", url.host, ":", url.port,
                                  "\r\nConnection: close\r\n");
  if (!content_type.empty()) absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
  if (method != "GET" || !body.empty()) absl::StrAppend(&head, "Content-Length: ", body.size(), "\r\n");
  for (const std::string& h : headers) absl::StrAppend(&head, h, "\r\n");
  head += "\r\n";
  absl::StrAppend(&head, body);
  if (absl::Status s = SendAll(*fd, head, deadline); !s.ok()) return s;
  if (absl::Status s = r->ReadHead(); !s.ok()) return s;
  return r;
}

HttpResponse::~HttpResponse() {
  if (fd_ >= 0) close(fd_);
}

std::string HttpResponse::Header(absl::string_view lower_name) const {
  for (const auto& [k, v] : headers_) {
    if (k == lower_name) return v;
  }
  return "";
}

absl::Status HttpResponse::Fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  char tmp[16384];
  while (true) {
    const ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) {
      eof_ = true;
      return absl::OkStatus();
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = Wait(fd_, POLLIN, deadline_, "waiting for the server"); !s.ok()) return s;
    } else if (errno != EINTR) {
      return absl::AbortedError(absl::StrCat("reading the response: ", std::strerror(errno)));
    }
  }
}

absl::Status HttpResponse::ReadHead() {
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (buf_.size() > (1 << 16)) return absl::AbortedError("the response's headers are over 64 KiB");
    if (absl::Status s = Fill(); !s.ok()) return s;
    if (eof_) return absl::AbortedError("the server closed the connection before answering");
  }
  absl::string_view head(buf_.data(), end);
  const size_t line_end = head.find("\r\n");
  absl::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  const size_t sp = status_line.find(' ');
  if (!absl::StartsWith(status_line, "HTTP/1.") || sp == absl::string_view::npos ||
      !absl::SimpleAtoi(status_line.substr(sp + 1, 3), &status_)) {
    return absl::AbortedError(absl::StrCat("not an HTTP response: '", status_line.substr(0, 80), "'"));
  }
  absl::string_view rest = line_end == absl::string_view::npos ? absl::string_view() : head.substr(line_end + 2);
  while (!rest.empty()) {
    const size_t e = rest.find("\r\n");
    absl::string_view line = rest.substr(0, e);
    rest = e == absl::string_view::npos ? absl::string_view() : rest.substr(e + 2);
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    headers_.emplace_back(absl::AsciiStrToLower(line.substr(0, colon)),
                          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  pos_ = end + 4;
  if (absl::AsciiStrToLower(Header("transfer-encoding")).find("chunked") != std::string::npos) {
    framing_ = Framing::kChunked;
    remaining_ = -1;  // a size line comes first
  } else if (const std::string len = Header("content-length"); !len.empty()) {
    framing_ = Framing::kLength;
    if (!absl::SimpleAtoi(len, &remaining_) || remaining_ < 0) {
      return absl::AbortedError(absl::StrCat("bad Content-Length '", len, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::string_view> HttpResponse::Read() {
  piece_.clear();
  while (!done_) {
    if (framing_ == Framing::kChunked && remaining_ <= 0) {
      // Expect "\r\n" after a chunk's data (remaining_ == 0), then a size line.
      if (remaining_ == 0) {
        while (buf_.size() - pos_ < 2) {
          if (!piece_.empty()) return absl::string_view(piece_);  // never hold data back to wait
          if (eof_) return absl::AbortedError("the stream broke inside a chunk");
          if (absl::Status s = Fill(); !s.ok()) return s;
        }
        pos_ += 2;
        remaining_ = -1;
      }
      size_t e;
      while ((e = buf_.find("\r\n", pos_)) == std::string::npos) {
        if (!piece_.empty()) return absl::string_view(piece_);
        if (eof_) return absl::AbortedError("the stream broke before its end (no final chunk)");
        if (absl::Status s = Fill(); !s.ok()) return s;
      }
      absl::string_view size_line(buf_.data() + pos_, e - pos_);
      size_line = size_line.substr(0, size_line.find(';'));
      uint64_t size = 0;
      if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_line), &size)) {
        return absl::AbortedError(absl::StrCat("bad chunk size '", size_line.substr(0, 20), "'"));
      }
      pos_ = e + 2;
      if (size == 0) {
        done_ = true;
        break;
      }
      remaining_ = static_cast<int64_t>(size);
    }
    if (framing_ == Framing::kLength && remaining_ == 0) {
      done_ = true;
      break;
    }
    if (pos_ == buf_.size()) {
      if (eof_) {
        if (framing_ == Framing::kClose) {
          done_ = true;
          break;
        }
        return absl::AbortedError("the server closed the connection before the body's end");
      }
      if (!piece_.empty()) return absl::string_view(piece_);
      if (absl::Status s = Fill(); !s.ok()) return s;
      continue;
    }
    size_t take = buf_.size() - pos_;
    if (framing_ != Framing::kClose) take = std::min<size_t>(take, static_cast<size_t>(remaining_));
    piece_.append(buf_, pos_, take);
    pos_ += take;
    if (framing_ != Framing::kClose) remaining_ -= static_cast<int64_t>(take);
  }
  return absl::string_view(piece_);
}

std::string HttpResponse::ReadAll(size_t limit) {
  std::string out;
  while (out.size() < limit) {
    absl::StatusOr<absl::string_view> p = Read();
    if (!p.ok() || p->empty()) break;
    absl::StrAppend(&out, *p);
  }
  if (out.size() > limit) out.resize(limit);
  return out;
}

absl::StatusOr<std::string> HttpResponse::ReadBody(size_t limit) {
  std::string body;
  while (true) {
    absl::StatusOr<absl::string_view> piece = Read();
    if (!piece.ok()) return piece.status();
    if (piece->empty()) return body;
    absl::StrAppend(&body, *piece);
    if (body.size() > limit) return absl::ResourceExhaustedError(absl::StrCat("response body over ", limit, " bytes"));
  }
}

}  // namespace tcobench
