// SPDX-License-Identifier: BSL-1.0
// h2coal/cares_resolver.hpp: DNS through c-ares, with the answers' TTLs and AAAA and A asked in parallel.
//
// DESIGN section 11. Each lookup sends two queries at once, AAAA and A (two ares_getaddrinfo calls, one per
// family). When both have answered, the addresses come AAAA first, then A (the dialer interleaves the
// families itself). When A answers first, the AAAA answer is awaited for at most the Resolution Delay
// (RFC 8305 section 3, 50 ms by default) and then A is delivered alone; when AAAA answers first, A is
// awaited (for as long as c-ares' own timeouts allow). The TTL is the smallest TTL among the records
// delivered (CNAMEs included); it is not clamped here, the client's DNS cache does that.
//
// IP literals are answered at once and names under .invalid fail at once (RFC 6761 section 6.4), neither
// reaching DNS. Failures are error::host_not_found with resolution::reason saying what the server said
// ("NXDOMAIN", "no address records", "SERVFAIL", "REFUSED", ...), error::resolve_timeout when no server
// answered, error::invalid_option for a malformed server list (cares_resolver::parse_servers tells that
// up front). With several servers, c-ares asks the next one after a SERVFAIL or REFUSED; when all of them
// failed so, the reason says that much (c-ares does not keep which answer each one gave).
//
// Threading: one c-ares channel per cares_resolver, driven on a strand of the executor given to the
// constructor: c-ares' sockets are watched there (ARES_OPT_SOCK_STATE_CB; Asio waits on the descriptors
// without ever owning or closing them) and a steady_timer runs c-ares' timeouts. async_resolve may be
// called from any thread: the work is posted to that strand, and the callback always runs later, through
// the executor passed to async_resolve, never inline.
//
// Lifetime: destroy a cares_resolver before its executor's execution context, as any Asio I/O object.
// Destruction hands the channel to the strand, which destroys it (ares_destroy): lookups still outstanding
// then complete with error::client_shutdown. When the execution context goes away without running that
// (it was stopped, or is being destroyed), the outstanding callbacks are dropped uncalled, as Asio drops
// the handlers it never ran.
//
// Only with c-ares: configure h2coal with H2COAL_WITH_CARES (AUTO finds it; Debian: libc-ares-dev), which
// links it and defines H2COAL_HAS_CARES.
#pragma once

#if !defined(H2COAL_HAS_CARES)
#error "h2coal/cares_resolver.hpp needs c-ares: build h2coal with it (CMake: H2COAL_WITH_CARES=AUTO or ON; Debian: libc-ares-dev), which defines H2COAL_HAS_CARES; else use system_resolver"
#endif

#include <h2coal/error.hpp>
#include <h2coal/resolver.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#if !defined(ASIO_HAS_POSIX_STREAM_DESCRIPTOR)
#error "h2coal/cares_resolver.hpp watches c-ares' sockets with asio::posix::stream_descriptor (POSIX only, for now)"
#endif

#include <ares.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace h2coal {

/// The settings of a cares_resolver: DNS servers and timeouts.
struct cares_options {
  /// The DNS servers, in curl's --dns-servers syntax: "ADDR[:PORT][,ADDR[:PORT]...]", an IPv6 address in
  /// brackets when a port follows ("[::1]:5353"), port 53 when none. Empty: the system's
  /// (/etc/resolv.conf). Either way the search domains and ndots of /etc/resolv.conf apply.
  std::string servers;
  /// How long the first try waits for an answer; c-ares doubles it after each round over the servers.
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  /// Rounds over the servers before a query gives up (error::resolve_timeout when none answered).
  int tries = 2;
  /// RFC 8305 section 3 Resolution Delay: once A answered, how long AAAA is still awaited.
  std::chrono::milliseconds resolution_delay = std::chrono::milliseconds(50);
};

namespace detail {

class cares_core;

/// One async_resolve: its two queries and the caller's callback. Lives while c-ares holds a query of it
/// or its Resolution Delay timer runs.
struct cares_lookup {
  struct query {
    cares_lookup* owner = nullptr;
    bool v6 = false;
    bool done = false;
    int status = ARES_SUCCESS;
    address_list addresses;
    int ttl = INT_MAX;  // the smallest record TTL seen
  };

  cares_lookup(asio::any_io_executor e, resolver::callback d, std::string h)
      : ex(std::move(e)), done(std::move(d)), host(std::move(h)) {
    aaaa.owner = this;
    aaaa.v6 = true;
    a.owner = this;
  }
  cares_lookup(const cares_lookup&) = delete;
  cares_lookup& operator=(const cares_lookup&) = delete;

  cares_core* core = nullptr;
  asio::any_io_executor ex;
  resolver::callback done;
  std::string host;
  query aaaa, a;
  int outstanding = 0;     // queries c-ares has not called back yet
  bool delivered = false;  // `done` has been posted
  std::optional<asio::steady_timer> delay;
};

/// The channel and everything that drives it; shared by the resolver and the handlers on its strand.
class cares_core final : public std::enable_shared_from_this<cares_core> {
 public:
  using strand_type = asio::strand<asio::any_io_executor>;

  cares_core(const asio::any_io_executor& ex, const cares_options& o)
      : strand_(asio::make_strand(ex)), timer_(strand_), delay_(o.resolution_delay) {}

  /// Creates the channel; returns what went wrong, with a reason, instead of throwing.
  std::error_code init(const cares_options& o, const std::vector<asio::ip::udp::endpoint>& servers, std::string& why) {
    static const int library = ares_library_init(ARES_LIB_INIT_ALL);  // once, thread-safely
    if (library != ARES_SUCCESS) {
      why = std::string("c-ares: ") + ares_strerror(library);
      return error::host_not_found;
    }
    // c-ares takes a SERVFAIL, REFUSED or NOTIMP as a reason to ask the next server, and when none is
    // left says only "connection refused". With one server there is no next one: then its own answer
    // (ARES_FLAG_NOCHECKRESP) is the better error, "SERVFAIL" rather than "unreachable".
    if (auto ec = open(o, servers, false, why)) return ec;
    ares_addr_port_node* list = nullptr;
    std::size_t count = 0;
    if (ares_get_servers_ports(channel_, &list) == ARES_SUCCESS)
      for (auto* n = list; n; n = n->next) ++count;
    if (list) ares_free_data(list);
    if (count == 1) {
      ares_destroy(channel_);
      channel_ = nullptr;
      return open(o, servers, true, why);
    }
    return {};
  }

  ~cares_core() {
    // Reached without shutdown() only when the execution context dropped the handler that would have run
    // it: nobody is left to run callbacks, so they are dropped.
    dropping_ = true;
    destroy_channel();
  }

  cares_core(const cares_core&) = delete;
  cares_core& operator=(const cares_core&) = delete;

  const strand_type& strand() const noexcept { return strand_; }

  /// On the strand: sends the lookup's two queries.
  void start(const std::shared_ptr<cares_lookup>& l) {
    if (!channel_) return complete(*l, error::client_shutdown, {}, "the resolver was destroyed");
    lookups_.emplace(l.get(), l);
    l->core = this;
    l->outstanding = 2;
    ares_addrinfo_hints hints{};
    hints.ai_flags = ARES_AI_NOSORT;  // the DNS order; the dialer orders the race
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_INET6;
    // c-ares may answer inline (from /etc/hosts): answered() then only records it, the A query still goes.
    ares_getaddrinfo(channel_, l->host.c_str(), nullptr, &hints, &cares_core::on_addrinfo, &l->aaaa);
    hints.ai_family = AF_INET;
    ares_getaddrinfo(channel_, l->host.c_str(), nullptr, &hints, &cares_core::on_addrinfo, &l->a);
    after_calls();
  }

  /// On the strand: destroys the channel; outstanding lookups complete with error::client_shutdown.
  void shutdown() { destroy_channel(); }

 private:
  std::error_code open(const cares_options& o, const std::vector<asio::ip::udp::endpoint>& servers, bool own_answers,
                       std::string& why) {
    ares_options ao{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    ao.sock_state_cb = &cares_core::on_sock_state;
    ao.sock_state_cb_data = this;
    ao.timeout = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(o.timeout.count(), 1, INT_MAX));
    ao.tries = std::max(1, o.tries);
    if (own_answers) {
      mask |= ARES_OPT_FLAGS;
      ao.flags = ARES_FLAG_NOCHECKRESP;
    }
    if (int rc = ares_init_options(&channel_, &ao, mask); rc != ARES_SUCCESS) {
      channel_ = nullptr;
      why = std::string("c-ares: ") + ares_strerror(rc);
      return error::host_not_found;
    }
    if (servers.empty()) return {};
    std::vector<ares_addr_port_node> nodes(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      auto& n = nodes[i];
      const auto a = servers[i].address();
      if (a.is_v4()) {
        n.family = AF_INET;
        const auto b = a.to_v4().to_bytes();
        std::memcpy(&n.addr.addr4, b.data(), b.size());
      } else {
        n.family = AF_INET6;
        const auto b = a.to_v6().to_bytes();
        std::memcpy(&n.addr.addr6, b.data(), b.size());
      }
      n.udp_port = n.tcp_port = servers[i].port();
      n.next = i + 1 < servers.size() ? &nodes[i + 1] : nullptr;
    }
    if (int rc = ares_set_servers_ports(channel_, nodes.data()); rc != ARES_SUCCESS) {
      why = std::string("c-ares: ") + ares_strerror(rc);
      return error::invalid_option;
    }
    return {};
  }

  // ---- c-ares callbacks (inside c-ares calls, on the strand or in ~cares_core: never call c-ares here) --

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<cares_core*>(data)->sock_state(fd, readable != 0, writable != 0);
  }

  static void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
    auto* q = static_cast<cares_lookup::query*>(arg);
    q->owner->core->answered(*q, status, res);
  }

  void answered(cares_lookup::query& q, int status, ares_addrinfo* res) {
    auto l = lookups_.at(q.owner);  // held here: erasing it below must not destroy it under our feet
    q.done = true;
    q.status = status;
    if (res) {
      for (const ares_addrinfo_node* n = res->nodes; n; n = n->ai_next) {
        asio::ip::address a;
        if (q.v6 && n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(sockaddr_in6)) {
          sockaddr_in6 sa;
          std::memcpy(&sa, n->ai_addr, sizeof sa);
          asio::ip::address_v6::bytes_type b;
          std::memcpy(b.data(), &sa.sin6_addr, b.size());
          a = asio::ip::address_v6(b, sa.sin6_scope_id);
        } else if (!q.v6 && n->ai_family == AF_INET && n->ai_addrlen >= sizeof(sockaddr_in)) {
          sockaddr_in sa;
          std::memcpy(&sa, n->ai_addr, sizeof sa);
          asio::ip::address_v4::bytes_type b;
          std::memcpy(b.data(), &sa.sin_addr, b.size());
          a = asio::ip::address_v4(b);
        } else {
          continue;
        }
        if (std::find(q.addresses.begin(), q.addresses.end(), a) == q.addresses.end()) q.addresses.push_back(a);
        q.ttl = std::min(q.ttl, std::max(0, n->ai_ttl));
      }
      // A CNAME on the way bounds the answer's life as much as the address records do.
      for (const ares_addrinfo_cname* c = res->cnames; c; c = c->next) q.ttl = std::min(q.ttl, std::max(0, c->ttl));
      ares_freeaddrinfo(res);
    }
    if (--l->outstanding == 0) lookups_.erase(l.get());
    if (l->delivered) return;  // A went alone after the Resolution Delay; this AAAA is late
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
      if (l->delay) l->delay->cancel();
      if (!dropping_) complete(*l, error::client_shutdown, {}, "the resolver was destroyed");
      l->delivered = true;
      return;
    }
    decide(l);
  }

  // RFC 8305 section 3: both answers, or A and then at most the Resolution Delay for AAAA.
  void decide(const std::shared_ptr<cares_lookup>& l) {
    if (l->aaaa.done && l->a.done) {
      if (l->delay) l->delay->cancel();
      return deliver(*l, true, true);
    }
    if (!l->a.done || l->a.addresses.empty() || l->delay) return;  // wait for the other answer
    if (delay_.count() <= 0) return deliver(*l, false, true);
    l->delay.emplace(strand_);
    l->delay->expires_after(delay_);
    l->delay->async_wait([self = shared_from_this(), l](std::error_code ec) {
      if (ec || l->delivered) return;
      self->deliver(*l, false, true);
      self->after_calls();  // the AAAA query may now be the only one left: cancel it
    });
  }

  void deliver(cares_lookup& l, bool with_aaaa, bool with_a) {
    resolution r;
    int ttl = INT_MAX;
    for (auto* q : {with_aaaa ? &l.aaaa : nullptr, with_a ? &l.a : nullptr}) {
      if (!q || q->addresses.empty()) continue;
      r.addresses.insert(r.addresses.end(), q->addresses.begin(), q->addresses.end());
      ttl = std::min(ttl, q->ttl);
    }
    if (!r.addresses.empty()) {
      r.ttl = std::chrono::seconds(ttl);
      return complete(l, {}, std::move(r), {});
    }
    // Both failed: an authoritative "no such name" says most, then a failure (timeout, SERVFAIL ...),
    // then "no records of this type"; the A query's word on a tie.
    auto rank = [](const cares_lookup::query& q) {
      if (q.status == ARES_ENOTFOUND) return 3;
      if (q.status == ARES_SUCCESS || q.status == ARES_ENODATA) return 1;
      return 2;
    };
    const auto& q = rank(l.aaaa) > rank(l.a) ? l.aaaa : l.a;
    auto [ec, why] = describe(q.status);
    complete(l, ec, {}, std::move(why));
  }

  static std::pair<std::error_code, std::string> describe(int status) {
    switch (status) {
      case ARES_ENOTFOUND: return {error::host_not_found, "NXDOMAIN"};
      case ARES_SUCCESS:
      case ARES_ENODATA: return {error::host_not_found, "no address records"};
      case ARES_ESERVFAIL: return {error::host_not_found, "SERVFAIL"};
      case ARES_EREFUSED: return {error::host_not_found, "REFUSED"};
      case ARES_ENOTIMP: return {error::host_not_found, "NOTIMP"};
      case ARES_EFORMERR: return {error::host_not_found, "FORMERR"};
      case ARES_ETIMEOUT: return {error::resolve_timeout, "no answer from the DNS servers"};
      // Also what c-ares says when every one of several servers answered SERVFAIL, REFUSED or NOTIMP.
      case ARES_ECONNREFUSED: return {error::host_not_found, "no DNS server gave an answer (unreachable, SERVFAIL or REFUSED)"};
      case ARES_EBADNAME: return {error::host_not_found, "not a valid DNS name"};
      case ARES_EDESTRUCTION:
      case ARES_ECANCELLED: return {error::client_shutdown, "the resolver was destroyed"};
      default: return {error::host_not_found, std::string("c-ares: ") + ares_strerror(status)};
    }
  }

  static void complete(cares_lookup& l, std::error_code ec, resolution r, std::string why) {
    l.delivered = true;
    r.reason = std::move(why);
    asio::post(l.ex, [done = std::move(l.done), ec, r = std::move(r)]() mutable { done(ec, std::move(r)); });
  }

  struct watched {
    explicit watched(const strand_type& s) : descriptor(s) {}
    ~watched() {
      // The descriptor is c-ares' socket: Asio must never close it.
      if (descriptor.is_open()) descriptor.release();
    }
    asio::posix::stream_descriptor descriptor;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool closed = false;
  };

  void sock_state(ares_socket_t fd, bool readable, bool writable) {
    auto it = sockets_.find(fd);
    if (!readable && !writable) {
      // c-ares is about to close the socket: forget it before the descriptor number can be reused.
      if (it != sockets_.end()) {
        it->second->closed = true;
        if (it->second->descriptor.is_open()) it->second->descriptor.release();
        sockets_.erase(it);
      }
      return;
    }
    if (it == sockets_.end()) {
      auto w = std::make_shared<watched>(strand_);
      std::error_code ec;
      w->descriptor.assign(fd, ec);
      if (ec) return;  // not watchable: c-ares' timeouts still end its queries
      it = sockets_.emplace(fd, std::move(w)).first;
    }
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(it->second, fd);
  }

  void arm(const std::shared_ptr<watched>& w, ares_socket_t fd) {
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                               [self = shared_from_this(), w, fd](std::error_code ec) {
                                 w->reading = false;
                                 if (w->closed || !self->channel_ || ec == asio::error::operation_aborted) return;
                                 self->process(fd, ARES_SOCKET_BAD);
                                 if (!ec && !w->closed) self->arm(w, fd);
                               });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->descriptor.async_wait(asio::posix::descriptor_base::wait_write,
                               [self = shared_from_this(), w, fd](std::error_code ec) {
                                 w->writing = false;
                                 if (w->closed || !self->channel_ || ec == asio::error::operation_aborted) return;
                                 self->process(ARES_SOCKET_BAD, fd);
                                 if (!ec && !w->closed) self->arm(w, fd);
                               });
    }
  }

  void process(ares_socket_t read_fd, ares_socket_t write_fd) {
    ares_process_fd(channel_, read_fd, write_fd);
    after_calls();
  }

  // After every call into c-ares: cancel the queries nobody waits for any more, and arm the timer for the
  // next c-ares timeout (none when no query is left).
  void after_calls() {
    if (!channel_) return;
    if (!lookups_.empty() &&
        std::all_of(lookups_.begin(), lookups_.end(), [](const auto& e) { return e.second->delivered; })) {
      // Only AAAA queries outlived by their Resolution Delay are left; c-ares cancels per channel only,
      // which here cancels just them, and closes its idle sockets (else they would keep the context busy).
      ares_cancel(channel_);
    }
    timeval tv{};
    if (!ares_timeout(channel_, nullptr, &tv)) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || !self->channel_) return;
      self->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    });
  }

  void destroy_channel() {
    if (!channel_) return;
    ares_channel ch = channel_;
    ares_destroy(ch);  // calls back every outstanding query (ARES_EDESTRUCTION) and closes the sockets
    channel_ = nullptr;
    timer_.cancel();
    for (auto& [fd, w] : sockets_) {
      w->closed = true;
      if (w->descriptor.is_open()) w->descriptor.release();
    }
    sockets_.clear();
    lookups_.clear();
  }

  strand_type strand_;
  asio::steady_timer timer_;  // c-ares' next timeout
  std::chrono::milliseconds delay_;
  ares_channel channel_ = nullptr;
  bool dropping_ = false;  // in ~cares_core: nobody is left to call back
  std::unordered_map<ares_socket_t, std::shared_ptr<watched>> sockets_;
  std::unordered_map<cares_lookup*, std::shared_ptr<cares_lookup>> lookups_;  // while c-ares holds a query
};

}  // namespace detail

/// A resolver on c-ares (see the top of this file): AAAA and A in parallel, with their TTLs.
class cares_resolver final : public resolver {
 public:
  /// The settings type (cares_options).
  using options = cares_options;

  /// Creates the channel, driven on a strand of `ex`. A malformed options::servers or a failing c-ares
  /// makes every async_resolve fail (error::invalid_option, or host_not_found with the reason); status()
  /// tells it at once.
  explicit cares_resolver(const asio::any_io_executor& ex, const cares_options& o = {})
      : core_(std::make_shared<detail::cares_core>(ex, o)) {
    std::vector<asio::ip::udp::endpoint> servers;
    if (auto ec = parse_servers(o.servers, servers)) {
      status_ = ec;
      why_ = "malformed DNS server list '" + o.servers + "'";
      return;
    }
    status_ = core_->init(o, servers, why_);
  }

  ~cares_resolver() override {
    // The channel is the strand's: it is destroyed there, never while a handler of it runs elsewhere.
    const auto strand = core_->strand();
    asio::post(strand, [core = std::move(core_)] { core->shutdown(); });
  }

  cares_resolver(const cares_resolver&) = delete;
  cares_resolver& operator=(const cares_resolver&) = delete;

  /// Why every lookup fails, or nothing: error::invalid_option (the server list), host_not_found (c-ares).
  std::error_code status() const noexcept { return status_; }

  void async_resolve(const asio::any_io_executor& ex, const std::string& host, std::uint16_t /*port*/,
                     callback done) override {
    std::error_code parse_ec;
    const auto literal = asio::ip::make_address(host, parse_ec);
    if (!parse_ec) {
      asio::post(ex, [done = std::move(done), literal] { done({}, resolution{address_list{literal}, std::nullopt, {}}); });
      return;
    }
    if (system_resolver::is_invalid_name(host)) {
      // RFC 6761 section 6.4: resolution APIs answer names under .invalid negatively, at once.
      asio::post(ex, [done = std::move(done)] {
        done(error::host_not_found, resolution{{}, std::nullopt, "a name under .invalid"});
      });
      return;
    }
    if (status_) {
      asio::post(ex, [done = std::move(done), ec = status_, why = why_] { done(ec, resolution{{}, std::nullopt, why}); });
      return;
    }
    auto l = std::make_shared<detail::cares_lookup>(ex, std::move(done), host);
    asio::post(core_->strand(), [core = core_, l] { core->start(l); });
  }

  /// Parses curl's --dns-servers syntax ("ADDR[:PORT][,ADDR[:PORT]...]", "[V6]:PORT"; port 53 when none)
  /// into `out`. Empty text is no list (the system's servers). error::invalid_option when malformed.
  static std::error_code parse_servers(std::string_view text, std::vector<asio::ip::udp::endpoint>& out) {
    out.clear();
    if (text.empty()) return {};
    while (true) {
      const auto comma = text.find(',');
      const std::string_view one = text.substr(0, comma);
      std::string_view addr = one, port;
      if (!one.empty() && one.front() == '[') {
        const auto close = one.find(']');
        if (close == std::string_view::npos) return error::invalid_option;
        addr = one.substr(1, close - 1);
        const auto rest = one.substr(close + 1);
        if (!rest.empty()) {
          if (rest.front() != ':') return error::invalid_option;
          port = rest.substr(1);
          if (port.empty()) return error::invalid_option;
        }
        if (addr.find(':') == std::string_view::npos) return error::invalid_option;  // brackets are for IPv6
      } else if (one.find(':') != one.rfind(':')) {
        addr = one;  // a bare IPv6 address, no port
      } else if (const auto colon = one.find(':'); colon != std::string_view::npos) {
        addr = one.substr(0, colon);
        port = one.substr(colon + 1);
        if (port.empty()) return error::invalid_option;
      }
      std::error_code ec;
      const auto a = asio::ip::make_address(std::string(addr), ec);
      if (ec || addr.empty()) return error::invalid_option;
      unsigned p = 53;
      if (!port.empty()) {
        if (port.size() > 5) return error::invalid_option;
        p = 0;
        for (char c : port) {
          if (c < '0' || c > '9') return error::invalid_option;
          p = p * 10 + static_cast<unsigned>(c - '0');
        }
        if (p == 0 || p > 65535) return error::invalid_option;
      }
      out.emplace_back(a, static_cast<std::uint16_t>(p));
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
    return {};
  }

  /// Only whether `text` parses (h2get checks --dns-servers before it starts anything).
  static std::error_code parse_servers(std::string_view text) {
    std::vector<asio::ip::udp::endpoint> ignored;
    return parse_servers(text, ignored);
  }

 private:
  std::shared_ptr<detail::cares_core> core_;
  std::error_code status_;
  std::string why_;
};

}  // namespace h2coal
