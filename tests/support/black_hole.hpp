// SPDX-License-Identifier: BSL-1.0
// tests/support/black_hole.hpp: an address:port that drops SYNs, as a firewalled or dead host does.
//
// A listener with a backlog of 0 whose accept queue already holds one connection (its own, never
// accepted): Linux drops every further SYN to it (LISTENOVERFLOWS), so a connect there neither succeeds
// nor fails until the kernel gives up, minutes later. Loopback only; no privileges needed.
#pragma once

#include <cstdint>
#include <string>

namespace h2coal::test {

class black_hole {
 public:
  /// Listens on `address`:`port` (0: the kernel picks) and fills the queue. Throws when it cannot bind.
  explicit black_hole(const std::string& address, std::uint16_t port = 0);
  black_hole(const black_hole&) = delete;
  black_hole& operator=(const black_hole&) = delete;
  ~black_hole();

  std::uint16_t port() const noexcept { return port_; }
  const std::string& address() const noexcept { return address_; }

 private:
  std::string address_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  int filler_ = -1;
};

/// A port on `address` where nothing listens (bound, then closed): a connect there is refused at once.
std::uint16_t refusing_port(const std::string& address);

/// Whether this machine has ::1 on its loopback interface.
bool has_ipv6_loopback();

}  // namespace h2coal::test
