// An OpenAI-compatible streaming server that answers at once: every POST
// gets max_tokens content events (one token each, the request's own
// max_tokens), usage and [DONE], with no model behind it. Run a sweep
// against it to see what the client side costs (docs/endpoints.md,
// "Client overhead"): whatever limits goodput here is tcobench, not a server.
//
//   instant_server PORT
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

void Send(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string Chunk(const std::string& data) {
  const std::string event = "data: " + data + "\n\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", event.size());
  return size + event + "\r\n";
}

void Serve(int fd) {
  std::string req;
  char buf[16384];
  size_t body_at = std::string::npos, length = 0;
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
    if (body_at == std::string::npos && (body_at = req.find("\r\n\r\n")) != std::string::npos) {
      body_at += 4;
      const size_t cl = req.find("Content-Length: ");
      length = cl == std::string::npos ? 0 : std::strtoul(req.c_str() + cl + 16, nullptr, 10);
    }
    if (body_at != std::string::npos && req.size() >= body_at + length) break;
  }
  int tokens = 16;
  if (const size_t at = req.find("\"max_tokens\":"); at != std::string::npos) tokens = std::atoi(req.c_str() + at + 13);
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < tokens; ++i) {
    out += Chunk(R"({"id":"x","object":"text_completion","choices":[{"text":" tok","index":0,"finish_reason":null}]})");
  }
  out += Chunk(R"({"choices":[{"text":"","index":0,"finish_reason":"length"}],"usage":{"prompt_tokens":1,)"
               R"("completion_tokens":)" + std::to_string(tokens) + "}}");
  out += Chunk("[DONE]");
  out += "0\r\n\r\n";
  Send(fd, out);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: instant_server PORT\n");
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 1024) != 0) {
    std::perror("instant_server: bind");
    return 1;
  }
  std::printf("instant_server listening on 127.0.0.1:%s\n", argv[1]);
  std::fflush(stdout);
  while (true) {
    const int c = accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(Serve, c).detach();
  }
}
