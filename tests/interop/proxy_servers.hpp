// SPDX-License-Identifier: BSL-1.0
// tests/interop/proxy_servers.hpp: real forward proxies for the proxy interop cases: squid (HTTP proxy:
// CONNECT and absolute-form forwarding, optional basic auth, a port whose CONNECT is refused with 403),
// tinyproxy (CONNECT proxy) and danted (SOCKS5, without authentication or with RFC 1929
// username/password).
//
// Each launcher writes its configuration, logs and pid file into a sub-folder of the case's server_dir,
// listens on a fresh port of a 127.0.7x.1 address (start_with_retry: one more try on new ports when the
// proxy exited during start-up), and returns an instance that stops the proxy's process group on
// destruction. Every proxy only forwards to 127.0.0.0/8. The test checks that the binary exists first:
// INTEROP_REQUIRE_PROGRAM(squid, "squid"), "tinyproxy", "danted".
//
// Nothing under /etc is changed. Where a proxy must see generated system files (danted's username mode
// checks the system password database; `hosts` mappings for tinyproxy and danted, which resolve through
// libc), the proxy runs in a private mount namespace (`unshare --mount`, also `--user --map-root-user`
// when not root) in which the generated passwd/shadow/group/hosts are bind-mounted over /etc's: only that
// process tree sees them.
#pragma once

#include "interop/server_process.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace h2coal::interop {

struct proxy_credentials {
  std::string user;
  std::string password;
};

/// Host name -> 127.x address pairs the proxy resolves without DNS (for CONNECT a.test:PORT and
/// socks5-hostname requests); IP-literal targets need none.
using proxy_hosts = std::vector<std::pair<std::string, std::string>>;

struct squid_options {
  std::string address = "127.0.70.1";
  /// Basic auth required for every request (basic_ncsa_auth with a generated password file); missing or
  /// wrong credentials get 407.
  std::optional<proxy_credentials> auth;
  /// CONNECT to this port (on any host) is answered 403; checked before authentication.
  std::optional<std::uint16_t> deny_connect_port;
  proxy_hosts hosts;  ///< squid's hosts_file; always written, /etc/hosts is not read
};

struct tinyproxy_options {
  std::string address = "127.0.71.1";
  std::optional<proxy_credentials> auth;  ///< BasicAuth: 407 without it
  /// CONNECT only to these ports (tinyproxy's ConnectPort; any other: 403); empty: every port.
  std::vector<std::uint16_t> connect_ports;
  proxy_hosts hosts;  ///< bind-mounted /etc/hosts in a private mount namespace when not empty
};

struct dante_options {
  std::string address = "127.0.72.1";
  /// RFC 1929 username/password (socksmethod username) against a generated password database; without
  /// it socksmethod none.
  std::optional<proxy_credentials> auth;
  /// A CONNECT to this port (on any host) is refused by a `socks block` rule: SOCKS5 reply 2.
  std::optional<std::uint16_t> block_port;
  proxy_hosts hosts;  ///< for socks5-hostname requests (ATYP 3) to names
};

class squid_proxy;
class tinyproxy_proxy;
class dante_proxy;

/// Starts `squid_bin` (`squid -N`, foreground, no disk cache) as an HTTP proxy. Start-up takes about
/// 0.1-1 s; it is waited for up to 20 s.
squid_proxy start_squid(server_dir& dir, const std::string& squid_bin, const squid_options& opts = {});

/// Starts `tinyproxy_bin -d` (foreground) as an HTTP proxy (CONNECT and absolute-form forwarding).
tinyproxy_proxy start_tinyproxy(server_dir& dir, const std::string& tinyproxy_bin, const tinyproxy_options& opts = {});

/// Starts `danted_bin` (foreground) as a SOCKS5 server on opts.address.
dante_proxy start_dante(server_dir& dir, const std::string& danted_bin, const dante_options& opts = {});

/// What every launcher returns: the running proxy, its address and its log.
class proxy_instance {
 public:
  proxy_instance() = default;
  proxy_instance(proxy_instance&&) = default;
  proxy_instance& operator=(proxy_instance&&) = default;
  virtual ~proxy_instance();

  const std::string& address() const { return address_; }
  std::uint16_t port() const { return port_; }
  /// "127.0.7x.1:PORT"
  std::string endpoint() const { return address_ + ":" + std::to_string(port_); }
  /// "http://127.0.7x.1:PORT" (squid, tinyproxy) or "socks5://127.0.7x.1:PORT" (danted), without userinfo.
  std::string url() const { return scheme_ + "://" + endpoint(); }
  /// The same with `user:password@` (percent-encoding is the caller's business).
  std::string url_with(const proxy_credentials& c) const {
    return scheme_ + "://" + c.user + ":" + c.password + "@" + endpoint();
  }
  /// The sub-folder of the server_dir with this proxy's configuration and logs.
  const std::string& folder() const { return folder_; }
  /// The proxy's request log (squid: access.log; tinyproxy and danted: their one log).
  const std::string& log_path() const { return log_path_; }
  /// The request log's contents now.
  std::string log() const;
  /// The log lines that contain `needle`.
  std::vector<std::string> log_lines_with(const std::string& needle) const;
  /// Polls until at least `n` log lines contain `needle`, for at most `limit`; returns those lines.
  std::vector<std::string> wait_for_log(const std::string& needle, std::size_t n,
                                        std::chrono::milliseconds limit = std::chrono::seconds(5)) const;
  server_process& process() { return *proc_; }
  /// Stops the proxy now (the destructor does it too).
  virtual void stop();

  friend squid_proxy start_squid(server_dir&, const std::string&, const squid_options&);
  friend tinyproxy_proxy start_tinyproxy(server_dir&, const std::string&, const tinyproxy_options&);
  friend dante_proxy start_dante(server_dir&, const std::string&, const dante_options&);

 protected:
  std::string scheme_ = "http";
  std::string address_;
  std::uint16_t port_ = 0;
  std::string folder_;
  std::string log_path_;
  std::unique_ptr<server_process> proc_;
};

/// One access.log line (logformat `%ts.%03tu %>a %rm %ru %>Hs %Ss %un`).
struct squid_request {
  std::string client;  ///< the client's address
  std::string method;  ///< "CONNECT", "GET", ...
  std::string url;     ///< "127.0.0.2:443" for CONNECT; "http://127.0.0.2:8080/path" for absolute-form
  int status = 0;      ///< what squid answered the client: 200, 403, 407, 502 ...
  std::string result;  ///< squid's code: TCP_TUNNEL, TCP_MISS, TCP_DENIED ...
  std::string user;    ///< the proxy user, "-" without credentials
};

class squid_proxy : public proxy_instance {
 public:
  squid_proxy() = default;
  squid_proxy(squid_proxy&&) = default;
  squid_proxy& operator=(squid_proxy&&) = default;
  ~squid_proxy() override;
  void stop() override;

  /// access.log parsed. Squid writes a line when a transaction ends (a tunnel: when it closes).
  std::vector<squid_request> requests() const;
  /// Polls until access.log holds at least `n` lines, for at most `limit`.
  std::vector<squid_request> wait_for_requests(std::size_t n,
                                               std::chrono::milliseconds limit = std::chrono::seconds(5)) const;
  /// cache.log: squid's own diagnostics (start-up, helper errors).
  const std::string& cache_log_path() const { return cache_log_; }

 private:
  friend squid_proxy start_squid(server_dir&, const std::string&, const squid_options&);
  std::string cache_log_;
  std::string service_;  ///< squid -n: names its shared-memory segments (/dev/shm/<service>-*)
};

class tinyproxy_proxy : public proxy_instance {
 public:
  /// The request lines tinyproxy logged, in order: "CONNECT 127.0.0.2:443", "GET http://127.0.0.2:8080/p".
  std::vector<std::string> requests() const;
};

class dante_proxy : public proxy_instance {
 public:
  /// One log line per connect that passed, when it began ("pass(N): tcp/connect [: ...").
  std::vector<std::string> passed() const { return lines_with_both("pass(", "tcp/connect [:"); }
  /// One log line per connect a rule refused (the blocked port, a non-loopback target): SOCKS5 reply 2.
  std::vector<std::string> blocked() const { return lines_with_both("block(", "tcp/connect ]:"); }
  /// Connections refused during negotiation: no acceptable method, a wrong password ("system password
  /// authentication failed for user ..."). The readiness probe's connection shows up here too ("eof").
  std::vector<std::string> refused_negotiations() const { return lines_with_both("block(", "tcp/accept ]:"); }

 private:
  std::vector<std::string> lines_with_both(const std::string& a, const std::string& b) const;
};

}  // namespace h2coal::interop
