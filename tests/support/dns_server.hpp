// SPDX-License-Identifier: BSL-1.0
// tests/support/dns_server.hpp: a tiny authoritative DNS server over UDP, for the resolver tests.
//
// Runs in-process on its own thread and io_context (like test_server), on one loopback address and a
// port the kernel picks. It answers A and AAAA questions from a table the test programs, and can be told
// per name to answer NXDOMAIN, SERVFAIL or REFUSED, to drop every query (silent), or to answer A but never
// AAAA (hold_aaaa: the RFC 8305 Resolution Delay case). Unknown names are NXDOMAIN; a known name without
// records of the asked type is NOERROR with no answer (NODATA). The table may change at any time from the
// test thread; the server counts the queries it received per name and type.
//
// The wire format (RFC 1035 section 4) is parsed and written here, strictly: one question, no answer or
// authority records, at most one additional record and only an EDNS OPT (RFC 6891), names of labels up
// to 63 bytes and 255 in all without compression, class IN, nothing after the message. Anything else is
// answered FORMERR (or dropped when not even the header is there) and counted as malformed. Answers
// copy the question as it was sent (case kept) and name it by a compression pointer to offset 12.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace h2coal::test {

namespace detail {
class dns_core;
}

enum class dns_type : std::uint16_t { a = 1, aaaa = 28 };

enum class dns_mode {
  answer,     // the records below (NODATA for a type without any)
  nxdomain,   // RCODE 3
  servfail,   // RCODE 2
  refused,    // RCODE 5
  silent,     // drops every query for the name
  hold_aaaa,  // answers A, drops AAAA
};

struct dns_records {
  std::vector<std::string> a;     // IPv4 addresses, in answer order
  std::vector<std::string> aaaa;  // IPv6 addresses, in answer order
  std::uint32_t ttl = 300;        // of every record, unless aaaa_ttl says otherwise for AAAA
  std::optional<std::uint32_t> aaaa_ttl;
  dns_mode mode = dns_mode::answer;
};

class dns_server {
 public:
  /// Binds UDP `address`:0 and starts the server's thread. Throws if it cannot bind.
  explicit dns_server(const std::string& address = "127.0.0.1");
  /// Stops the io_context and joins; never waits for a client.
  ~dns_server();
  dns_server(const dns_server&) = delete;
  dns_server& operator=(const dns_server&) = delete;

  std::string address() const;
  std::uint16_t port() const;
  /// "ADDR:PORT" ("[ADDR]:PORT" for IPv6): cares_options::servers, h2get --dns-servers.
  std::string servers() const;

  // The table (names case-insensitive, without the trailing dot); thread-safe.
  void set(const std::string& name, dns_records records);
  void set_mode(const std::string& name, dns_mode mode);  // a name not in the table gets no records
  void remove(const std::string& name);

  // What arrived; thread-safe.
  std::size_t queries(const std::string& name, dns_type type) const;
  std::size_t queries(const std::string& name) const;  // every type
  std::size_t total_queries() const;                   // well-formed ones, every name
  std::size_t malformed() const;

 private:
  std::unique_ptr<detail::dns_core> core_;
};

}  // namespace h2coal::test
