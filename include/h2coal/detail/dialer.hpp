// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/dialer.hpp: establishment. Addresses -> a Happy Eyeballs race of TCP attempts -> [a
// proxy: its TLS, the tunnel] -> TLS -> ALPN, ending in one finished transport (DESIGN sections 11, 13).
//
// The dialer knows nothing of HTTP: it is told which ALPN protocols to offer and which to assume when a
// server picks none, and it hands the connected (and, for https, verified) transport to whoever asked.
// The pool wires it to a session; neither includes the other.
#pragma once

#include <h2coal/detail/transport.hpp>
#include <h2coal/detail/tunnel.hpp>
#include <h2coal/detail/unique_function.hpp>
#include <h2coal/error.hpp>
#include <h2coal/proxy.hpp>
#include <h2coal/resolver.hpp>
#include <h2coal/tls.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace h2coal::detail {

/// The proxy a connection goes through (DESIGN section 13); the race then runs to its addresses.
struct dial_proxy {
  proxy_scheme scheme = proxy_scheme::http;
  std::string host;                  ///< its name: the SNI and verified name of an https:// proxy
  std::uint16_t port = 0;
  std::string user, password;
  bool verify = true;                ///< an https:// proxy's certificate (curl --proxy-insecure: false)
  std::shared_ptr<asio::ssl::context> ctx;  ///< for an https:// proxy
  /// false: http:// through an HTTP proxy, absolute-form requests on the proxy connection, no CONNECT.
  bool tunnel = true;
  /// socks5 (not socks5h): the target's address, resolved by the client.
  std::optional<asio::ip::address> target_address;
  std::string display;               ///< scheme://host:port, for messages
};

/// Where to go and how. Plain data: the pool fills it from the client's options.
struct dial_target {
  std::string host;              ///< the SNI host and the name the certificate is verified for
  std::uint16_t port = 0;
  bool tls = false;
  bool verify = true;            ///< false: no verification at all (curl -k)
  address_list addresses;        ///< in the resolver's order (the proxy's, through one); the race interleaves the families
  /// The ALPN protocol a TLS server that agrees on none is taken to speak ("" : such a server is refused).
  std::string alpn_fallback;
  /// The only protocol acceptable ("" : any the context offered).
  std::string alpn_required;
  /// Sessions to resume from, and to keep the new ones in (null: full handshakes only).
  std::shared_ptr<tls_session_cache> sessions;
  /// Public-key pins checked against the leaf for `host` (null: none).
  const tls_options* pins = nullptr;
  /// Through this proxy (addresses are then the proxy's); direct when empty.
  std::optional<dial_proxy> proxy;
};

/// What the dialer hands over: the transport, where it went, and what TLS established.
struct dialed {
  std::unique_ptr<transport> link;
  asio::ip::tcp::endpoint remote;
  tls_result tls;                ///< alpn is the agreed (or fallback) protocol; empty without TLS
  std::chrono::steady_clock::time_point handshake_deadline;  ///< what is left of handshake_timeout
  // On failure too:
  std::string detail;            ///< what more is known than the error says (a proxy's answer)
  int proxy_status = 0;          ///< a proxy's refusal of CONNECT (its status)
};

/// What the dialer reports while it works (the pool turns these into trace events).
class dial_observer {
 public:
  virtual ~dial_observer() = default;
  /// Attempt `n` (1-based) to `remote` started.
  virtual void on_dial_attempt(std::uint64_t tag, const asio::ip::tcp::endpoint& remote, unsigned n) = 0;
  virtual void on_dial_attempt_failed(std::uint64_t tag, const asio::ip::tcp::endpoint& remote, std::error_code ec) = 0;
  /// TCP is up from `local` to `remote` (TLS, if any, comes next); the race's other attempts are closed.
  virtual void on_dial_connected(std::uint64_t tag, const asio::ip::tcp::endpoint& remote,
                                 const asio::ip::tcp::endpoint& local) = 0;
  /// The proxy opened the tunnel (`reply`: CONNECT's status or the SOCKS5 reply) after `us` microseconds
  /// (its TLS included), or refused it (`ec`).
  virtual void on_proxy_tunnel(std::uint64_t, int /*reply*/, std::int64_t /*us*/, std::error_code) {}
};

struct dial_timing {
  std::chrono::milliseconds connect_timeout{30000};   ///< the whole race
  std::chrono::milliseconds handshake_timeout{30000}; ///< TLS (the session keeps what is left for SETTINGS)
  std::chrono::milliseconds attempt_delay{250};       ///< RFC 8305 Connection Attempt Delay (floor 10 ms)
};

/// RFC 8305 section 4: the addresses in the order of attempts, the families interleaved, starting with
/// the family of the first address.
inline address_list interleave_families(const address_list& in) {
  if (in.empty()) return {};
  address_list first, other;
  const bool v6_first = in.front().is_v6();
  for (const auto& a : in) (a.is_v6() == v6_first ? first : other).push_back(a);
  address_list out;
  out.reserve(in.size());
  std::size_t i = 0, j = 0;
  while (i < first.size() || j < other.size()) {
    if (i < first.size()) out.push_back(first[i++]);
    if (j < other.size()) out.push_back(other[j++]);
  }
  return out;
}

class dialer final : public std::enable_shared_from_this<dialer> {
 public:
  using completion = unique_function<void(std::error_code, dialed)>;

  dialer(asio::any_io_executor ex, dial_timing timing, std::shared_ptr<asio::ssl::context> ctx,
         dial_observer* observer, std::uint64_t tag)
      : ex_(std::move(ex)), timing_(timing), ctx_(std::move(ctx)), observer_(observer), tag_(tag), timer_(ex_),
        step_timer_(ex_) {
    if (timing_.attempt_delay < std::chrono::milliseconds(10)) timing_.attempt_delay = std::chrono::milliseconds(10);
  }

  dialer(const dialer&) = delete;
  dialer& operator=(const dialer&) = delete;

  /// Starts the race; `done` is called once, later, unless cancel() comes first.
  void start(dial_target target, completion done) {
    target_ = std::move(target);
    done_ = std::move(done);
    order_ = interleave_families(target_.addresses);
    if (order_.empty()) return finish(error::host_not_found);
    arm(timing_.connect_timeout, error::connect_timeout);
    next_attempt();
  }

  /// Stops everything; the completion is not called.
  void cancel() {
    if (over_) return;
    over_ = true;
    done_ = completion{};
    close_attempts(nullptr);
    if (link_) link_->close();
    timer_.cancel();
    step_timer_.cancel();
  }

  bool over() const noexcept { return over_; }
  /// Sockets of the race still open besides the winner (none once it is decided).
  std::size_t open_attempts() const noexcept {
    return static_cast<std::size_t>(std::count_if(attempts_.begin(), attempts_.end(), [](const attempt& a) { return a.link != nullptr; }));
  }

 private:
  struct attempt {
    std::unique_ptr<transport> link;
    asio::ip::tcp::endpoint remote;
    bool pending = true;
  };

  // ---- The race (RFC 8305 section 5) ----
  // The next address is tried when the Connection Attempt Delay passed since the last attempt started,
  // or at once when every attempt started so far has failed. The first to connect wins.
  void next_attempt() {
    if (over_ || next_ >= order_.size()) return;
    auto& a = attempts_.emplace_back();
    a.link = std::make_unique<transport>(ex_);
    a.remote = asio::ip::tcp::endpoint(order_[next_], target_.proxy ? target_.proxy->port : target_.port);
    const std::size_t index = attempts_.size() - 1;
    ++next_;
    if (observer_) observer_->on_dial_attempt(tag_, a.remote, static_cast<unsigned>(index + 1));
    a.link->socket().async_connect(a.remote, [self = shared_from_this(), index](std::error_code ec) {
      self->on_connect(index, ec);
    });
    if (next_ < order_.size()) {
      step_timer_.expires_after(timing_.attempt_delay);
      step_timer_.async_wait([self = shared_from_this(), gen = ++step_gen_](std::error_code ec) {
        if (!ec && gen == self->step_gen_ && !self->link_) self->next_attempt();
      });
    }
  }

  void on_connect(std::size_t index, std::error_code ec) {
    if (over_ || link_) return;  // the race ended (cancelled, timed out, or won by another attempt)
    auto& a = attempts_[index];
    a.pending = false;
    if (ec) {
      if (ec != asio::error::connection_refused) all_refused_ = false;
      if (observer_) observer_->on_dial_attempt_failed(tag_, a.remote, ec);
      a.link.reset();
      if (std::none_of(attempts_.begin(), attempts_.end(), [](const attempt& x) { return x.pending; })) {
        if (next_ >= order_.size()) {
          if (target_.proxy) return finish(all_refused_ ? error::proxy_refused : error::proxy_connect_failed);
          return finish(all_refused_ ? error::connection_refused : error::connect_failed);
        }
        ++step_gen_;  // the delay is void: the next address goes now
        step_timer_.cancel();
        next_attempt();
      }
      return;
    }
    link_ = std::move(a.link);
    result_.remote = a.remote;
    step_timer_.cancel();
    close_attempts(link_.get());
    std::error_code ignore;
    link_->socket().set_option(asio::ip::tcp::no_delay(true), ignore);
    const auto local = link_->socket().local_endpoint(ignore);
    if (observer_) observer_->on_dial_connected(tag_, result_.remote, local);
    if (over_) return;  // the observer cancelled
    if (!link_->start(nullptr)) return finish(error::connect_failed);
    after_tcp();
  }

  void close_attempts(const transport* keep) {
    for (auto& a : attempts_)
      if (a.link && a.link.get() != keep) {
        a.link->close();
        a.link.reset();
      }
  }

  // ---- The proxy (DESIGN section 13): its TLS for an https:// proxy, then the tunnel ----
  void after_tcp() {
    if (!target_.proxy) return start_tls();
    auto& p = *target_.proxy;
    tunnel_started_ = std::chrono::steady_clock::now();
    arm(timing_.handshake_timeout, error::proxy_timeout);
    if (p.scheme == proxy_scheme::https) {
      if (!p.ctx || !link_->add_tls(p.ctx->native_handle()) || !prepare_ssl(link_->ssl(), p.host, p.verify)) {
        return finish(error::proxy_tls_failed);
      }
      return proxy_handshake();
    }
    open_tunnel();
  }

  void proxy_handshake() {
    transport::want w{};
    std::error_code ec;
    if (link_->handshake(w, ec)) return open_tunnel();
    if (ec) {
      const long vr = SSL_get_verify_result(link_->ssl());
      result_.detail = "TLS with the proxy " + target_.proxy->display + " failed" +
                       (target_.proxy->verify && vr != X509_V_OK ? std::string(": ") + X509_verify_cert_error_string(vr) : std::string{});
      return finish(error::proxy_tls_failed);
    }
    link_->async_wait(w, [self = shared_from_this()](std::error_code wait_ec) {
      if (self->over_) return;
      if (wait_ec) return self->finish(error::proxy_tls_failed);
      self->proxy_handshake();
    });
  }

  void open_tunnel() {
    auto& p = *target_.proxy;
    if (!p.tunnel) return tunnel_open();  // absolute-form requests go to the proxy itself
    if (p.scheme == proxy_scheme::socks5 || p.scheme == proxy_scheme::socks5h) {
      tunnel_ = std::make_unique<socks5_connect>(target_.host, target_.port,
                                                 p.scheme == proxy_scheme::socks5 ? p.target_address : std::nullopt,
                                                 p.user, p.password);
    } else {
      tunnel_ = std::make_unique<http_connect>(target_.host, target_.port,
                                               p.user.empty() ? std::string{} : basic_credentials(p.user, p.password));
    }
    out_ = tunnel_->take_output();
    out_sent_ = 0;
    tunnel_write();
  }

  // Sends what the tunnel protocol gave, then reads its answer; as often as the protocol has more to say.
  void tunnel_write() {
    while (out_sent_ < out_.size()) {
      transport::want w{};
      std::error_code ec;
      const std::size_t n = link_->write_some(out_.data() + out_sent_, out_.size() - out_sent_, w, ec);
      if (ec) return tunnel_failed(error::proxy_connect_failed, "the connection to the proxy failed: " + ec.message());
      if (n == 0) {
        link_->async_wait(w, [self = shared_from_this()](std::error_code wait_ec) {
          if (self->over_) return;
          if (wait_ec) return self->finish(error::proxy_connect_failed);
          self->tunnel_write();
        });
        return;
      }
      out_sent_ += n;
    }
    out_.clear();
    out_sent_ = 0;
    tunnel_read();
  }

  void tunnel_read() {
    char buf[4096];
    for (;;) {
      transport::want w{};
      std::error_code ec;
      const std::size_t limit = std::min(sizeof buf, tunnel_->read_limit());
      const std::size_t n = link_->read_some(buf, limit, w, ec);
      if (ec == asio::error::eof) {
        tunnel_->closed();
        return tunnel_failed(tunnel_->error(), tunnel_->detail());
      }
      if (ec) return tunnel_failed(error::proxy_connect_failed, "the connection to the proxy failed: " + ec.message());
      if (n == 0) {
        link_->async_wait(w, [self = shared_from_this()](std::error_code wait_ec) {
          if (self->over_) return;
          if (wait_ec) return self->finish(error::proxy_connect_failed);
          self->tunnel_read();
        });
        return;
      }
      switch (tunnel_->feed(std::string_view(buf, n))) {
        case tunnel_protocol::status::more:
          if (out_ = tunnel_->take_output(); !out_.empty()) return tunnel_write();
          continue;
        case tunnel_protocol::status::open: return tunnel_open();
        case tunnel_protocol::status::failed:
          if (tunnel_->error() == error::proxy_tunnel_failed || tunnel_->error() == error::proxy_auth_required)
            result_.proxy_status = tunnel_->reply();
          return tunnel_failed(tunnel_->error(), tunnel_->detail());
      }
    }
  }

  void tunnel_failed(std::error_code ec, std::string detail) {
    result_.detail = std::move(detail);
    if (observer_) observer_->on_proxy_tunnel(tag_, tunnel_ ? tunnel_->reply() : -1, tunnel_us(), ec);
    finish(ec);
  }

  void tunnel_open() {
    if (observer_ && tunnel_) observer_->on_proxy_tunnel(tag_, tunnel_->reply(), tunnel_us(), {});
    tunnel_.reset();
    if (over_) return;
    start_tls();
  }

  std::int64_t tunnel_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - tunnel_started_).count();
  }

  // ---- TLS and ALPN ----
  void start_tls() {
    result_.handshake_deadline = std::chrono::steady_clock::now() + timing_.handshake_timeout;
    if (!target_.tls) return finish({});
    if (!link_->add_tls(ctx_->native_handle())) return finish(error::tls_handshake_failed);
    if (!prepare_ssl(link_->ssl(), target_.host, target_.verify)) return finish(error::tls_handshake_failed);
    if (target_.sessions) target_.sessions->offer(link_->ssl(), target_.host, target_.port);
    arm(timing_.handshake_timeout, error::tls_handshake_timeout);
    handshake();
  }

  void handshake() {
    transport::want w{};
    std::error_code ec;
    if (link_->handshake(w, ec)) return after_handshake({});
    if (ec) return after_handshake(ec);
    link_->async_wait(w, [self = shared_from_this()](std::error_code wait_ec) {
      if (self->over_) return;
      if (wait_ec) return self->finish(error::tls_handshake_failed);
      self->handshake();
    });
  }

  void after_handshake(std::error_code ec) {
    if (ec) {
      long vr = SSL_get_verify_result(link_->ssl());
      if (target_.verify && vr != X509_V_OK) return finish(verify_error(vr));
      // RFC 7301 section 3.2: a server that speaks none of the offered protocols answers with the
      // no_application_protocol alert (nginx and Caddy do, to an h2-only offer).
      if (ec.category() == asio::error::get_ssl_category() &&
          ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL)
        return finish(error::alpn_mismatch);
      return finish(error::tls_handshake_failed);
    }
    result_.tls = read_tls_result(link_->ssl(), target_.verify);
    // The leaf's key must be one pinned for the SNI host, if any is (resumed sessions too).
    if (target_.pins && !pins_allow(*target_.pins, result_.tls.leaf.get(), target_.host))
      return finish(error::public_key_mismatch);
    auto& alpn = result_.tls.alpn;
    if (alpn.empty()) {
      if (!target_.alpn_required.empty() || target_.alpn_fallback.empty()) return finish(error::alpn_mismatch);
      alpn = target_.alpn_fallback;
    }
    if (!target_.alpn_required.empty() && alpn != target_.alpn_required) return finish(error::alpn_mismatch);
    finish({});
  }

  // ---- The end ----
  void arm(std::chrono::milliseconds d, error e) {
    if (d.count() <= 0) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), e, gen = ++timer_gen_](std::error_code ec) {
      if (!ec && gen == self->timer_gen_ && !self->over_) self->finish(e);
    });
  }

  void finish(std::error_code ec) {
    if (over_) return;
    over_ = true;
    timer_.cancel();
    step_timer_.cancel();
    close_attempts(nullptr);
    if (ec && link_) link_->close();
    if (!ec) result_.link = std::move(link_);
    link_.reset();
    if (!done_) return;
    auto done = std::move(done_);
    done_ = completion{};
    done(ec, std::move(result_));
  }

  asio::any_io_executor ex_;
  dial_timing timing_;
  std::shared_ptr<asio::ssl::context> ctx_;
  dial_observer* observer_;
  std::uint64_t tag_;
  asio::steady_timer timer_;       // connect_timeout over the race, then handshake_timeout
  asio::steady_timer step_timer_;  // the Connection Attempt Delay
  std::uint64_t timer_gen_ = 0;
  std::uint64_t step_gen_ = 0;
  dial_target target_;
  completion done_;
  address_list order_;
  std::size_t next_ = 0;
  std::vector<attempt> attempts_;
  bool all_refused_ = true;
  bool over_ = false;
  std::unique_ptr<transport> link_;  // the winner
  dialed result_;
  std::unique_ptr<tunnel_protocol> tunnel_;  // while the proxy's handshake runs
  std::string out_;                          // what it sends
  std::size_t out_sent_ = 0;
  std::chrono::steady_clock::time_point tunnel_started_;
};

}  // namespace h2coal::detail
