// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/session.hpp: a ready transport (TCP, optionally TLS) pumped by an engine, carrying HTTP/2
// streams or HTTP/1.1 requests. It takes the transport the dialer finished (it knows no addresses, no
// attempts, no handshakes), owns it from then on, and pumps the I/O-free engines; it decides nothing
// about reuse (that is the pool's and the policy's business) and reports what happens to its owner.
// Until the transport arrives it holds the requests queued for it.
#pragma once

#include <h2coal/detail/h1_engine.hpp>
#include <h2coal/detail/h2_engine.hpp>
#include <h2coal/detail/request_op.hpp>
#include <h2coal/detail/transport.hpp>
#include <h2coal/options.hpp>
#include <h2coal/tls.hpp>
#include <h2coal/url.hpp>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace h2coal::detail {

class session;

/// What a session tells the pool that owns it. All calls come on the client's executor.
class session_owner {
 public:
  virtual ~session_owner() = default;
  virtual void on_connection_ready(session& c) = 0;
  /// Before it became ready: `queued` requests never reached the server.
  virtual void on_connection_failed(session& c, std::error_code ec) = 0;
  virtual void on_connection_closed(session& c, std::string_view reason) = 0;
  virtual void on_connection_goaway(session& c, std::int32_t last_stream_id, std::uint32_t code) = 0;
  virtual void on_connection_origin(session& c, std::int32_t stream, std::uint8_t flags,
                                    std::vector<std::string> entries) = 0;
  /// It can take another request (an HTTP/1.1 connection became idle, an HTTP/2 stream closed).
  virtual void on_connection_available(session& c) = 0;
  virtual void on_request_sent(request_op& op, session& c) = 0;
  /// The attempt ended: a response (any status, 421 included) or an error.
  virtual void on_request_done(std::shared_ptr<request_op> op, std::error_code ec) = 0;
  /// The server did not process it (GOAWAY, REFUSED_STREAM, a stale keep-alive connection): try again.
  virtual void on_request_unprocessed(std::shared_ptr<request_op> op, std::string_view reason) = 0;
  /// The server acknowledged the health check's PING after `rtt` (DESIGN section 14).
  virtual void on_connection_ping(session& /*c*/, std::chrono::microseconds /*rtt*/) {}
};

namespace testing {
/// Tests only: the stream id the first request of every new HTTP/2 connection gets (0: nghttp2's own,
/// 1). Near 2^31 it lets a test reach the end of the stream id space in a few requests.
inline std::atomic<std::int32_t> first_stream_id{0};
}  // namespace testing

class session : public std::enable_shared_from_this<session>, h2_listener, h1_listener {
 public:
  enum class protocol { unknown, h2, http1 };
  /// pending: the transport is not here yet (the dialer works); settings: HTTP/2 waits for the server's
  /// first SETTINGS.
  enum class state { pending, settings, ready, closed };

  session(asio::any_io_executor ex, session_owner& owner, const client_options& opts, std::uint64_t id,
          h2coal::origin o)
      : ex_(ex), owner_(&owner), opts_(opts), id_(id), origin_(std::move(o)), timer_(ex) {}

  session(const session&) = delete;
  session& operator=(const session&) = delete;
  virtual ~session() = default;

  // ---- What the pool reads (plain facts) ----
  std::uint64_t id() const noexcept { return id_; }
  const h2coal::origin& initial_origin() const noexcept { return origin_; }
  state current_state() const noexcept { return state_; }
  protocol proto() const noexcept { return proto_; }
  bool ready() const noexcept { return state_ == state::ready; }
  bool closed() const noexcept { return state_ == state::closed; }
  /// Takes no new request: GOAWAY either way, retired (max age or requests, shutdown), or closed; or the
  /// requests it has are all it may still carry (max_requests_per_connection).
  bool draining() const noexcept {
    return draining_ || state_ == state::closed ||
           (opts_.max_requests_per_connection && requests_ + queue_.size() >= opts_.max_requests_per_connection);
  }
  bool tls() const noexcept { return origin_.is_tls(); }
  const tls_result& tls_info() const noexcept { return tls_; }
  std::size_t active() const noexcept { return proto_ == protocol::h2 ? streams_.size() : (current_ ? 1 : 0); }
  std::size_t queued() const noexcept { return queue_.size(); }
  std::uint64_t requests_carried() const noexcept { return requests_; }
  std::uint32_t max_concurrent_streams() const {
    if (proto_ != protocol::h2 || !h2_) return 1;
    return h2_->peer_max_concurrent_streams();
  }
  bool at_capacity() const { return active() + queue_.size() >= max_concurrent_streams(); }
  bool idle() const noexcept { return active() == 0 && queue_.empty(); }
  /// Origins that got 421 on this connection (RFC 9110 section 15.5.20).
  std::vector<h2coal::origin>& misdirected() noexcept { return misdirected_; }
  /// Whether this connection answered 421 for `o`.
  bool misdirected_for(const h2coal::origin& o) const {
    return std::find(misdirected_.begin(), misdirected_.end(), o) != misdirected_.end();
  }
  /// RFC 8336 origin set; nullopt until the first valid ORIGIN frame.
  std::optional<std::vector<h2coal::origin>>& origin_set() noexcept { return origin_set_; }
  std::uint64_t last_used() const noexcept { return last_used_; }
  /// Opened for a 421 retry (RFC 9110 section 15.5.20): a connection of the origin's own, never redundant.
  bool dedicated() const noexcept { return dedicated_; }
  void set_dedicated() noexcept { dedicated_ = true; }

  /// Whether this connection's verified leaf certificate covers `host` (cached per host).
  bool covers(const std::string& host) {
    if (!tls_.verified || !tls_.leaf) return false;
    auto it = covers_cache_.find(host);
    if (it != covers_cache_.end()) return it->second;
    bool c = certificate_covers(tls_.leaf.get(), host);
    // Bounded small: a pool that checks every ready connection on an address against each new one
    // (redundant()) asks each about every host there, and 1,024 answers a connection cost up to ~70 KiB
    // of it when idle (36 KiB at 1,000 origins on one address); the hot path asks about a few hosts.
    if (covers_cache_.size() < 32) covers_cache_.emplace(host, c);
    return c;
  }

  // ---- Starting ----
  /// Takes the finished transport: `p` was agreed (ALPN, or the client's choice without TLS), `tls` is what
  /// the handshake established; HTTP/2 waits for the server's SETTINGS until `settings_deadline`.
  void begin(std::unique_ptr<transport> link, tls_result tls, protocol p,
             std::chrono::steady_clock::time_point settings_deadline) {
    if (state_ == state::closed) {
      link->close();
      return;
    }
    transport_ = std::move(link);
    tls_ = std::move(tls);
    settings_deadline_ = settings_deadline;
    begin_protocol(p);
  }

  /// Gives up before the connection was established (resolving or dialing failed); `detail` and a
  /// proxy's refusal status go to the waiting requests' responses.
  void fail(std::error_code ec, std::string_view detail = {}, int proxy_status = 0) {
    if (state_ == state::closed) return;
    for (auto& op : queue_) {
      if (!detail.empty()) op->resp.error_detail = std::string(detail);
      op->resp.proxy_status = proxy_status;
    }
    fail_setup(ec);
  }

  /// Stops a connection still being set up (a network change: its dial or handshake runs on the old
  /// network). It closes with `reason`; what waited for it is handed back, to be routed again.
  std::deque<std::shared_ptr<request_op>> abort_setup(std::string_view reason) {
    std::deque<std::shared_ptr<request_op>> waiting;
    if (state_ == state::ready || state_ == state::closed) return waiting;
    waiting.swap(queue_);
    for (auto& op : waiting) op->conn.reset();
    close(reason, error::connection_closed);
    return waiting;
  }

  /// HTTP/1.1 requests go to a forward proxy, in absolute form (RFC 9112 section 3.2.2), with its
  /// credentials when it has any (DESIGN section 13).
  void use_absolute_form(std::string proxy_authorization) {
    absolute_form_ = true;
    proxy_authorization_ = std::move(proxy_authorization);
  }

  // ---- Requests ----
  /// Queues `op` here; it is sent as soon as the connection is ready and has room.
  void submit(std::shared_ptr<request_op> op) {
    op->conn = weak_from_this();
    queue_.push_back(std::move(op));
    if (state_ == state::ready) pump_queue();
  }

  /// Preconnects (client::async_preconnect) ask for a usable connection, not a stream: once this one is
  /// ready they complete, and they never occupy it.
  void complete_preconnects() {
    if (state_ != state::ready || draining_) return;
    // Taken out of the queue first: a completion may queue more here (or close this connection).
    std::vector<std::shared_ptr<request_op>> done;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->preconnect) {
        done.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    if (done.empty()) return;
    for (auto& op : done) {
      op->conn.reset();
      op->resp.connection = id_;
      op->resp.http_version = proto_ == protocol::h2 ? "2" : "1.1";
    }
    for (auto& op : done) {
      if (owner_) owner_->on_request_done(op, {});
      else break;
    }
    if (state_ == state::ready && idle()) {
      arm_idle();
      if (owner_) owner_->on_connection_available(*this);
    }
  }

  /// Removes `op` from this connection: reset its stream (HTTP/2) or close (HTTP/1.1 mid-response).
  void abandon(request_op& op) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->get() == &op) {
        queue_.erase(it);
        return;
      }
    if (proto_ == protocol::h2 && op.stream > 0) {
      forget_last_stream();
      if (end_stream_here(op)) {
        flush();
        schedule_after_io();
      }
    } else if (current_.get() == &op) {
      current_.reset();
      close("request abandoned mid-response");
    }
  }

  /// Closes now; requests still here are reported to the owner as failed with `ec`.
  void close(std::string_view reason, std::error_code ec = error::connection_closed) {
    if (state_ == state::closed) return;
    bool was_ready = state_ == state::ready;
    state_ = state::closed;
    timer_.cancel();
    if (health_timer_) health_timer_->cancel();
    if (age_timer_) age_timer_->cancel();
    if (transport_) transport_->close();
    fail_all(ec, was_ready);
    if (owner_) {
      if (was_ready) owner_->on_connection_closed(*this, reason);
      else owner_->on_connection_failed(*this, ec);
    }
  }

  /// Takes no new request, finishes those it carries, then closes (DESIGN section 14): HTTP/2 sends
  /// GOAWAY(NO_ERROR) now and closes once its streams are over; HTTP/1.1 closes after its response.
  /// Requests still queued here go back to the owner. `reason` is the close's reason in the trace.
  void retire(std::string_view reason) {
    if (state_ != state::ready || retired_) return;  // still establishing: new, nothing to retire
    retired_ = true;
    if (!draining_ || close_reason_.empty()) close_reason_ = std::string(reason);
    draining_ = true;
    if (proto_ == protocol::h2) {
      // May run inside nghttp2's callbacks (a request submitted there). nghttp2 would send a GOAWAY
      // before the HEADERS of streams submitted just now (it writes control frames first), and a server
      // that answers a GOAWAY with its own, as Go's does, would then refuse them. So the GOAWAY goes on
      // the next flush, behind what is queued; after_io hands the queued requests back, writes, and
      // closes once nghttp2 has no stream left.
      if (!goaway_seen_) goaway_due_ = true;
      schedule_after_io();
      return;
    }
    auto rest = std::move(queue_);
    queue_.clear();
    for (auto& o : rest) {
      o->conn.reset();
      if (owner_) owner_->on_request_unprocessed(o, close_reason_);
    }
    if (state_ == state::ready && !current_) close(close_reason_);
  }

  /// Graceful close: GOAWAY (HTTP/2) then close once written.
  void shutdown(std::string_view reason) {
    if (state_ != state::ready || proto_ != protocol::h2) return close(reason);
    draining_ = true;
    close_reason_ = std::string(reason);
    h2_->terminate();
    flush();
  }

  /// The owner is going away: no more callbacks.
  void detach() { owner_ = nullptr; }

 private:
  void arm_idle() {
    arm_timer(opts_.idle_timeout, error::connection_closed);
    idle_armed_ = true;
  }

  // The timer stops and a wait already queued is void (its generation is old).
  void disarm_timer() {
    timer_.cancel();
    ++timer_gen_;
    idle_armed_ = false;
  }

  void arm_timer(std::chrono::milliseconds d, error e) {
    idle_armed_ = false;
    if (d.count() <= 0) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), e, gen = ++timer_gen_](std::error_code ec) {
      if (ec || gen != self->timer_gen_ || self->state_ == state::closed) return;
      if (self->state_ == state::ready) {
        if (self->idle()) self->shutdown("idle");
        else if (self->starved()) self->fail_starved();
        return;
      }
      self->fail_setup(e);
    });
  }

  void begin_protocol(protocol p) {
    proto_ = p;
    if (p == protocol::h2) {
      state_ = state::settings;
      h2_settings s;
      s.stream_window = opts_.stream_window;
      s.connection_window = opts_.connection_window;
      s.max_header_list_size = static_cast<std::uint32_t>(opts_.max_header_list_size);
      h2_ = std::make_unique<h2_engine>(static_cast<h2_listener&>(*this), s);
      if (auto first = testing::first_stream_id.load(); first > 0) h2_->set_next_stream_id(first);
      // What is left of handshake_timeout runs until the server's SETTINGS arrive (on_h2_settings).
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(settings_deadline_ - std::chrono::steady_clock::now());
      if (opts_.handshake_timeout.count() > 0) arm_timer(std::max(left, std::chrono::milliseconds(1)), error::tls_handshake_timeout);
      flush();
      read_loop();
    } else {
      h1_ = std::make_unique<h1_engine>(static_cast<h1_listener&>(*this), opts_.max_header_list_size);
      become_ready();
      read_loop();
    }
  }

  void become_ready() {
    state_ = state::ready;
    disarm_timer();
    start_lifecycle_timers();
    if (owner_) owner_->on_connection_ready(*this);
    if (state_ == state::ready) pump_queue();
  }

  // ---- Lifecycle (DESIGN section 14) ----
  void start_lifecycle_timers() {
    if (opts_.max_connection_age.count() > 0) {
      age_timer_ = std::make_unique<asio::steady_timer>(ex_, opts_.max_connection_age);
      age_timer_->async_wait([w = weak_from_this()](std::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->retire("max-age");
      });
    }
    if (proto_ == protocol::h2 && opts_.read_idle_timeout.count() > 0) {
      health_timer_ = std::make_unique<asio::steady_timer>(ex_);
      last_received_ = tick();
      arm_health(opts_.read_idle_timeout);
    }
  }

  template <class Duration>
  void arm_health(Duration d) {
    health_timer_->expires_after(d);
    health_timer_->async_wait([w = weak_from_this(), gen = ++health_gen_](std::error_code ec) {
      auto self = w.lock();
      if (!self || ec || gen != self->health_gen_ || self->state_ != state::ready) return;
      self->check_health();
    });
  }

  // Go's ReadIdleTimeout: nothing received for read_idle_timeout sends a PING; no ACK within ping_timeout
  // and the connection is dead. One PING in flight at most, whatever the server does.
  void check_health() {
    const auto now = std::chrono::steady_clock::now();
    if (ping_opaque_ != 0) {
      // Waited ping_timeout for the ACK: what was not answered here moves on (fail_all).
      return close("ping-timeout", error::connection_dead);
    }
    const auto received = std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(
        static_cast<std::chrono::steady_clock::rep>(last_received_)));
    if (now - received < opts_.read_idle_timeout) return arm_health(opts_.read_idle_timeout - (now - received));
    ping_opaque_ = (static_cast<std::uint64_t>(id_) << 32) | (++health_gen_ & 0xffffffffu) | 1u;
    ping_sent_ = now;
    h2_->ping(ping_opaque_);
    flush();
    if (state_ == state::ready) arm_health(std::max(opts_.ping_timeout, std::chrono::milliseconds(1)));
  }

  void on_h2_ping_ack(std::uint64_t opaque) override {
    if (ping_opaque_ == 0 || opaque != ping_opaque_ || state_ != state::ready) return;  // not ours, or late: ignored
    ping_opaque_ = 0;
    const auto now = std::chrono::steady_clock::now();
    const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(now - ping_sent_);
    arm_health(opts_.read_idle_timeout);  // this read was the last one
    if (owner_) owner_->on_connection_ping(*this, rtt);
  }

  void fail_setup(std::error_code ec) {
    if (state_ == state::closed) return;
    close("setup failed", ec);
  }

  void fail_all(std::error_code ec, bool was_ready) {
    auto queue = std::move(queue_);
    queue_.clear();
    std::vector<std::shared_ptr<request_op>> active;
    for (auto& [sid, op] : streams_) active.push_back(op);
    streams_.clear();
    forget_last_stream();
    if (current_) active.push_back(std::move(current_));
    current_.reset();
    if (!owner_) return;
    // Requests that never left: the pool routes them again (or fails them when setup failed).
    for (auto& op : queue) {
      op->conn.reset();
      if (!was_ready) owner_->on_request_done(op, ec);  // the connection never came up: its error is theirs
      else owner_->on_request_unprocessed(op, "connection-closed");
    }
    for (auto& op : active) {
      op->conn.reset();
      if (ec == error::connection_dead && !op->response_started && op->req.retryable_after_close()) {
        // The health check found the connection dead (DESIGN section 14): no byte of the response came,
        // and the request may be sent twice, so it goes on elsewhere.
        owner_->on_request_unprocessed(op, "ping-timeout");
        continue;
      }
      if (h1_ && !op->response_started && (!op->sent || requests_ > 1) && ec == error::connection_closed) {
        // A write to a kept-alive connection the server had closed: as a close before the response
        // (on_eof), the pool decides whether it may go again.
        owner_->on_request_unprocessed(op, op->sent ? "stale-connection" : "connection-closed");
        continue;
      }
      owner_->on_request_done(op, ec);
    }
  }

  // ---- I/O pump ----
  // Reads land in one buffer per thread: a waiting connection holds no read buffer, and the engines copy
  // what they keep before the buffer is used again. A read that starts while that buffer is in use (a
  // body sink that runs the executor itself) gets a buffer of its own.
  static constexpr std::size_t read_chunk = 64 * 1024;
  struct read_scratch {
    std::array<char, read_chunk> bytes;
    bool busy = false;
  };
  static read_scratch& scratch() {
    static thread_local read_scratch s;
    return s;
  }

  void read_loop() {
    if (read_pending_) return;
    do_read();
  }

  // Reads until the socket has nothing more, then waits for it to be readable; after a few full buffers
  // it goes on in a later turn of the executor, so one busy connection does not starve the others.
  void do_read() {
    if (state_ == state::closed || h1_paused_) return;
    auto& sc = scratch();
    std::unique_ptr<std::array<char, read_chunk>> own;
    char* buf = sc.bytes.data();
    if (sc.busy) {
      own = std::make_unique<std::array<char, read_chunk>>();
      buf = own->data();
    } else {
      sc.busy = true;
    }
    struct release {
      read_scratch* s;
      ~release() {
        if (s) s->busy = false;
      }
    } rel{own ? nullptr : &sc};
    for (int round = 0; round < 8; ++round) {
      std::size_t n = 0;
      transport::want w = transport::want::nothing;
      std::error_code ec;
      while (n < read_chunk) {
        std::size_t got = transport_->read_some(buf + n, read_chunk - n, w, ec);
        if (got == 0) break;
        n += got;
      }
      if (n > 0 && !on_bytes(buf, n)) return;
      if (h1_paused_) return;  // resume_h1() reads on (and meets the end of the stream again, if it came)
      if (ec) return on_eof(ec);
      if (w != transport::want::nothing) {
        read_pending_ = true;
        transport_->async_wait(w, [self = shared_from_this()](std::error_code wait_ec) {
          self->read_pending_ = false;
          if (self->state_ == state::closed) return;
          if (wait_ec) return self->on_eof(wait_ec);
          self->do_read();
        });
        return;
      }
    }
    read_pending_ = true;
    asio::post(ex_, [self = shared_from_this()] {
      self->read_pending_ = false;
      self->do_read();
    });
  }

  // Hands `n` bytes to the engine; false once the connection closed.
  bool on_bytes(const char* data, std::size_t n) {
    last_used_ = tick();
    last_received_ = last_used_;
    if (proto_ == protocol::h2) {
      if (auto e = h2_->feed(reinterpret_cast<const std::uint8_t*>(data), n)) {
        flush();
        close("protocol error", e);
        return false;
      }
      after_io();
      return state_ != state::closed;
    }
    std::size_t off = 0;
    // A parser paused on the last byte of its input (a sink paused on the end of a Content-Length body)
    // goes on with no byte: llhttp then runs what follows, the end of the message.
    bool resume_empty = n == 0 && h1_->paused();
    while ((off < n || resume_empty) && state_ != state::closed) {
      resume_empty = false;
      if (!current_) {
        // Bytes with no request outstanding: the server broke framing (or closes, which on_eof handles).
        close("unexpected data", error::protocol_error);
        return false;
      }
      current_->response_started = true;
      current_->first_byte();
      std::size_t used = 0;
      auto e = h1_->feed(data + off, n - off, used);
      off += used;
      if (e) {
        auto op = std::move(current_);
        current_.reset();
        if (op) finish_h1(op, e, false);
        close("protocol error", e);
        return false;
      }
      if (state_ == state::closed) return false;  // a sink closed the client
      if (h1_->paused()) {
        h1_held_.assign(data + off, n - off);  // at most one read: the socket waits for the resume
        return true;
      }
      if (h1_->complete()) {
        auto op = std::move(current_);
        current_.reset();
        // DESIGN section 10: back to the pool only when the request was written whole, the response read
        // whole, and both sides allow keep-alive. A server that answered before the body was all sent
        // (401, 413, an early 200) leaves a connection whose next bytes would belong to the old body.
        const bool written = op->body_done;
        bool keep = h1_->keep_alive() && off == n && written;
        finish_h1(op, {}, keep);
        if (!keep) {
          close(written ? "not keep-alive" : "response before request end");
          return false;
        }
      } else {
        break;
      }
    }
    return state_ != state::closed;
  }

  void on_eof(std::error_code ec) {
    if (proto_ == protocol::http1 && current_) {
      auto e = h1_->finish();
      auto op = std::move(current_);
      current_.reset();
      if (!e) {
        finish_h1(op, {}, false);
      } else if (!op->response_started && requests_ > 1) {
        // A kept-alive connection closed with no byte of the response: the server may have closed it idle
        // before the request arrived, or read the request and then died. The pool sends it again only when
        // that is safe (RFC 9110 section 9.2.2, RFC 9112 section 9.3.1). Once a byte arrived, never.
        op->conn.reset();
        if (owner_) owner_->on_request_unprocessed(op, "stale-connection");
      } else {
        op->conn.reset();
        if (owner_) owner_->on_request_done(op, error::connection_closed);
      }
      return close(ec == asio::error::eof ? "closed by server" : "read error");
    }
    if (state_ != state::ready && state_ != state::closed) return fail_setup(error::connection_closed);
    close(draining_ ? (close_reason_.empty() ? "goaway" : close_reason_) : "closed by server", closing_error());
  }

  // Why streams still open fail when the connection ends: the server broke HTTP/2 (we sent GOAWAY with
  // an error), or the code of the server's own GOAWAY (RFC 9113 section 6.8), or just that it closed.
  std::error_code closing_error() const {
    if (h2_ && h2_->sent_goaway_error() != 0) return error::protocol_error;
    if (goaway_code_ != 0) return from_h2_error_code(goaway_code_);
    return error::connection_closed;
  }

  // Writes what the engine has, as far as the socket takes it now; the rest once it is writable.
  void flush() {
    if (writing_ || state_ == state::closed || !h2_) return;
    for (;;) {
      if (write_off_ == write_buf_.size()) {
        write_buf_.clear();
        write_off_ = 0;
        if (h2_->take_output(write_buf_)) return close("protocol error", error::protocol_error);
        if (goaway_due_) {  // retire(): behind every HEADERS already taken
          goaway_due_ = false;
          h2_->goaway_graceful();
          if (h2_->take_output(write_buf_)) return close("protocol error", error::protocol_error);
        }
        if (write_buf_.empty()) {
          if (!h2_->want_read() && !h2_->want_write())
            close(h2_->sent_goaway_error() ? "protocol error" : close_reason_.empty() ? "goaway" : close_reason_,
                  closing_error());
          else if (write_buf_.capacity() > 16 * 1024)
            std::string().swap(write_buf_);  // a large upload is over: an idle connection keeps no big buffer
          return;
        }
      }
      transport::want w = transport::want::nothing;
      std::error_code ec;
      std::size_t n = transport_->write_some(write_buf_.data() + write_off_, write_buf_.size() - write_off_, w, ec);
      if (ec) return close("write error");
      if (n == 0) {
        writing_ = true;
        transport_->async_wait(w == transport::want::read ? w : transport::want::write,
                              [self = shared_from_this()](std::error_code wait_ec) {
                                self->writing_ = false;
                                if (self->state_ == state::closed) return;
                                if (wait_ec) return self->close("write error");
                                self->flush();
                                self->after_io();
                              });
        return;
      }
      write_off_ += n;
    }
  }

  // Requests queued in one turn of the executor leave in one write: the flush runs once, after them.
  void schedule_flush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(ex_, [self = shared_from_this()] {
      self->flush_posted_ = false;
      self->flush();
    });
  }

  // Work that must not run inside nghttp2's callbacks: dequeue waiting requests, tell the owner.
  void after_io() {
    if (state_ == state::closed) return;
    pump_queue();
    flush();
    if (state_ != state::ready) return;
    if (freed_ && owner_) {
      freed_ = false;
      owner_->on_connection_available(*this);
    }
    if (state_ == state::ready && idle()) {
      if (draining_) {
        if (!writing_) close(close_reason_.empty() ? "goaway" : close_reason_);
      } else if (!idle_armed_) {
        // Armed when the connection turns idle, not again on every read: PING ACKs and SETTINGS
        // arrive on an idle connection too (the health check's own), and must not keep it forever.
        arm_idle();
      }
    }
  }

  void schedule_after_io() {
    asio::post(ex_, [self = shared_from_this()] { self->after_io(); });
  }

  // The server allows no streams at all (SETTINGS_MAX_CONCURRENT_STREAMS 0) and requests wait here.
  bool starved() const {
    return proto_ == protocol::h2 && h2_ && streams_.empty() && !queue_.empty() && !draining_ &&
           h2_->peer_max_concurrent_streams() == 0;
  }

  // Waited handshake_timeout for the server to allow a stream: the waiting requests fail with a clear
  // error instead of waiting forever, and the connection goes (DESIGN section 10).
  void fail_starved() {
    starve_armed_ = false;
    auto queue = std::move(queue_);
    queue_.clear();
    for (auto& op : queue) {
      op->conn.reset();
      if (owner_) owner_->on_request_done(op, error::streams_unavailable);
    }
    shutdown("no-streams");
  }

  void pump_queue() {
    if (state_ != state::ready) return;
    complete_preconnects();
    if (state_ != state::ready) return;
    if (proto_ == protocol::h2) {
      bool any = false;
      while (!queue_.empty() && !draining_ && streams_.size() < h2_->peer_max_concurrent_streams()) {
        auto op = std::move(queue_.front());
        queue_.pop_front();
        submit_h2(std::move(op));
        any = true;
      }
      if (any) starve_armed_ = false;
      if (!starve_armed_ && starved()) {
        starve_armed_ = true;
        arm_timer(opts_.handshake_timeout, error::streams_unavailable);
      }
      if (draining_ && !queue_.empty() && owner_) {
        auto queue = std::move(queue_);
        queue_.clear();
        // Never sent: after the server's GOAWAY they count as its retries, after our own retiring not.
        const std::string_view why = goaway_seen_ || close_reason_.empty() ? std::string_view("goaway") : close_reason_;
        for (auto& op : queue) {
          op->conn.reset();
          owner_->on_request_unprocessed(op, why);
        }
      }
      if (any) schedule_flush();
    } else if (!current_ && !queue_.empty()) {
      auto op = std::move(queue_.front());
      queue_.pop_front();
      start_h1(std::move(op));
      // Requests queued behind the first one on an HTTP/1.1 connection go back to the pool, which
      // spreads them over more connections (up to its per-origin limit).
      if (!queue_.empty() && owner_) {
        auto rest = std::move(queue_);
        queue_.clear();
        for (auto& o : rest) {
          o->conn.reset();
          owner_->on_request_unprocessed(o, "http1-queue");
        }
      }
    }
  }

  // ---- HTTP/2 ----
  void submit_h2(std::shared_ptr<request_op> op) {
    disarm_timer();
    const auto& u = op->target;
    bool has_body = op->req.has_body();
    if (authority_.empty()) authority_ = origin_.authority();
    std::string other;  // a coalesced request's own authority
    std::string_view authority = authority_;
    if (op->req.authority) authority = *op->req.authority;
    else if (u.origin != origin_) authority = other = u.origin.authority();
    prepare_sinks(*op);
    auto sid = h2_->submit(op->req.method, u.scheme(), authority, u.target, op->req.headers, has_body,
                           framed_length(op->req));
    if (sid < 0) {
      op->conn.reset();
      if (sid == NGHTTP2_ERR_INVALID_ARGUMENT) {  // the request itself (validated already; never expected)
        if (owner_) owner_->on_request_done(op, error::invalid_header);
        return;
      }
      // Stream ids ran out (NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) or the session is closing: this
      // connection takes no more requests; it drains and closes once idle, and the request goes elsewhere.
      draining_ = true;
      if (close_reason_.empty()) close_reason_ = sid == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? "stream-ids-exhausted" : "submit-failed";
      if (owner_) owner_->on_request_unprocessed(op, "draining");
      schedule_after_io();
      return;
    }
    op->stream = sid;
    op->sent = true;
    if (op->expect_continue && has_body) {
      // HEADERS now, DATA after 100 Continue or the timer (on_h2_body_read defers it until then).
      op->awaiting_continue = true;
      arm_continue_timer(*op, [self = shared_from_this(), sid](const std::shared_ptr<request_op>& o) {
        if (self->state_ == state::closed || !self->h2_ || !self->streams_.count(sid)) return;
        o->end_continue_wait(true);
        self->h2_->resume_body(sid);
        self->flush();
      });
    }
    op->resp.connection = id_;
    op->resp.http_version = "2";
    ++requests_;
    last_used_ = tick();
    streams_.emplace(sid, op);
    if (owner_) owner_->on_request_sent(*op, *this);
    if (opts_.max_requests_per_connection && requests_ >= opts_.max_requests_per_connection) retire("max-requests");
  }

  // `go(op)` for later, only while the request lives and is not over (completed, cancelled, timed out).
  template <class Go>
  static auto while_alive(request_op& op, Go go) {
    return [w = op.weak_from_this(), go] {
      if (auto o = w.lock(); o && !o->over()) go(o);
    };
  }

  // A resume_handle for the caller (any thread): `f` runs on the client's executor.
  template <class F>
  resume_handle posted(F f) const {
    return resume_handle([ex = ex_, f] { asio::post(ex, f); });
  }

  // A sink that may pause gets its resume handle once per request; it reaches whichever connection carries
  // the request when it is called, on the client's executor.
  void prepare_sinks(request_op& op) {
    if (!op.req.on_body || op.resume) return;
    op.resume = posted(while_alive(op, [](const std::shared_ptr<request_op>& o) {
      if (auto c = o->conn.lock()) c->resume(o);
    }));
  }


  /// The caller's sink asked for more after a pause.
  void resume(const std::shared_ptr<request_op>& op) {
    if (state_ == state::closed || !op->paused) return;
    op->paused = false;
    if (proto_ == protocol::h2) return resume_h2(op);
    if (current_ == op) resume_h1();
  }

  // Every header and DATA callback names its stream; consecutive ones mostly name the same stream.
  void forget_last_stream() noexcept {
    last_sid_ = 0;
    last_op_ = nullptr;
  }

  request_op* stream_op(std::int32_t sid) {
    if (state_ == state::closed) return nullptr;  // a sink closed the client inside this very feed
    if (sid == last_sid_ && last_op_) return last_op_;
    auto it = streams_.find(sid);
    if (it == streams_.end()) return nullptr;
    last_sid_ = sid;
    last_op_ = it->second.get();
    return last_op_;
  }

  bool on_h2_header(std::int32_t sid, std::string_view name, std::string_view value) override {
    auto* op = stream_op(sid);
    if (!op) return true;
    op->first_byte();
    op->response_started = true;
    if (op->head_notified) {
      // Trailing HEADERS (RFC 9113 section 8.1): kept apart from the head, under the same limit.
      op->trailer_bytes += name.size() + value.size() + 32;
      if (op->trailer_bytes > opts_.max_header_list_size) {
        op->local_error = error::headers_too_large;
        return false;
      }
      if (!name.empty() && name.front() == ':') {
        op->local_error = error::protocol_error;  // RFC 9113 section 8.1: no pseudo-header in trailers
        return false;
      }
      if (!op->discard_body) op->resp.trailers.add(std::string(name), std::string(value));
      return true;
    }
    op->header_bytes += name.size() + value.size() + 32;  // RFC 9113 section 6.5.2 accounting
    if (op->header_bytes > opts_.max_header_list_size) {
      op->local_error = error::headers_too_large;
      return false;
    }
    if (name == ":status") {
      int status = 0;
      for (char c : value) status = (c >= '0' && c <= '9') ? status * 10 + (c - '0') : -1000;
      if (status < 100 || status > 999) {
        op->local_error = error::protocol_error;
        return false;
      }
      if (status >= 200) {
        op->resp.status = status;
        op->final_headers = true;
        if (op->awaiting_continue) op->end_continue_wait(false);  // the body is not wanted
      } else if (status == 100 && op->awaiting_continue) {
        op->end_continue_wait(true);
        h2_->resume_body(sid);
      }
      return true;
    }
    if (!name.empty() && name.front() == ':') return true;
    if (op->final_headers && op->resp.status >= 200) {
      if (op->resp.headers.empty()) op->resp.headers.reserve(12);  // one allocation for a typical response
      op->resp.headers.add(std::string(name), std::string(value));
    }
    return true;
  }

  void on_h2_headers_end(std::int32_t sid) override {
    auto* op = stream_op(sid);
    if (!op) return;
    if (!op->final_headers) {
      op->header_bytes = 0;  // 1xx: next block counts anew
    } else if (!op->head_notified) {
      op->head_notified = true;
      auto keep = op->shared_from_this();  // on_response may close the client, which lets go of it
      op->headers_complete();
    }
  }

  h2_listener::data_result on_h2_data(std::int32_t sid, const std::uint8_t* data, std::size_t len) override {
    auto* op = stream_op(sid);
    if (!op || op->is_head()) return h2_listener::data_result::consumed;
    // A sink may close the client, which lets go of the request while it runs.
    std::shared_ptr<request_op> keep;
    if (op->req.on_body) keep = op->shared_from_this();
    if (op->paused) {
      // Within the window the server may still send: kept, not consumed, so the window stays shut.
      op->held.append(reinterpret_cast<const char*>(data), len);
      op->unconsumed += len;
      return h2_listener::data_result::held;
    }
    switch (op->deliver(reinterpret_cast<const char*>(data), len, opts_.max_body_size)) {
      case request_op::delivery::more: return h2_listener::data_result::consumed;
      case request_op::delivery::pause:
        op->paused = true;
        op->unconsumed += len;
        return h2_listener::data_result::held;
      case request_op::delivery::stop: break;
    }
    return h2_listener::data_result::reset;
  }

  // Delivers what a paused stream held, as far as the sink takes it; then the windows reopen and a stream
  // that ended meanwhile completes.
  void resume_h2(const std::shared_ptr<request_op>& op) {
    constexpr std::size_t piece = 16 * 1024;
    std::size_t off = 0;
    bool stop = false;
    // A decoder stopped by the pause gives what it kept first, even when nothing was held.
    while (!op->paused && (off < op->held.size() || op->decoder_pending())) {
      const std::size_t n = std::min(piece, op->held.size() - off);
      auto r = op->deliver(op->held.data() + off, n, opts_.max_body_size);
      off += n;
      if (r == request_op::delivery::pause) op->paused = true;
      if (r == request_op::delivery::stop) {
        stop = true;
        break;
      }
    }
    op->held.erase(0, off);
    if (op->held.empty()) std::string().swap(op->held);
    if (stop) {
      // Over the limit or over (deliver() set local_error): the stream ends here. One the pool already
      // finished was taken out by abandon().
      if (end_stream_here(*op)) stream_done(op, NGHTTP2_CANCEL, false);
      flush();
      return after_io();
    }
    if (op->paused) return;  // paused again: what it took of `held` stays unconsumed until the next resume
    h2_->consume(op->stream, op->unconsumed);
    op->unconsumed = 0;
    if (op->stream_closed) {
      auto it = streams_.find(op->stream);
      if (it != streams_.end() && it->second == op) {
        streams_.erase(it);
        forget_last_stream();
        stream_done(op, op->close_code, op->close_complete);
      }
    }
    flush();
    after_io();
  }

  // Takes `op`'s stream out of this connection before the server ended it: CANCEL (RFC 9113 section 8.7;
  // the connection lives on), unless it already ended while paused, and the held bytes nobody will take
  // reopen the connection's window. False when the stream was not here.
  bool end_stream_here(request_op& op) {
    forget_last_stream();
    if (!streams_.erase(op.stream)) return false;
    h2_->consume_connection(op.unconsumed);
    op.unconsumed = 0;
    if (!op.stream_closed) h2_->reset(op.stream, NGHTTP2_CANCEL);
    return true;
  }

  void on_h2_stream_close(std::int32_t sid, std::uint32_t code, bool complete) override {
    auto it = streams_.find(sid);
    if (it == streams_.end()) return;
    if (it->second->paused && !it->second->local_error) {
      // The server finished (or reset) while the sink is paused: the request completes once the sink took
      // what was held. The stream stays counted here until then.
      auto& op = *it->second;
      op.stream_closed = true;
      op.close_code = code;
      op.close_complete = complete;
      return;
    }
    auto op = std::move(it->second);
    streams_.erase(it);
    forget_last_stream();
    stream_done(op, code, complete);
  }

  void stream_done(const std::shared_ptr<request_op>& op, std::uint32_t code, bool complete) {
    freed_ = true;
    op->conn.reset();
    if (h2_ && op->unconsumed) {
      h2_->consume_connection(op->unconsumed);
      op->unconsumed = 0;
    }
    if (!owner_) return;
    if (op->local_error) return owner_->on_request_done(op, op->local_error);
    if (complete && op->resp.status >= 200) return owner_->on_request_done(op, {});
    if (code == NGHTTP2_REFUSED_STREAM) {
      // RFC 9113 section 8.7: a refused stream (or one above GOAWAY's last-stream-id) was not processed.
      return owner_->on_request_unprocessed(op, goaway_seen_ ? "goaway" : "refused-stream");
    }
    // Closed before END_STREAM: a reset cut the response short, whatever it had received. NO_ERROR is no
    // success here: RFC 9113 section 8.1 allows RST_STREAM(NO_ERROR) only after a complete response.
    owner_->on_request_done(op, code == NGHTTP2_NO_ERROR ? std::error_code(error::stream_reset)
                                                          : std::error_code(from_h2_error_code(code)));
  }

  void on_h2_settings() override {
    if (state_ == state::settings) become_ready();
    else if (state_ == state::ready) schedule_after_io();  // the stream limit may have grown
  }

  void on_h2_goaway(std::int32_t last, std::uint32_t code) override {
    draining_ = true;
    goaway_seen_ = true;
    goaway_code_ = code;
    if (owner_) owner_->on_connection_goaway(*this, last, code);
  }

  void on_h2_origin(std::int32_t stream, std::uint8_t flags, std::vector<std::string> entries) override {
    if (owner_) owner_->on_connection_origin(*this, stream, flags, std::move(entries));
  }

  long on_h2_body_read(std::int32_t sid, std::uint8_t* buf, std::size_t len, bool& eof) override {
    auto* op = stream_op(sid);
    if (!op) {
      eof = true;
      return 0;
    }
    if (op->awaiting_continue || op->continue_refused) {
      eof = false;
      return 0;  // deferred: resumed by the 100 or the timer, never after a final status
    }
    long n = op->read_body(reinterpret_cast<char*>(buf), len, eof);
    if (n < 0) {
      // The source broke its length (DESIGN section 10): nghttp2 resets the stream, the request fails
      // with local_error, and this connection takes no more requests and closes once idle.
      draining_ = true;
      if (close_reason_.empty()) close_reason_ = "request body error";
      schedule_after_io();
      return -1;
    }
    if (n == 0 && !eof) {
      wait_for_source(*op, [self = shared_from_this(), sid] {
        if (self->state_ != state::closed && self->h2_ && self->streams_.count(sid)) {
          self->h2_->resume_body(sid);
          self->flush();
        }
      });
    }
    return n;
  }
  fields on_h2_body_trailers(std::int32_t sid) override {
    auto* op = stream_op(sid);
    if (!op) return {};
    auto t = op->take_trailers();
    if (op->local_error) {
      // An invalid trailer field: the stream is reset, the request fails with invalid_header.
      h2_->reset(sid, NGHTTP2_CANCEL);
      return {};
    }
    return t;
  }


  // A body source with nothing to give now: its wait() is told how to resume, or it is asked again after
  // a growing delay (1 ms doubling to 64 ms): never a busy loop (DESIGN section 10).
  template <class Go>
  void wait_for_source(request_op& op, Go go) {
    auto& src = *op.req.source;
    auto again = while_alive(op, [go](const std::shared_ptr<request_op>&) { go(); });
    if (src.wait) return src.wait(posted(std::move(again)));
    using std::chrono::milliseconds;
    op.source_backoff = op.source_backoff.count() == 0 ? milliseconds(1) : std::min(op.source_backoff * 2, milliseconds(64));
    if (!op.source_timer) op.source_timer = std::make_unique<asio::steady_timer>(ex_);
    op.source_timer->expires_after(op.source_backoff);
    op.source_timer->async_wait([again = std::move(again)](std::error_code ec) {
      if (!ec) again();
    });
  }

  // ---- HTTP/1.1 ----
  void start_h1(std::shared_ptr<request_op> op) {
    disarm_timer();
    current_ = op;
    h1_paused_ = false;
    op->resp.connection = id_;
    op->resp.http_version = "1.1";
    ++requests_;
    last_used_ = tick();
    prepare_sinks(*op);
    h1_->begin_response(op->is_head());
    const auto& r = op->req;
    const auto length = framed_length(r);
    const bool chunked = r.source && !length;
    const std::string authority = r.authority ? *r.authority : op->target.origin.authority();
    if (absolute_form_) {
      fields headers = r.headers;
      if (!proxy_authorization_.empty()) headers.add("Proxy-Authorization", proxy_authorization_);
      h1_out_ = h1_engine::serialize_head(r.method, op->target.origin.serialize() + op->target.target, authority,
                                          headers, length, chunked);
    } else {
      h1_out_ = h1_engine::serialize_head(r.method, op->target.target, authority, r.headers, length, chunked);
    }
    op->sent = true;
    if (owner_) owner_->on_request_sent(*op, *this);
    if (op->expect_continue && r.has_body()) return write_h1_head_then_wait(op, chunked);
    write_h1_body(op, chunked);
  }

  // Expect: 100-continue on HTTP/1.1: the head alone, then the body after 100 Continue or the timer. A
  // final status first: the body is never sent, and the connection closes after the response (the
  // server cannot tell where the unsent body would have ended).
  void write_h1_head_then_wait(const std::shared_ptr<request_op>& op, bool chunked) {
    op->awaiting_continue = true;
    writing_ = true;
    auto buf = std::make_shared<std::string>(std::move(h1_out_));
    h1_out_.clear();
    write_all(std::move(buf), 0, [self = shared_from_this(), op, chunked] {
      self->writing_ = false;
      if (self->state_ == state::closed || self->current_ != op || op->over()) return;
      if (!op->awaiting_continue) {  // the 100 came while the head was being written
        if (!op->continue_refused) self->write_h1_body(op, chunked);
        return;
      }
      self->arm_continue_timer(*op, [self, chunked](const std::shared_ptr<request_op>& o) {
        if (self->state_ == state::closed || self->current_ != o) return;
        o->end_continue_wait(true);
        if (!self->writing_) self->write_h1_body(o, chunked);
      });
    });
  }

  template <class Go>
  void arm_continue_timer(request_op& op, Go go) {
    if (!op.continue_timer) op.continue_timer = std::make_unique<asio::steady_timer>(ex_);
    op.continue_timer->expires_after(opts_.expect_continue_timeout);
    op.continue_timer->async_wait([w = op.weak_from_this(), go = std::move(go)](std::error_code ec) {
      auto o = w.lock();
      if (ec || !o || o->over() || !o->awaiting_continue) return;
      go(o);
    });
  }

  void on_h1_interim(int status) override {
    auto op = current_;
    if (status != 100 || !op || !op->awaiting_continue) return;
    op->end_continue_wait(true);
    if (writing_) return;  // the head's write completion sends the body
    const bool chunked = op->req.source && !framed_length(op->req);
    asio::post(ex_, [self = shared_from_this(), op, chunked] {
      if (self->state_ != state::closed && self->current_ == op && !op->over() && !self->writing_) self->write_h1_body(op, chunked);
    });
  }

  // The server ended the stream while the body waited for 100 Continue: the response is whole, the
  // body is not wanted; our side ends with RST_STREAM (RFC 9113 section 8.1) and the request completes.
  void on_h2_remote_end(std::int32_t sid) override {
    auto* op = stream_op(sid);
    if (op && op->continue_refused && !op->body_started) h2_->reset(sid, NGHTTP2_CANCEL);
  }

  // Writes what is in h1_out_ plus the next piece of the body; continues until the body ends. A writer
  // only ever writes for current_: once the response ended (or the request did), it stops.
  void write_h1_body(const std::shared_ptr<request_op>& op, bool chunked) {
    bool eof = !op->req.has_body();
    bool waiting = false;
    if (!eof) {
      std::array<char, 64 * 1024> piece;
      long n = op->read_body(piece.data(), piece.size(), eof);
      if (n < 0) return fail_h1_body(op);
      fields trailers;
      if (eof && chunked) {
        trailers = op->take_trailers();
        if (op->local_error) return fail_h1_body(op);
      }
      h1_engine::append_body(h1_out_, std::string_view(piece.data(), static_cast<std::size_t>(n)), chunked, eof,
                             trailers);
      waiting = n == 0 && !eof;
    }
    auto next = [self = shared_from_this(), op, chunked] {
      if (self->state_ != state::closed && self->current_ == op && !op->over()) self->write_h1_body(op, chunked);
    };
    if (h1_out_.empty()) return wait_for_source(*op, next);
    writing_ = true;
    auto buf = std::make_shared<std::string>(std::move(h1_out_));
    h1_out_.clear();
    write_all(std::move(buf), 0, [self = shared_from_this(), op, eof, waiting, next] {
      self->writing_ = false;
      if (self->state_ == state::closed || self->current_ != op) return;
      if (eof) {
        op->body_done = true;  // written whole: one of the conditions for reuse (DESIGN section 10)
        return;
      }
      if (waiting) return self->wait_for_source(*op, next);
      // The next piece in a later turn: a fast socket must not turn a long body into deep recursion.
      asio::post(self->ex_, next);
    });
  }

  // The source broke its declared length: the bytes on the wire no longer frame one message, so the
  // request fails and the connection is closed, never reused (DESIGN section 10).
  void fail_h1_body(const std::shared_ptr<request_op>& op) {
    if (current_ == op) current_.reset();
    op->conn.reset();
    auto ec = op->local_error ? op->local_error : std::error_code(error::body_length_mismatch);
    if (owner_) owner_->on_request_done(op, ec);
    close("request body error");
  }

  // Writes all of `buf` (HTTP/1.1), waiting for the socket as needed, then calls done().
  template <class Done>
  void write_all(std::shared_ptr<std::string> buf, std::size_t off, Done done) {
    while (off < buf->size()) {
      transport::want w = transport::want::nothing;
      std::error_code ec;
      std::size_t n = transport_->write_some(buf->data() + off, buf->size() - off, w, ec);
      if (ec) {
        writing_ = false;
        return close("write error");
      }
      if (n == 0) {
        transport_->async_wait(w == transport::want::read ? w : transport::want::write,
                              [self = shared_from_this(), buf, off, done = std::move(done)](std::error_code wait_ec) mutable {
                                if (self->state_ == state::closed) return;
                                if (wait_ec) {
                                  self->writing_ = false;
                                  return self->close("write error");
                                }
                                self->write_all(std::move(buf), off, std::move(done));
                              });
        return;
      }
      off += n;
    }
    done();
  }

  void finish_h1(const std::shared_ptr<request_op>& op, std::error_code ec, bool keep_alive) {
    op->conn.reset();
    if (!ec && op->local_error) ec = op->local_error;
    if (owner_) owner_->on_request_done(op, ec);
    if (keep_alive && state_ == state::ready && retired_) return close(close_reason_);
    if (keep_alive && state_ == state::ready && opts_.max_requests_per_connection &&
        requests_ >= opts_.max_requests_per_connection)
      return close("max-requests");
    if (keep_alive && state_ == state::ready) {
      arm_idle();
      if (owner_) owner_->on_connection_available(*this);
    }
  }

  // The sink paused in the middle of a read: the rest of that read waits here, and the socket is not read
  // until the sink resumes (DESIGN section 10).
  void resume_h1() {
    h1_paused_ = false;
    if (auto op = current_; op && op->decoder_pending()) {
      // A decoder stopped by the pause gives what it kept before the socket is read again.
      switch (op->deliver(nullptr, 0, opts_.max_body_size)) {
        case request_op::delivery::more: break;
        case request_op::delivery::pause:
          op->paused = true;
          h1_paused_ = true;
          return;
        case request_op::delivery::stop: {
          current_.reset();
          const auto ec = op->local_error ? op->local_error : std::error_code(error::body_too_large);
          finish_h1(op, ec, false);
          return close("body error", ec);
        }
      }
    }
    auto rest = std::move(h1_held_);
    h1_held_.clear();
    if ((!rest.empty() || h1_->paused()) && !on_bytes(rest.data(), rest.size())) return;
    if (state_ != state::closed && !h1_paused_) read_loop();
  }

  bool on_h1_header(std::string_view name, std::string_view value) override {
    if (!current_) return true;
    if (current_->head_notified) {
      // Chunked trailers (RFC 9112 section 7.1.2): kept apart from the head, under the same limit.
      current_->trailer_bytes += name.size() + value.size() + 32;
      if (current_->trailer_bytes > opts_.max_header_list_size) return false;
      if (!current_->discard_body) current_->resp.trailers.add(std::string(name), std::string(value));
      return true;
    }
    current_->header_bytes += name.size() + value.size() + 32;
    if (current_->header_bytes > opts_.max_header_list_size) return false;
    if (current_->resp.headers.empty()) current_->resp.headers.reserve(12);
    current_->resp.headers.add(std::string(name), std::string(value));
    return true;
  }
  void on_h1_headers_end(int status) override {
    auto op = current_;  // on_response may close the client, which lets go of current_
    if (!op) return;
    op->resp.status = status;
    op->resp.reason = h1_->reason();
    if (op->awaiting_continue) op->end_continue_wait(false);  // a final status first: no body
    if (!op->head_notified) {
      op->head_notified = true;
      op->headers_complete();
    }
  }
  h1_listener::data_result on_h1_data(const char* data, std::size_t len) override {
    auto op = current_;  // the sink may close the client, which lets go of current_
    if (!op || state_ == state::closed) return h1_listener::data_result::abort;
    switch (op->deliver(data, len, opts_.max_body_size)) {
      case request_op::delivery::more: return h1_listener::data_result::more;
      case request_op::delivery::pause:
        op->paused = true;
        h1_paused_ = true;
        return h1_listener::data_result::pause;
      case request_op::delivery::stop: break;
    }
    h1_->abort(op->local_error ? op->local_error : std::error_code(error::body_too_large));
    return h1_listener::data_result::abort;
  }
  void on_h1_complete() override {}

  static std::uint64_t tick() {
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }

  asio::any_io_executor ex_;
  session_owner* owner_;
  const client_options& opts_;
  std::uint64_t id_;
  h2coal::origin origin_;
  std::unique_ptr<transport> transport_;  // from the dialer; null while pending
  std::chrono::steady_clock::time_point settings_deadline_{};
  asio::steady_timer timer_;
  std::uint64_t timer_gen_ = 0;
  state state_ = state::pending;
  protocol proto_ = protocol::unknown;
  bool draining_ = false;
  bool retired_ = false;  // retire(): our own drain (max age or requests, shutdown, network change)
  bool dedicated_ = false;
  bool starve_armed_ = false;  // the timer runs for requests the server allows no stream for
  bool idle_armed_ = false;    // the timer runs for idle_timeout, since the connection turned idle
  bool goaway_due_ = false;    // retire(): our GOAWAY goes on the next flush
  bool goaway_seen_ = false;
  std::uint32_t goaway_code_ = 0;  // the error code of the server's GOAWAY
  bool writing_ = false;
  bool read_pending_ = false;  // a wait for readable, or a posted read, is outstanding
  bool flush_posted_ = false;
  bool freed_ = false;
  std::string close_reason_;
  std::string authority_;  // origin_'s :authority, made at the first request
  tls_result tls_;
  std::unique_ptr<h2_engine> h2_;
  std::unique_ptr<h1_engine> h1_;
  std::deque<std::shared_ptr<request_op>> queue_;
  std::unordered_map<std::int32_t, std::shared_ptr<request_op>> streams_;
  std::int32_t last_sid_ = 0;        // stream_op's cache; forget_last_stream() when streams_ loses one
  request_op* last_op_ = nullptr;
  std::shared_ptr<request_op> current_;  // HTTP/1.1: the request in flight
  bool h1_paused_ = false;               // its sink paused: the socket is not read
  std::string h1_held_;                  // the rest of the read the pause interrupted
  std::string h1_out_;
  std::string write_buf_;
  std::size_t write_off_ = 0;  // how much of write_buf_ the socket took
  std::uint64_t requests_ = 0;
  std::uint64_t last_used_ = 0;
  std::uint64_t last_received_ = 0;  // steady clock ticks of the last read (the health check's clock)
  // The health check (HTTP/2 PING) and the age limit: made only when their option is on.
  std::unique_ptr<asio::steady_timer> health_timer_;
  std::unique_ptr<asio::steady_timer> age_timer_;
  std::uint64_t health_gen_ = 0;
  std::uint64_t ping_opaque_ = 0;  // of the PING in flight; 0 when none
  std::chrono::steady_clock::time_point ping_sent_{};
  std::vector<h2coal::origin> misdirected_;
  std::optional<std::vector<h2coal::origin>> origin_set_;
  bool absolute_form_ = false;      // to a forward proxy
  std::string proxy_authorization_;
  std::unordered_map<std::string, bool> covers_cache_;
};

}  // namespace h2coal::detail
