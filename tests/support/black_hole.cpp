// SPDX-License-Identifier: BSL-1.0
// tests/support/black_hole.cpp: see black_hole.hpp.
#include "support/black_hole.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace h2coal::test {

namespace {

struct any_address {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = AF_INET;
};

any_address make(const std::string& address, std::uint16_t port) {
  any_address a;
  if (address.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, address.c_str(), &s6->sin6_addr) != 1) throw std::invalid_argument("bad address " + address);
    a.len = sizeof(sockaddr_in6);
    a.family = AF_INET6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    if (inet_pton(AF_INET, address.c_str(), &s4->sin_addr) != 1) throw std::invalid_argument("bad address " + address);
    a.len = sizeof(sockaddr_in);
  }
  return a;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof(s);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) != 0) return 0;
  if (s.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&s)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&s)->sin_port);
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("black_hole: " + what + ": " + std::strerror(errno));
}

}  // namespace

black_hole::black_hole(const std::string& address, std::uint16_t port) : address_(address) {
  auto a = make(address, port);
  listener_ = ::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) fail("socket");
  int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&a.storage), a.len) != 0) {
    ::close(listener_);
    fail("bind " + address + ":" + std::to_string(port));
  }
  if (::listen(listener_, 0) != 0) fail("listen");
  port_ = bound_port(listener_);
  // One connection fills a backlog of 0; it completes at once on loopback and is never accepted.
  auto to = make(address, port_);
  filler_ = ::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (filler_ < 0) fail("socket");
  if (::connect(filler_, reinterpret_cast<sockaddr*>(&to.storage), to.len) != 0) fail("connect");
}

black_hole::~black_hole() {
  if (filler_ >= 0) ::close(filler_);
  if (listener_ >= 0) ::close(listener_);
}

std::uint16_t refusing_port(const std::string& address) {
  auto a = make(address, 0);
  int fd = ::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a.storage), a.len) != 0) {
    ::close(fd);
    fail("bind");
  }
  auto port = bound_port(fd);
  ::close(fd);
  return port;
}

bool has_ipv6_loopback() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  auto a = make("::1", 0);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a.storage), a.len) == 0;
  ::close(fd);
  return ok;
}

}  // namespace h2coal::test
