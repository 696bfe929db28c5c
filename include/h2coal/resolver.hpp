// SPDX-License-Identifier: BSL-1.0
// h2coal/resolver.hpp: name resolution, pluggable.
//
// The pool resolves a host before a DNS-based coalescing decision and before connecting, through one DNS
// cache per client (DESIGN section 11). system_resolver asks the operating system through Asio (no TTL);
// static_resolver answers chosen host:port pairs itself (like curl's --resolve) and passes the rest on.
#pragma once

#include <h2coal/error.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace h2coal {

using address_list = std::vector<asio::ip::address>;

/// One answer: the addresses in the order to try them, and how long they may be kept.
struct resolution {
  /// The addresses, in the order the dialer tries them (interleaved by family there).
  address_list addresses;
  /// The answer's TTL; nullopt when the resolver knows none (the cache keeps it dns_cache_ttl).
  std::optional<std::chrono::seconds> ttl;
  /// On failure, what the DNS server said ("NXDOMAIN", "SERVFAIL", ...), for messages and traces.
  std::string reason;
};

/// The name-resolution interface a client uses (client_options::resolver): system_resolver,
/// static_resolver, cares_resolver, or one of your own.
class resolver {
 public:
  /// How an answer is delivered: an error code (empty on success) and the resolution.
  using callback = std::function<void(std::error_code, resolution)>;
  virtual ~resolver() = default;
  /// Resolves `host` for `port`; calls `done` exactly once, later, through `ex` (never inline).
  /// Errors are error::host_not_found or another h2coal error.
  virtual void async_resolve(const asio::any_io_executor& ex, const std::string& host, std::uint16_t port,
                             callback done) = 0;
};

/// The operating system's resolver (getaddrinfo on a thread of Asio's), addresses in its order.
class system_resolver final : public resolver {
 public:
  /// Whether `host` is in the special-use `.invalid` domain (RFC 6761 section 6.4), which never reaches DNS:
  /// resolving it fails with error::host_not_found at once.
  static bool is_invalid_name(std::string_view host) noexcept {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    constexpr std::string_view tld = "invalid";
    if (host.size() < tld.size()) return false;
    auto tail = host.substr(host.size() - tld.size());
    for (std::size_t i = 0; i < tld.size(); ++i) {
      char c = tail[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != tld[i]) return false;
    }
    return host.size() == tld.size() || host[host.size() - tld.size() - 1] == '.';
  }

  void async_resolve(const asio::any_io_executor& ex, const std::string& host, std::uint16_t port,
                     callback done) override {
    asio::ip::address literal;
    std::error_code parse_ec;
    literal = asio::ip::make_address(host, parse_ec);
    if (!parse_ec) {
      asio::post(ex, [done = std::move(done), literal] { done({}, resolution{address_list{literal}, std::nullopt, {}}); });
      return;
    }
    if (is_invalid_name(host)) {
      // RFC 6761 section 6.4: resolution APIs answer names under .invalid negatively, at once.
      asio::post(ex, [done = std::move(done)] { done(error::host_not_found, resolution{{}, std::nullopt, "a name under .invalid"}); });
      return;
    }
    auto r = std::make_shared<asio::ip::tcp::resolver>(ex);
    r->async_resolve(host, std::to_string(port), asio::ip::resolver_base::numeric_service,
                     [r, done = std::move(done)](std::error_code ec, asio::ip::tcp::resolver::results_type res) {
                       address_list out;
                       if (!ec)
                         for (const auto& e : res) {
                           auto a = e.endpoint().address();
                           if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
                         }
                       if (ec || out.empty()) return done(error::host_not_found, resolution{{}, std::nullopt, ec ? ec.message() : "no address"});
                       done({}, resolution{std::move(out), std::nullopt, {}});
                     });
  }
};

/// Fixed answers for chosen host:port pairs; everything else goes to `next` (or fails as not found).
class static_resolver final : public resolver {
 public:
  /// A resolver whose fixed answers are added with its setters; other names go to `next` (the system's
  /// resolver by default; null: they fail as not found).
  explicit static_resolver(std::shared_ptr<resolver> next = std::make_shared<system_resolver>())
      : next_(std::move(next)) {}

  /// Makes `host` on `port` resolve to `addrs`, in that order. Port 0 means any port.
  void add(std::string host, std::uint16_t port, address_list addrs) {
    for (auto& c : host)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    entries_[{std::move(host), port}] = std::move(addrs);
  }

  /// Parses curl's --resolve syntax "HOST:PORT:ADDR[,ADDR...]" (IPv6 addresses in brackets).
  bool add(std::string_view spec) {
    auto c1 = spec.find(':');
    if (c1 == std::string_view::npos) return false;
    auto c2 = spec.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return false;
    std::string host(spec.substr(0, c1));
    std::string port_s(spec.substr(c1 + 1, c2 - c1 - 1));
    unsigned port = 0;
    if (port_s == "*") port = 0;
    else {
      if (port_s.empty() || port_s.size() > 5) return false;
      for (char c : port_s) {
        if (c < '0' || c > '9') return false;
        port = port * 10 + static_cast<unsigned>(c - '0');
      }
      if (port > 65535) return false;
    }
    address_list addrs;
    std::string_view rest = spec.substr(c2 + 1);
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string one(rest.substr(0, comma));
      if (one.size() > 2 && one.front() == '[' && one.back() == ']') one = one.substr(1, one.size() - 2);
      std::error_code ec;
      auto a = asio::ip::make_address(one, ec);
      if (ec) return false;
      addrs.push_back(a);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (host.empty() || addrs.empty()) return false;
    add(std::move(host), static_cast<std::uint16_t>(port), std::move(addrs));
    return true;
  }

  void async_resolve(const asio::any_io_executor& ex, const std::string& host, std::uint16_t port,
                     callback done) override {
    auto it = entries_.find({host, port});
    if (it == entries_.end()) it = entries_.find({host, 0});
    if (it != entries_.end()) {
      asio::post(ex, [done = std::move(done), addrs = it->second] { done({}, resolution{addrs, std::nullopt, {}}); });
      return;
    }
    if (!next_) {
      asio::post(ex, [done = std::move(done)] { done(error::host_not_found, resolution{}); });
      return;
    }
    next_->async_resolve(ex, host, port, std::move(done));
  }

 private:
  std::shared_ptr<resolver> next_;
  std::map<std::pair<std::string, std::uint16_t>, address_list> entries_;
};

}  // namespace h2coal
