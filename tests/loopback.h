// A listening TCP socket on 127.0.0.1 at a free port, for tests' fake
// servers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/test/unit_test.hpp>

namespace tcobench::testing {

// The socket's descriptor; `*port` gets its port.
inline int ListenOnLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  listen(fd, 16);
  return fd;
}

}  // namespace tcobench::testing
