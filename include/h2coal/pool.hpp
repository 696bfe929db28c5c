// SPDX-License-Identifier: BSL-1.0
// h2coal/pool.hpp: the connection pool, the mechanism under the coalescing policy.
//
// It keeps the live and pending connections, asks the policy where each request goes (DESIGN section 4:
// exact origin, origin set, DNS, pending connection, new connection), re-checks the security rules
// whatever the policy said, moves requests on after 421, GOAWAY and REFUSED_STREAM, and reports every
// step as a trace event. It never decides reuse by itself: that is policy.hpp's job.
#pragma once

#include <h2coal/connection_summary.hpp>
#include <h2coal/detail/dialer.hpp>
#include <h2coal/detail/dns_cache.hpp>
#include <h2coal/detail/exchange.hpp>
#include <h2coal/detail/request_op.hpp>
#include <h2coal/detail/session.hpp>
#include <h2coal/options.hpp>
#include <h2coal/policy.hpp>
#include <h2coal/trace.hpp>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <unordered_set>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace h2coal {

namespace detail {

inline std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  auto a = ep.address();
  return a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(ep.port())
                   : a.to_string() + ":" + std::to_string(ep.port());
}

inline std::vector<std::string> address_texts(const address_list& l) {
  std::vector<std::string> out;
  out.reserve(l.size());
  for (const auto& a : l) out.push_back(a.to_string());
  return out;
}

// One connection as the pool keeps it: the session (which knows no addresses), where it was dialed, and
// the dialer while it works. The pool wires the two; they never see each other.
class connection final : public session {
 public:
  using session::session;

  /// Every address its initial host resolved to; made once, as text too: every decision that looks at
  /// this connection shows them to the policy.
  const address_list& initial_addresses() const noexcept { return initial_; }
  const std::vector<std::string>& initial_address_texts() const noexcept { return initial_texts_; }
  /// The address it connected to (the Happy Eyeballs winner); port 0 until then.
  const asio::ip::tcp::endpoint& remote() const noexcept { return remote_; }
  const std::string& remote_address_text() const noexcept { return remote_text_; }

  void set_initial_addresses(address_list a) {
    initial_ = std::move(a);
    initial_texts_ = address_texts(initial_);
  }
  void set_remote(const asio::ip::tcp::endpoint& ep) {
    remote_ = ep;
    remote_text_ = ep.address().to_string();
  }
  /// This side's address and port of the TCP connection (to the proxy, through one); port 0 until up.
  const asio::ip::tcp::endpoint& local() const noexcept { return local_; }
  /// Its address as text (response::local_address); empty until up.
  const std::string& local_address_text() const noexcept { return local_text_; }
  void set_local(const asio::ip::tcp::endpoint& ep) {
    local_ = ep;
    local_text_ = ep.port() ? ep.address().to_string() : std::string{};
  }

  /// A request for `o` was sent on it: true the first time for `o` (the summary lists it then).
  bool note_origin_sent(const origin& o) {
    if (std::find(sent_origins_.begin(), sent_origins_.end(), o) != sent_origins_.end()) return false;
    sent_origins_.push_back(o);
    return true;
  }

  /// The proxy it goes through (nullptr: direct; DESIGN section 13) and that proxy's identity, which is
  /// part of its partition.
  const proxy_server* proxy() const noexcept { return proxy_; }
  const std::string& proxy_identity() const noexcept { return proxy_identity_; }
  void set_proxy(const proxy_server* p) {
    proxy_ = p;
    proxy_identity_ = p ? p->identity() : std::string{};
  }

  /// A connect_to rule sent it to another host or port: it serves its own origin only.
  bool rerouted() const noexcept { return rerouted_; }
  void set_rerouted() noexcept { rerouted_ = true; }

  std::shared_ptr<dialer> dial;  // while establishing

  // The pool's bookkeeping: the keys it filed this connection under in its certificate-name and address
  // indexes (forget takes it out of those lists only, not out of every key), and the last lookup that
  // listed it as a candidate (each connection is listed once without a search of the list).
  std::vector<std::string> san_keys, address_keys;
  std::string remote_key;
  std::uint64_t candidate_mark = 0;
  bool addresses_ready = false;  // address_keys are in the index of ready connections, not of pending ones

  // When its establishment reached each step (response::timings of the request it was opened for).
  std::chrono::steady_clock::time_point t_dns{}, t_connected{}, t_tls{};

 private:
  const proxy_server* proxy_ = nullptr;  // into the pool's options
  bool rerouted_ = false;
  std::string proxy_identity_;
  address_list initial_;
  std::vector<std::string> initial_texts_;
  asio::ip::tcp::endpoint remote_;
  std::string remote_text_;
  asio::ip::tcp::endpoint local_;
  std::string local_text_;
  std::vector<origin> sent_origins_;  // the origins of its requests, in the order first sent
};

class pool final : public session_owner, public dial_observer, public std::enable_shared_from_this<pool> {
 public:
  pool(asio::any_io_executor ex, client_options opts) : ex_(std::move(ex)), opts_(std::move(opts)) {
    if (!opts_.resolver) opts_.resolver = std::make_shared<system_resolver>();
    dns_ = std::make_unique<dns_cache>(opts_.resolver, opts_.dns_cache_ttl);
    std::vector<std::string> alpn;
    if (opts_.version == http_version::http1_only) alpn = {"http/1.1"};
    else if (opts_.version == http_version::h2_prior_knowledge) alpn = {"h2"};
    else alpn = {"h2", "http/1.1"};
    tls_ctx_ = make_client_context(opts_.tls, alpn, tls_error_);
    // TLS session resumption (DESIGN section 11): one session cache per client, on its context;
    // none when off or unverified (a session of an unverified peer must never be resumed).
    if (tls_ctx_ && opts_.tls.session_resumption && !opts_.tls.insecure) {
      session_cache_ = std::make_shared<tls_session_cache>();
      session_cache_->attach(tls_ctx_->native_handle());
    }
    start_ = std::chrono::steady_clock::now();
  }

  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  ~pool() override { shutdown(); }

  const asio::any_io_executor& executor() const noexcept { return ex_; }
  const client_options& options() const noexcept { return opts_; }

  /// Takes a new request (on the executor). Validation errors complete it at once.
  void start(std::shared_ptr<request_op> op) {
    op->t_start = op->t_hop = request_op::clock::now();
    if (closed_ || stopping_) return finish(op, error::client_shutdown);
    op->id = ++next_request_id_;
    std::error_code ec;
    op->target = url::parse(op->req.url, ec);
    emit([&](trace::event& e) {
      e.ev = "request.start";
      e.add("req", op->id).add("method", op->req.method).add("url", op->req.url);
      if (!ec) e.add("origin", op->target.origin.serialize());
    });
    if (!ec && !is_token(op->req.method)) ec = error::invalid_method;
    if (!ec) ec = validate_request(op->req, op->target.origin);
    op->max_retries = opts_.max_retries;
    if (!ec && op->target.origin.is_tls() && !tls_ctx_) ec = tls_error_ ? tls_error_ : error::invalid_option;
    if (ec) return finish(op, ec);
    // The exchange's features (DESIGN section 12): decided at the final head, done after the response.
    if (op->req.decompress && !op->req.headers.contains("accept-encoding")) {
      if (auto ae = content_decoder::accept_encoding(); !ae.empty()) op->req.headers.add("accept-encoding", std::string(ae));
    }
    op->retry = op->req.retry ? &*op->req.retry : opts_.retry ? &*opts_.retry : nullptr;
    if (auto expect = op->req.headers.get("expect")) {
      op->expect_continue = op->req.has_body() && iequals(trim_ows(*expect), "100-continue");
    } else if (opts_.expect_continue_threshold && op->req.has_body()) {
      const auto length = framed_length(op->req);
      if (!length || *length > opts_.expect_continue_threshold) {
        op->req.headers.add("expect", "100-continue");
        op->expect_continue = true;
      }
    }
    if (op->req.follow_redirects || op->retry) {
      op->plan_follow_up = &plan_follow_up;
      if (op->req.follow_redirects) op->visited.push_back(op->req.method + " " + op->target.to_string());
    }
    live_.emplace(op->id, op);
    auto timeout = op->req.timeout.value_or(opts_.request_timeout);
    if (timeout.count() > 0) {
      op->deadline = std::make_unique<asio::steady_timer>(ex_, timeout);
      op->deadline->async_wait([w = std::weak_ptr<request_op>(op), self = weak_from_this()](std::error_code e) {
        if (e) return;
        auto o = w.lock();
        auto p = self.lock();
        if (o && p) p->abort(o, error::request_timeout);
      });
    }
    route(op);
  }

  /// Ends a request early (timeout, cancellation): its stream is reset, the connection lives on.
  void abort(const std::shared_ptr<request_op>& op, std::error_code ec) {
    if (op->finished) return;
    if (auto c = op->conn.lock()) c->abandon(*op);
    for (auto& [o, q] : h1_waiters_) std::erase(q, op);
    std::erase(capacity_waiters_, op);
    for (auto& [id, q] : pending_waiters_) std::erase(q, op);
    finish(op, ec);
  }

  // ---- Lifecycle (DESIGN section 14) ----

  /// client::async_shutdown: takes no new request (error::client_shutdown), lets the outstanding ones
  /// finish for at most `grace`, then fails what is left with client_shutdown and closes every connection
  /// (GOAWAY(NO_ERROR) first). `done` runs once every connection is gone.
  void graceful_shutdown(std::chrono::milliseconds grace, unique_function<void()> done) {
    if (closed_) return asio::post(ex_, std::move(done));
    shutdown_waiters_.push_back(std::move(done));
    if (stopping_) return;  // a later call waits for the first one's deadline
    stopping_ = true;
    emit([&](trace::event& e) {
      e.ev = "client.shutdown";
      e.add("requests", static_cast<std::uint64_t>(live_.size())).add("connections", static_cast<std::uint64_t>(conns_.size()));
      e.add("grace_ms", static_cast<std::int64_t>(grace.count()));
    });
    shutdown_timer_ = std::make_unique<asio::steady_timer>(ex_, grace);
    shutdown_timer_->async_wait([self = weak_from_this()](std::error_code ec) {
      if (auto p = self.lock(); p && !ec) p->shutdown_deadline();
    });
    check_stopped();
  }

  /// client::on_network_change: every connection drains and closes (GOAWAY), the DNS cache and the TLS
  /// session cache forget what they learned on the old network.
  void network_changed() {
    if (closed_) return;
    const std::size_t n = conns_.size();
    dns_->clear();
    dns_failures_.clear();
    if (session_cache_) session_cache_->clear();
    emit([&](trace::event& e) {
      e.ev = "client.network_change";
      e.add("connections", static_cast<std::uint64_t>(n));
    });
    auto conns = connections();
    std::vector<std::shared_ptr<request_op>> waiting;
    for (auto& c : conns) {
      if (c->closed()) continue;
      if (c->ready()) {
        c->retire("network-change");
        continue;
      }
      // Still resolving, dialing or shaking hands on the old network: stopped, and the requests waiting
      // for it are routed again, with the new network's answers.
      // Closed first, so that the cancelled dial's completion finds nobody waiting.
      for (auto& op : c->abort_setup("network-change")) waiting.push_back(std::move(op));
      if (c->dial) c->dial->cancel();
      c->dial.reset();
    }
    for (auto& op : waiting) {
      op->addresses.reset();  // the old network's answer: resolved again
      on_request_unprocessed(std::move(op), "network-change");
    }
  }

  /// client::async_preconnect: `n` usable connections for the origin of `url`, found (under the policy)
  /// or opened. HTTP/2 serves any number of requests on one connection; n counts for HTTP/1.1.
  void preconnect(const std::string& url_text, std::size_t n, unique_function<void(std::error_code, preconnect_result)> done) {
    std::error_code ec;
    auto target = url::parse(url_text, ec);
    if (!ec && closed_) ec = error::client_shutdown;
    if (!ec && stopping_) ec = error::client_shutdown;
    if (!ec && target.origin.is_tls() && !tls_ctx_) ec = tls_error_ ? tls_error_ : error::invalid_option;
    if (ec) return asio::post(ex_, [done = std::move(done), ec]() mutable { done(ec, {}); });
    auto st = std::make_shared<preconnect_state>();
    st->target = target;
    st->wanted = std::max<std::size_t>(n, 1);
    st->done = std::move(done);
    preconnect_step(st, 1, false);
  }

  /// Closes every connection and fails every outstanding request with client_shutdown.
  void shutdown() {
    if (closed_) return;
    closed_ = true;
    if (shutdown_timer_) shutdown_timer_->cancel();
    // Hold every outstanding request first: the connections own them and are about to let go.
    std::vector<std::shared_ptr<request_op>> live;
    for (auto& [id, w] : live_)
      if (auto op = w.lock()) live.push_back(std::move(op));
    live_.clear();
    auto conns = connections();
    conns_.clear();
    by_origin_.clear();
    by_origin_set_.clear();
    by_san_.clear();
    by_remote_.clear();
    by_initial_address_.clear();
    pending_by_address_.clear();
    dns_inflight_.clear();
    h1_waiters_.clear();
    capacity_waiters_.clear();
    pending_waiters_.clear();
    for (auto& c : conns) {
      c->detach();
      if (c->dial) c->dial->cancel();
      c->dial.reset();
    }
    for (auto& c : conns) c->close("client shutdown", error::client_shutdown);
    for (auto& op : live) finish(op, error::client_shutdown);
    auto waiters = std::move(shutdown_waiters_);
    shutdown_waiters_.clear();
    for (auto& w : waiters) asio::post(ex_, std::move(w));
  }

  std::vector<connection_summary> summaries() const {
    std::vector<connection_summary> out;
    for (const auto& [id, s] : summaries_) out.push_back(s);
    return out;
  }

  std::size_t connection_count() const noexcept { return conns_.size(); }

 private:
  // ---- Lifecycle helpers ----
  struct preconnect_state {
    url target;
    std::size_t wanted = 1;
    std::size_t outstanding = 0;
    std::error_code error;
    preconnect_result result;
    unique_function<void(std::error_code, preconnect_result)> done;
  };

  // Sends `count` preconnect ops; `direct` opens connections of the origin's own (HTTP/1.1, where each
  // connection carries one request), otherwise the op is routed as a request would be (and may find a
  // connection to reuse or coalesce onto).
  void preconnect_step(const std::shared_ptr<preconnect_state>& st, std::size_t count, bool direct) {
    st->outstanding += count;
    for (std::size_t i = 0; i < count; ++i) {
      auto op = make_request_op();
      op->preconnect = true;
      op->req.url = st->target.to_string();
      op->req.method = "GET";
      op->target = st->target;
      op->id = ++next_request_id_;
      op->t_start = op->t_hop = request_op::clock::now();
      op->max_retries = opts_.max_retries;
      op->complete = [st, self = weak_from_this(), wop = std::weak_ptr<request_op>(op)](std::error_code ec, response&& r) {
        auto p = self.lock();
        if (p) p->preconnect_done(st, ec, r);
      };
      emit([&](trace::event& e) {
        e.ev = "request.start";
        e.add("req", op->id).add("method", op->req.method).add("url", op->req.url);
        e.add("origin", op->target.origin.serialize()).add("preconnect", true);
      });
      live_.emplace(op->id, op);
      if (direct) {
        op->basis = "same-origin";
        open_connection(op);
      } else {
        route(op);
      }
    }
  }

  void preconnect_done(const std::shared_ptr<preconnect_state>& st, std::error_code ec, const response& r) {
    --st->outstanding;
    auto& res = st->result;
    if (ec) {
      if (!st->error) st->error = ec;
    } else if (r.connection && std::find(res.connections.begin(), res.connections.end(), r.connection) == res.connections.end()) {
      res.connections.push_back(r.connection);
      if (r.coalesced) res.coalesced = true;
      if (opened_for_preconnect_.erase(r.connection)) ++res.opened;
      else ++res.found;
    }
    if (st->outstanding) return;
    const std::size_t have = res.connections.size();
    const origin& o = st->target.origin;
    if (!st->error && !closed_ && !stopping_ && uses_http1(o) && have < st->wanted) {
      // HTTP/1.1 (known now, perhaps from the first connection's ALPN): one connection per request, so
      // the others are opened as well, up to the per-origin limit.
      std::size_t own = 0;
      if (auto it = by_origin_.find(o); it != by_origin_.end())
        for (auto& c : it->second)
          if (!c->closed() && !c->draining()) ++own;
      const std::size_t cap = std::max<std::size_t>(opts_.max_http1_connections_per_origin, 1);
      const std::size_t target = std::min(st->wanted, cap);
      if (own < target) return preconnect_step(st, target - own, true);
    }
    auto done = std::move(st->done);
    if (!done) return;
    // Fewer usable connections than asked for (none; or, on HTTP/1.1, fewer than n) because one failed:
    // the error, with what does exist.
    if (st->error && (res.connections.empty() || (uses_http1(o) && have < st->wanted)))
      return done(st->error, std::move(res));
    done({}, std::move(res));
  }

  // Graceful shutdown: once no request is outstanding, every connection retires; once none is left, done.
  void check_stopped() {
    if (!stopping_ || closed_ || stop_check_posted_) return;
    stop_check_posted_ = true;
    asio::post(ex_, [self = weak_from_this()] {
      auto p = self.lock();
      if (!p) return;
      p->stop_check_posted_ = false;
      if (!p->stopping_ || p->closed_) return;
      std::erase_if(p->live_, [](const auto& kv) { return kv.second.expired(); });
      if (!p->live_.empty()) return;
      auto conns = p->connections();
      for (auto& c : conns) {
        if (c->ready()) {
          c->retire("client-shutdown");
        } else if (!c->closed()) {
          if (c->dial) c->dial->cancel();
          c->dial.reset();
          c->close("client-shutdown", error::client_shutdown);
        }
      }
      if (p->conns_.empty()) p->shutdown();  // nothing left: completes the waiters
    });
  }

  // The grace period is over: what is still outstanding fails with client_shutdown, and every connection
  // closes now (GOAWAY first where the socket takes it).
  void shutdown_deadline() {
    if (closed_) return;
    std::vector<std::shared_ptr<request_op>> live;
    for (auto& [id, w] : live_)
      if (auto op = w.lock()) live.push_back(std::move(op));
    for (auto& op : live) abort(op, error::client_shutdown);
    auto conns = connections();
    for (auto& c : conns) {
      c->retire("client-shutdown");
      if (!c->closed()) {
        if (c->ready() && c->proto() == connection::protocol::h2) c->shutdown("client-shutdown");
        if (!c->closed()) c->close("client-shutdown", error::client_shutdown);
      }
    }
    shutdown();
  }

  // ---- Trace ----
  template <class F>
  void emit(F&& build) {
    if (!opts_.trace) return;  // no hook: nothing is built, nothing allocated
    trace::event e;
    e.t = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count();
    build(e);
    opts_.trace(e);
  }

  // ---- Routing (DESIGN section 4) ----
  bool uses_http1(const origin& o) const {
    if (opts_.version == http_version::http1_only) return true;
    if (!o.is_tls()) return opts_.version != http_version::h2_prior_knowledge;
    return h1_origins_.count(o) != 0;
  }

  void route(const std::shared_ptr<request_op>& op) {
    if (op->finished || closed_) return;
    if (++op->routings > 64) return finish(op, error::too_many_retries);  // bound every loop
    const origin& o = op->target.origin;
    if (uses_http1(o)) return route_http1(op);

    // A request with an authority of its own goes only where its URL's origin is: exact origin, never
    // coalesced, whatever the policy for the host (DESIGN section 10). So does one whose connections a
    // connect_to rule sends elsewhere.
    const proxy_server* px = proxy_for(o);
    const any_policy& policy = op->req.authority || connect_rule(o) ? strict_ : opts_.policies.for_host(o.host);
    request_view rv;
    rv.target = o;
    // Through a proxy the client does not know the far address: no DNS match is possible (DESIGN 13).
    if (px) rv.addresses.emplace();
    else if (op->addresses) rv.addresses = address_texts(*op->addresses);
    rv.open_new_when_at_capacity = opts_.open_new_when_at_capacity;
    rv.allow_client_cert_coalescing = opts_.allow_client_cert_coalescing;
    rv.fresh_connection_required = op->fresh_connection;
    // Only the connections that could serve the origin are looked at (DESIGN section 4, steps 1-4): its
    // own, those whose origin set names it, and those on one of its addresses. A standard-order policy
    // is asked over steps 1-2 first: when it reuses its own connection, waits for its own ready one or
    // coalesces by an origin set, nothing further could change that, and the lookup costs what the
    // origin's own connections cost, however many others share its address.
    // The views are built in the pool's scratch vector, borrowed for this decision (a policy or trace
    // hook that starts a request from inside it gets a vector of its own).
    std::vector<connection_view> views = std::move(views_scratch_);
    struct give_back {
      std::vector<connection_view>& from;
      std::vector<connection_view>& to;
      ~give_back() {
        if (to.empty()) to = std::move(from);
      }
    } keep{views, views_scratch_};
    decision d;
    bool settled = false;
    if (policy.standard_order() && !op->fresh_connection) {
      fill_views(views, candidates(o, nullptr, true), o, px);
      if (!views.empty()) {
        d = policy.decide(rv, views);
        settled = settled_in_first_steps(d, views);
        if (settled) {
          enforce(d, views, rv);
          settled = d.action != decision_action::connect;
        }
      }
    }
    if (!settled) {
      const bool skip_pending = policy.standard_order() && !opts_.trace && !opts_.coalesce_pending;
      fill_views(views, candidates(o, op->addresses ? &*op->addresses : nullptr, false, skip_pending), o, px);
      d = policy.decide(rv, views);
    }
    if (!settled && !px && !op->addresses && (d.needs_dns || d.action == decision_action::connect)) {
      // A new connection needs the addresses anyway, and they may reveal a connection to share (step 3).
      return resolve_for(op);
    }
    if (!settled) enforce(d, views, rv);
    if (d.action == decision_action::connect) limit_per_origin(d, *op);
    connection* pending = d.action == decision_action::connect ? pending_to_wait_for(*op, d) : nullptr;
    emit([&](trace::event& e) { describe_decision(e, *op, policy.name(), d); });
    if (pending) {
      op->waited_pending = true;
      pending_waiters_[pending->id()].push_back(op);
      return;
    }
    switch (d.action) {
      case decision_action::reuse:
      case decision_action::coalesce:
      case decision_action::wait:
        if (auto c = find(*d.conn)) {
          // What the connection was opened for decides whether this is coalescing, not the policy's word.
          op->coalesced = c->initial_origin() != o;
          op->basis = op->coalesced ? std::string(to_string(d.basis)) : std::string("same-origin");
          return c->submit(op);
        }
        [[fallthrough]];
      case decision_action::connect:
        op->coalesced = false;
        op->basis = "same-origin";
        return open_connection(op);
    }
  }

  // A decision over steps 1-2 that the rest of the candidates could not change under a standard-order
  // policy: reuse of the origin's own connection, a wait for its own ready (full) one, or coalescing by
  // an origin set, which comes before any DNS match. A wait for its own pending connection is not: a
  // ready connection on one of its addresses would be taken first.
  static bool settled_in_first_steps(const decision& d, const std::vector<connection_view>& views) {
    if (!d.conn || d.needs_dns) return false;
    if (d.action == decision_action::reuse) return true;
    if (d.action == decision_action::coalesce) return d.basis == decision_basis::origin_frame;
    if (d.action != decision_action::wait) return false;
    auto it = std::find_if(views.begin(), views.end(), [&](const connection_view& v) { return v.id == *d.conn; });
    return it != views.end() && it->ready;
  }

  // max_connections_per_origin (DESIGN section 14): at the limit, a request that would open one more
  // connection to its origin waits for a stream on the least loaded one it has.
  void limit_per_origin(decision& d, const request_op& op) {
    if (!opts_.max_connections_per_origin || op.fresh_connection) return;
    auto it = by_origin_.find(op.target.origin);
    if (it == by_origin_.end()) return;
    std::size_t usable = 0;
    connection* best = nullptr;
    for (auto& c : it->second) {
      if (c->closed() || c->draining() || c->proto() == connection::protocol::http1) continue;
      // One that answered this origin 421 serves it no more (RFC 9110 section 15.5.20): not a place to wait.
      if (c->misdirected_for(op.target.origin)) continue;
      ++usable;
      if (!best || c->active() + c->queued() < best->active() + best->queued()) best = c.get();
    }
    if (!best || usable < opts_.max_connections_per_origin) return;
    d.action = decision_action::wait;
    d.conn = best->id();
    d.basis = decision_basis::none;
  }

  // coalesce_pending (DESIGN section 11): instead of connecting, wait for a connection still handshaking
  // whose address is in the request's answer; once it is ready the request is routed again, and the
  // policy then takes it if its certificate covers the host. Turns the decision into that wait.
  connection* pending_to_wait_for(const request_op& op, decision& d) {
    if (!opts_.coalesce_pending || !op.addresses || op.fresh_connection || op.waited_pending || op.req.authority ||
        connect_rule(op.target.origin))
      return nullptr;
    const origin& o = op.target.origin;
    if (!o.is_tls() || opts_.tls.insecure || opts_.tls.has_custom_verifier) return nullptr;
    for (auto& cand : d.candidates) {
      if (cand.reason != reject_reason::not_ready) continue;
      auto it = conns_.find(cand.conn);
      if (it == conns_.end() || it->second->closed() || it->second->ready()) continue;
      connection& c = *it->second;
      if (!c.tls() || c.initial_origin().port != o.port || c.initial_origin().scheme != o.scheme) continue;
      if (c.misdirected_for(o)) continue;
      const asio::ip::address* match = nullptr;
      for (const auto& a : *op.addresses) {
        const bool hit = c.remote().port() != 0 ? c.remote().address() == a
                                                : std::find(c.initial_addresses().begin(), c.initial_addresses().end(), a) !=
                                                      c.initial_addresses().end();
        if (hit) {
          match = &a;
          break;
        }
      }
      if (!match) continue;
      cand.chosen = true;
      cand.reason.reset();
      d.action = decision_action::wait;
      d.conn = c.id();
      d.basis = decision_basis::dns_match;
      d.matched_ip = match->to_string();
      return &c;
    }
    return nullptr;
  }

  // The connection requests waited for (coalesce_pending) is ready, or gone: they are routed again.
  void wake_pending_waiters(std::uint64_t id) {
    auto node = pending_waiters_.extract(id);
    if (node.empty()) return;
    for (auto& op : node.mapped())
      if (!op->finished) asio::post(ex_, [self = shared_from_this(), op] { self->route(op); });
  }

  // Resolves the request's host, sharing one resolution among the requests for the same host and port
  // that arrive meanwhile; they are routed again in arrival order, so the first one's new connection is
  // found pending by the others (step 5), not opened twenty times.
  void resolve_for(const std::shared_ptr<request_op>& op) {
    const origin o = dial_origin(op->target.origin);
    auto key = std::make_pair(o.host, o.port);
    auto [it, fresh] = dns_inflight_.try_emplace(key);
    it->second.push_back(op);
    if (!fresh) return;
    resolve(o, [self = shared_from_this(), key](std::error_code ec, address_list addrs) {
      auto node = self->dns_inflight_.extract(key);
      if (node.empty()) return;
      for (auto& waiting : node.mapped()) {
        if (waiting->finished) continue;
        if (ec) {
          self->finish(waiting, ec);
          continue;
        }
        waiting->addresses = addrs;
        waiting->t_dns = request_op::clock::now();
        self->route(waiting);
      }
    });
  }

  // The connect_to rule for a direct connection to `o` (nullptr: none, or through a proxy).
  const connect_to_rule* connect_rule(const origin& o) const {
    if (opts_.connect_to.empty() || proxy_for(o)) return nullptr;
    for (const auto& r : opts_.connect_to)
      if (r.matches(o.host, o.port)) return &r;
    return nullptr;
  }

  // Where a direct connection for `o` is resolved and dialed: `o`, or the host and port its connect_to
  // rule names instead.
  origin dial_origin(const origin& o) const {
    const connect_to_rule* r = connect_rule(o);
    if (!r) return o;
    origin d = o;
    if (!r->to_host.empty()) d.host = r->to_host;
    if (r->to_port) d.port = r->to_port;
    return d;
  }

  // The connections filed under one key of an index, in the order they were opened (by id). Filing and
  // unfiling are O(log n) however many connections share the key (all of a pool's may share one
  // address); a vector's erase was a scan of them on every close.
  struct by_id {
    bool operator()(const connection* a, const connection* b) const noexcept { return a->id() < b->id(); }
  };
  using connection_list = std::set<connection*, by_id>;

  // The connections worth showing the policy for `target`, each once, in DESIGN section 4's order:
  // steps 1-2 (its own, then those whose origin set names it), then, for the rest, those whose
  // certificate names the host and those on one of its addresses. A connection a connect_to rule sent
  // elsewhere serves its own origin only. `first_steps`: only steps 1-2. `skip_pending`: leave out
  // connections of other origins still establishing (a standard-order policy never takes one; they are
  // listed when a trace hook or coalesce_pending needs them). Each candidate costs O(1): the mark says
  // whether this lookup listed it already.
  std::vector<connection*> candidates(const origin& target, const address_list* addrs, bool first_steps = false,
                                      bool skip_pending = false) {
    std::vector<connection*> out;
    const std::uint64_t mark = ++lookup_mark_;
    auto add_all = [&](const connection_list* list) {
      if (!list) return;
      for (auto* c : *list) {
        if (c->candidate_mark == mark) continue;
        if (c->rerouted() && c->initial_origin() != target) continue;
        if (skip_pending && !c->ready() && c->initial_origin() != target) continue;
        c->candidate_mark = mark;
        out.push_back(c);
      }
    };
    auto exact = by_origin_.find(target);
    if (exact != by_origin_.end()) {
      out.reserve(exact->second.size());
      for (auto& c : exact->second) {
        c->candidate_mark = mark;
        out.push_back(c.get());
      }
    }
    if (target.is_tls()) {
      add_all(lookup(by_origin_set_, target));
      if (first_steps) return out;
      // Connections whose certificate names the host: when they are not shared, the trace says why.
      add_all(lookup(by_san_, target.host));
      if (auto dot = target.host.find('.'); dot != std::string::npos)
        add_all(lookup(by_san_, "*" + target.host.substr(dot)));
      if (addrs)
        for (const auto& a : *addrs) {
          const auto key = endpoint_key(a, target.port);
          add_all(lookup(by_remote_, key));
          add_all(lookup(by_initial_address_, key));
          if (!skip_pending) add_all(lookup(pending_by_address_, key));
        }
    }
    return out;
  }

  template <class Map, class Key>
  static const connection_list* lookup(const Map& m, const Key& k) {
    auto it = m.find(k);
    return it == m.end() ? nullptr : &it->second;
  }

  static std::string endpoint_key(const asio::ip::address& a, std::uint16_t port) {
    return a.to_string() + "|" + std::to_string(port);
  }

  static void unindex(connection_list& list, connection* c) { list.erase(c); }

  static void unindex_key(std::unordered_map<std::string, connection_list>& m, const std::string& key, connection* c) {
    auto it = m.find(key);
    if (it == m.end()) return;
    unindex(it->second, c);
    if (it->second.empty()) m.erase(it);
  }

  // Every connection, in the order they were opened: a copy, for loops that close some of them.
  std::vector<std::shared_ptr<connection>> connections() const {
    std::vector<std::shared_ptr<connection>> out;
    out.reserve(conns_.size());
    for (const auto& [id, c] : conns_) out.push_back(c);
    return out;
  }

  // The security rules, checked again whatever a (user) policy said: never coalesce onto a connection
  // whose verified certificate does not cover the host, that sent a client certificate, or that got 421.
  void enforce(decision& d, const std::vector<connection_view>& views, const request_view& rv) {
    if (!d.conn || d.action == decision_action::connect) return;
    auto it = std::find_if(views.begin(), views.end(), [&](const connection_view& v) { return v.id == *d.conn; });
    std::optional<reject_reason> why;
    if (it == views.end()) why = reject_reason::not_ready;
    else if (!it->same_partition) why = reject_reason::partition;  // DESIGN 1: never across partitions
    else if (it->initial_origin != rv.target) {
      if (!it->tls || !rv.target.is_tls()) why = reject_reason::other_origin;
      // Behind a proxy nothing but the exact origin is known to be served (DESIGN section 13); nor on a
      // connection a connect_to rule sent elsewhere.
      else if (it->via_proxy) why = reject_reason::ip_mismatch;
      else if (auto c = find(it->id); c && c->rerouted()) why = reject_reason::other_origin;
      else if (!it->http2) why = reject_reason::http1;
      else if (it->initial_origin.port != rv.target.port) why = reject_reason::different_port;
      else if (!it->verified || opts_.tls.insecure || opts_.tls.has_custom_verifier) why = reject_reason::unverified;
      else if (it->client_cert && !rv.allow_client_cert_coalescing) why = reject_reason::client_cert;
      else if (std::find(it->misdirected.begin(), it->misdirected.end(), rv.target) != it->misdirected.end())
        why = reject_reason::misdirected;
      else if (!it->cert_covers) why = reject_reason::cert_mismatch;
      else if (it->draining) why = reject_reason::draining;
    } else if (rv.fresh_connection_required) {
      why = reject_reason::misdirected;
    }
    if (!why) return;
    for (auto& c : d.candidates)
      if (c.conn == *d.conn) {
        c.chosen = false;
        c.reason = why;
      }
    d.action = decision_action::connect;
    d.conn.reset();
    d.basis = decision_basis::none;
    d.matched_ip.clear();
  }

  // The proxy requests for `o` go through (nullptr: direct).
  const proxy_server* proxy_for(const origin& o) const { return opts_.proxy.empty() ? nullptr : opts_.proxy.for_origin(o); }

  std::vector<connection_view> build_views(const std::vector<connection*>& conns, const origin& target,
                                           const proxy_server* px) {
    std::vector<connection_view> views;
    fill_views(views, conns, target, px);
    return views;
  }

  // Fills `views` in place: the strings and vectors of views it held before keep their storage, so a
  // decision over connections it saw last time allocates nothing.
  void fill_views(std::vector<connection_view>& views, const std::vector<connection*>& conns, const origin& target,
                  const proxy_server* px) {
    const std::string none;
    const std::string& partition = px ? px->identity() : none;
    std::size_t n = 0;
    for (auto* c : conns) {
      if (c->closed()) continue;
      if (n == views.size()) views.emplace_back();
      connection_view& v = views[n++];  // a reused view: every field is assigned below
      v.id = c->id();
      v.initial_origin = c->initial_origin();
      if (c->ready() || c->remote().port() != 0) {
        v.remote_address = c->remote_address_text();
        v.remote_port = c->remote().port();
      } else {
        v.remote_address.clear();
        v.remote_port = 0;
      }
      v.initial_addresses = c->initial_address_texts();
      v.tls = c->tls();
      v.http2 = c->proto() != connection::protocol::http1;
      v.ready = c->ready();
      v.draining = c->draining();
      v.verified = c->tls_info().verified && !opts_.tls.has_custom_verifier;
      v.client_cert = c->tls_info().client_cert_sent;
      // One client, one set of TLS settings; the proxy (or none) is what parts its connections.
      v.same_partition = c->proxy_identity() == partition;
      v.via_proxy = c->proxy() != nullptr;
      v.cert_covers = c->ready() && c->tls() && c->covers(target.host);
      // Public-key pins: "the certificate is acceptable for the host" is coverage and pins.
      if (v.cert_covers) v.cert_covers = pins_allow(opts_.tls, c->tls_info().leaf.get(), target.host);
      v.at_capacity = c->ready() && c->at_capacity();
      v.origin_set = c->origin_set();
      v.misdirected = c->misdirected();
    }
    views.resize(n);
  }

  void describe_decision(trace::event& e, const request_op& op, std::string_view policy, const decision& d) {
    e.ev = "pool.decision";
    e.add("req", op.id).add("origin", op.target.origin.serialize()).add("policy", std::string(policy));
    e.add("action", std::string(to_string(d.action)));
    if (d.conn) e.add("conn", *d.conn);
    else e.add("conn", next_connection_id_ + 1);  // the connection about to open
    if (d.basis != decision_basis::none) e.add("basis", std::string(to_string(d.basis)));
    else if (d.action == decision_action::connect) e.add("basis", "same-origin");
    if (!d.matched_ip.empty()) e.add("matched_ip", d.matched_ip);
    std::vector<trace::record> cands;
    cands.reserve(d.candidates.size());
    for (const auto& c : d.candidates) {
      trace::record r;
      r.emplace_back("conn", static_cast<std::int64_t>(c.conn));
      r.emplace_back("origin", c.initial_origin.serialize());
      r.emplace_back("verdict", std::string(c.chosen ? "chosen" : "rejected"));
      if (c.reason) r.emplace_back("reason", std::string(to_string(*c.reason)));
      cands.push_back(std::move(r));
    }
    e.add("candidates", std::move(cands));
  }

  void route_http1(const std::shared_ptr<request_op>& op) {
    const origin& o = op->target.origin;
    std::shared_ptr<connection> idle, any_pending;
    std::size_t count = 0;
    std::vector<trace::record> cands;
    std::shared_ptr<connection> lru_idle;  // for a 421 retry at the per-origin limit
    auto it = by_origin_.find(o);
    if (it != by_origin_.end())
      for (auto& c : it->second) {
        if (c->closed() || c->draining()) continue;
        ++count;
        const bool free = c->ready() && c->proto() == connection::protocol::http1 && c->idle();
        if (free && (!lru_idle || c->last_used() < lru_idle->last_used())) lru_idle = c;
        // A 421 retry goes on a fresh connection; a connection that answered 421 for the origin serves it
        // no more (RFC 9110 section 15.5.20, DESIGN section 3), as on HTTP/2.
        if (!idle && free && !op->fresh_connection && !c->misdirected_for(o)) idle = c;
      }
    decision_action action;
    std::shared_ptr<connection> chosen;
    if (idle) {
      action = decision_action::reuse;
      chosen = idle;
    } else if (count < opts_.max_http1_connections_per_origin) {
      action = decision_action::connect;
    } else if (op->fresh_connection && lru_idle) {
      lru_idle->close("connection limit");  // idle: nothing is lost; its place goes to the fresh one
      action = decision_action::connect;
      it = by_origin_.find(o);
    } else {
      action = decision_action::wait;
    }
    emit([&](trace::event& e) {
      e.ev = "pool.decision";
      e.add("req", op->id).add("origin", o.serialize()).add("policy", "http1");
      e.add("action", std::string(to_string(action)));
      if (chosen) e.add("conn", chosen->id());
      else if (action == decision_action::connect) e.add("conn", next_connection_id_ + 1);
      e.add("basis", "same-origin");
      std::vector<trace::record> list;
      if (it != by_origin_.end())
        for (auto& c : it->second) {
          trace::record r;
          r.emplace_back("conn", static_cast<std::int64_t>(c->id()));
          r.emplace_back("origin", o.serialize());
          r.emplace_back("verdict", std::string(c == chosen ? "chosen" : "rejected"));
          if (c != chosen)
            r.emplace_back("reason", std::string(c->draining() ? "draining" : c->misdirected_for(o) || op->fresh_connection ? "misdirected"
                                                 : c->ready() ? "at-capacity" : "not-ready"));
          list.push_back(std::move(r));
        }
      e.add("candidates", std::move(list));
    });
    op->coalesced = false;
    op->basis = "same-origin";
    if (action == decision_action::reuse) return chosen->submit(op);
    if (action == decision_action::connect) return open_connection(op);
    h1_waiters_[o].push_back(op);
  }

  void open_connection(const std::shared_ptr<request_op>& op) {
    const origin o = op->target.origin;
    if (opts_.max_connections && conns_.size() >= opts_.max_connections) {
      // At the total limit: close the least recently used idle connection, or wait for one to close.
      std::shared_ptr<connection> lru;
      for (auto& [id, c] : conns_)
        if (c->ready() && c->idle() && (!lru || c->last_used() < lru->last_used())) lru = c;
      if (!lru) {
        capacity_waiters_.push_back(op);
        return;
      }
      lru->close("connection limit");  // idle: nothing is lost, and the pool forgets it at once
    }
    auto c = std::make_shared<connection>(ex_, *this, opts_, ++next_connection_id_, o);
    op->opened_conn = c->id();
    ++op->connects;
    if (op->preconnect) opened_for_preconnect_.insert(c->id());
    if (op->fresh_connection) c->set_dedicated();
    const proxy_server* px = proxy_for(o);
    c->set_proxy(px);
    if (connect_rule(o)) c->set_rerouted();
    conns_.emplace(c->id(), c);
    by_origin_[o].push_back(c);
    auto& s = summaries_[c->id()];
    s.id = c->id();
    s.origin = o.serialize();
    s.sni = o.is_tls() && !is_ip_literal(o.host) ? o.host : "";
    if (px) s.proxy = px->display();
    c->submit(op);
    if (px) return dial_through_proxy(c);
    if (op->addresses) {
      // Indexed under its addresses at once: a decision made while it is still establishing lists it as
      // a candidate (not-ready), and coalesce_pending can wait for it.
      index_initial_addresses(*c, *op->addresses);
      c->t_dns = op->t_dns != request_op::clock::time_point{} ? op->t_dns : request_op::clock::now();
      asio::post(ex_, [c, self = weak_from_this()] {
        if (auto p = self.lock(); p && !c->closed()) p->dial(c);
      });
    } else {
      resolve(dial_origin(o), [c, self = weak_from_this()](std::error_code ec, address_list addrs) {
        auto p = self.lock();
        if (!p || c->closed()) return;
        if (ec) return c->fail(ec);
        c->t_dns = std::chrono::steady_clock::now();
        p->index_initial_addresses(*c, addrs);
        p->dial(c);
      });
    }
  }

  // Through a proxy the race runs to the proxy's addresses; socks5 (not socks5h) also needs the target's
  // own address, resolved here. The connection is not indexed under any address: it is never a DNS match.
  void dial_through_proxy(const std::shared_ptr<connection>& c) {
    const proxy_server& px = *c->proxy();
    std::error_code literal_ec;
    const auto literal = asio::ip::make_address(px.host, literal_ec);
    if (!literal_ec) {
      asio::post(ex_, [c, self = weak_from_this(), literal] {
        if (auto p = self.lock(); p && !c->closed()) p->dial_proxy_resolved(c, address_list{literal});
      });
      return;
    }
    resolve(origin{"proxy", px.host, px.port}, [c, self = weak_from_this()](std::error_code ec, address_list addrs) {
      auto p = self.lock();
      if (!p || c->closed()) return;
      if (ec) {
        std::string detail = "could not resolve proxy: " + c->proxy()->host;
        if (auto it = p->dns_failures_.find(c->proxy()->host); it != p->dns_failures_.end()) detail += " (" + it->second + ")";
        return c->fail(error::proxy_not_resolved, detail);
      }
      p->dial_proxy_resolved(c, std::move(addrs));
    });
  }

  void dial_proxy_resolved(const std::shared_ptr<connection>& c, address_list proxy_addresses) {
    if (c->proxy()->scheme != proxy_scheme::socks5) return dial(c, proxy_addresses);
    resolve(c->initial_origin(), [c, self = weak_from_this(), proxy_addresses](std::error_code ec, address_list addrs) {
      auto p = self.lock();
      if (!p || c->closed()) return;
      if (ec) return c->fail(ec);
      std::optional<asio::ip::address> target;
      for (const auto& a : addrs)
        if (p->opts_.ip_family == ip_family::any || a.is_v4() == (p->opts_.ip_family == ip_family::v4)) {
          target = a;
          break;
        }
      if (!target) return c->fail(error::host_not_found);
      p->dial(c, proxy_addresses, target);
    });
  }

  // The SSL context an https:// proxy is verified with (its own trust, ALPN http/1.1), made once.
  std::shared_ptr<asio::ssl::context> proxy_context(const proxy_server& px, std::error_code& ec) {
    auto& slot = proxy_ctxs_[px.identity()];
    if (!slot) slot = make_client_context(px.tls, {"http/1.1"}, ec);
    return slot;
  }

  void index_initial_addresses(connection& c, const address_list& addrs) {
    c.set_initial_addresses(addrs);
    if (c.rerouted()) return;  // another host's addresses, or another port: never a DNS match
    for (const auto& a : addrs)
      file_under(c.addresses_ready ? by_initial_address_ : pending_by_address_, endpoint_key(a, c.initial_origin().port),
                 c, c.address_keys);
  }

  // Files c under key in index once, and remembers the key in keys so that forget() unfiles only what
  // was filed.
  static void file_under(std::unordered_map<std::string, connection_list>& index, std::string key,
                         connection& c, std::vector<std::string>& keys) {
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) return;
    index[key].insert(&c);
    keys.push_back(std::move(key));
  }

  // ---- Establishment: the dialer's race and handshake, then the session takes the transport ----
  void dial(const std::shared_ptr<connection>& c) { dial(c, c->initial_addresses()); }

  void dial(const std::shared_ptr<connection>& c, const address_list& addresses,
            std::optional<asio::ip::address> socks_target = std::nullopt) {
    const origin& o = c->initial_origin();
    dial_target t;
    t.host = o.host;
    t.port = dial_origin(o).port;  // the origin's own through a proxy (rules are for direct connections)
    t.tls = o.is_tls();
    t.verify = !opts_.tls.insecure;
    // A session is offered only to the server it was made with (curl keys its cache by the connect-to
    // target too): a connection a connect_to rule sent elsewhere neither offers nor keeps one.
    t.sessions = c->rerouted() ? nullptr : session_cache_;
    t.pins = &opts_.tls;
    for (const auto& a : addresses)
      if (opts_.ip_family == ip_family::any || a.is_v4() == (opts_.ip_family == ip_family::v4)) t.addresses.push_back(a);
    bool absolute_form = false;
    if (const proxy_server* px = c->proxy()) {
      if (t.addresses.empty()) return c->fail(error::proxy_not_resolved, "the proxy has no address of the family asked for");
      auto& dp = t.proxy.emplace();
      dp.scheme = px->scheme;
      dp.host = px->host;
      dp.port = px->port;
      dp.user = px->user;
      dp.password = px->password;
      dp.verify = !px->tls.insecure;
      dp.display = px->display();
      dp.target_address = socks_target;
      if (px->scheme == proxy_scheme::https) {
        std::error_code ctx_ec;
        dp.ctx = proxy_context(*px, ctx_ec);
        if (!dp.ctx) return c->fail(error::invalid_option, "the proxy's TLS options are invalid");
      }
      // http:// through an HTTP proxy: absolute-form requests to the proxy itself; h2c needs a tunnel.
      const bool http_proxy = px->scheme == proxy_scheme::http || px->scheme == proxy_scheme::https;
      absolute_form = http_proxy && !t.tls && opts_.version != http_version::h2_prior_knowledge;
      dp.tunnel = !absolute_form;
    }
    if (t.addresses.empty()) return c->fail(error::host_not_found);  // none of the family asked for
    if (opts_.version == http_version::h2_prior_knowledge) t.alpn_required = "h2";
    else t.alpn_fallback = "http/1.1";  // a TLS server without ALPN speaks HTTP/1.1
    dial_timing timing{opts_.connect_timeout, opts_.handshake_timeout, opts_.connection_attempt_delay};
    auto d = std::make_shared<dialer>(ex_, timing, tls_ctx_, this, c->id());
    c->dial = d;
    const bool h2c = opts_.version == http_version::h2_prior_knowledge;
    std::string proxy_authorization;
    if (absolute_form && c->proxy()->has_credentials())
      proxy_authorization = basic_credentials(c->proxy()->user, c->proxy()->password);
    d->start(std::move(t), [w = std::weak_ptr<connection>(c), h2c, absolute_form,
                            proxy_authorization = std::move(proxy_authorization)](std::error_code ec, dialed r) mutable {
      auto conn = w.lock();
      if (!conn || conn->closed()) {
        if (r.link) r.link->close();
        return;
      }
      conn->dial.reset();
      if (ec) return conn->fail(ec, r.detail, r.proxy_status);
      if (conn->tls()) conn->t_tls = std::chrono::steady_clock::now();
      if (absolute_form) conn->use_absolute_form(std::move(proxy_authorization));
      session::protocol proto;
      if (conn->tls()) {
        if (r.tls.alpn != "h2" && r.tls.alpn != "http/1.1") return conn->fail(error::alpn_mismatch);
        proto = r.tls.alpn == "h2" ? session::protocol::h2 : session::protocol::http1;
      } else {
        r.tls.alpn = h2c ? "h2c" : "http/1.1";
        proto = h2c ? session::protocol::h2 : session::protocol::http1;
      }
      conn->begin(std::move(r.link), std::move(r.tls), proto, r.handshake_deadline);
    });
  }

  // Every resolution goes through the client's DNS cache (DESIGN section 11): answers kept for their TTL
  // (or dns_cache_ttl), one query shared by concurrent callers. A fresh answer that differs from the one
  // held before is a DNS change: traced, and the decisions that follow match against the new addresses.
  template <class F>
  void resolve(const origin& o, F&& done) {
    dns_->async_resolve(
        ex_, o.host, o.port,
        [self = weak_from_this(), host = o.host, done = std::forward<F>(done)](const dns_cache::result& r) mutable {
          auto p = self.lock();
          if (!p || p->closed_) return;
          const auto& a = r.answer.addresses;
          p->emit([&](trace::event& e) {
            e.ev = "dns.done";
            e.add("host", host).add("addrs", address_texts(a));
            if (r.ec) e.add("error", r.answer.reason.empty() ? r.ec.message() : r.ec.message() + " (" + r.answer.reason + ")");
            e.add("us", static_cast<std::int64_t>(r.took.count()));
            e.add("cached", r.from_cache);
          });
          if (r.previous)
            p->emit([&](trace::event& e) {
              e.ev = "dns.changed";
              e.add("host", host).add("addrs", address_texts(a)).add("previous", address_texts(*r.previous));
            });
          if (r.ec && !r.answer.reason.empty()) p->remember_dns_failure(host, r.answer.reason);
          done(r.ec, a);
        });
  }

  // What the DNS server said about a host that did not resolve, for the error_detail of the requests
  // that fail with it (whichever path resolved it). A few hosts only: it is a message, not a cache.
  void remember_dns_failure(const std::string& host, const std::string& reason) {
    if (dns_failures_.size() >= 64) dns_failures_.clear();
    dns_failures_[host] = reason;
  }

  std::shared_ptr<connection> find(std::uint64_t id) const {
    auto it = conns_.find(id);
    return it == conns_.end() || it->second->closed() ? nullptr : it->second;
  }

  void forget(connection& c) {
    if (stopping_) check_stopped();
    opened_for_preconnect_.erase(c.id());
    if (c.dial) {
      c.dial->cancel();
      c.dial.reset();
    }
    wake_pending_waiters(c.id());
    conns_.erase(c.id());
    for (const auto& k : c.san_keys) unindex_key(by_san_, k, &c);
    for (const auto& k : c.address_keys) unindex_key(c.addresses_ready ? by_initial_address_ : pending_by_address_, k, &c);
    if (!c.remote_key.empty()) unindex_key(by_remote_, c.remote_key, &c);
    c.san_keys.clear();
    c.address_keys.clear();
    c.remote_key.clear();
    if (c.origin_set())
      for (const auto& o : *c.origin_set()) {
        auto it = by_origin_set_.find(o);
        if (it == by_origin_set_.end()) continue;
        unindex(it->second, &c);
        if (it->second.empty()) by_origin_set_.erase(it);
      }
    auto it = by_origin_.find(c.initial_origin());
    if (it != by_origin_.end()) {
      std::erase_if(it->second, [&](const std::shared_ptr<connection>& p) { return p.get() == &c; });
      if (it->second.empty()) {
        by_origin_.erase(it);
        // What ALPN chose is remembered while the origin has connections; the next one asks again, so
        // h1_origins_ stays as small as the pool.
        h1_origins_.erase(c.initial_origin());
      }
    }
    if (auto s = summaries_.find(c.id()); s != summaries_.end() && s->second.open) {
      s->second.open = false;
      closed_summaries_.push_back(c.id());
      while (closed_summaries_.size() > opts_.closed_connection_summaries) {
        summaries_.erase(closed_summaries_.front());
        closed_summaries_.pop_front();
      }
    }
  }

  // HTTP/1.1 requests waiting for a connection of their origin get one. route_http1 may add to (and so
  // rehash) h1_waiters_: the queue is looked up again after every call, never held across one.
  void serve_http1_waiters(const origin& o) {
    for (;;) {
      auto it = h1_waiters_.find(o);
      if (it == h1_waiters_.end()) return;
      if (it->second.empty()) {
        h1_waiters_.erase(it);
        return;
      }
      auto op = std::move(it->second.front());
      it->second.pop_front();
      const std::size_t before = it->second.size();
      if (op->finished) continue;
      route_http1(op);
      auto again = h1_waiters_.find(o);
      if (again != h1_waiters_.end() && again->second.size() > before) return;  // back to waiting: none free
    }
  }

  // Requests waiting for room under the total limit (max_connections) get their turn when a connection
  // went away or became idle: open_connection closes the least recently used idle one to make room, so
  // the limit holds and nobody waits for an idle timeout.
  void serve_capacity_waiters() {
    if (serving_capacity_) return;  // routing a waiter closes connections, which calls back here
    serving_capacity_ = true;
    while (!capacity_waiters_.empty()) {
      const bool room = !opts_.max_connections || conns_.size() < opts_.max_connections;
      if (!room && !any_idle_connection()) break;
      auto op = std::move(capacity_waiters_.front());
      capacity_waiters_.pop_front();
      if (op->finished) continue;
      const std::size_t before = capacity_waiters_.size();
      route(op);
      if (capacity_waiters_.size() > before) {  // it went back to waiting, at its old place in the line
        auto again = std::move(capacity_waiters_.back());
        capacity_waiters_.pop_back();
        capacity_waiters_.push_front(std::move(again));
        break;
      }
    }
    serving_capacity_ = false;
  }

  bool any_idle_connection() const {
    for (const auto& [id, c] : conns_)
      if (c->ready() && c->idle() && !c->draining()) return true;
    return false;
  }

  // RFC 8336 section 2.4 / DESIGN section 3: a connection whose origin set is a proper subset of another
  // usable connection's set gets no new streams (the policy sees to that) and is closed once idle, but
  // only when that other connection could really take every one of its origins: the same test the policy
  // applies to a coalescing candidate (certificate, port, misdirected, capacity, verification), so an
  // ORIGIN frame alone, from a server that cannot serve them, closes nobody's connection.
  bool serves_all_of(connection& big, connection& small) {
    if (&big == &small || !big.ready() || big.draining() || big.rerouted() || !big.origin_set() || !small.origin_set())
      return false;
    const auto& b = *big.origin_set();
    const auto& sm = *small.origin_set();
    if (sm.size() >= b.size()) return false;
    std::unordered_set<origin> members;
    if (b.size() > 16) members.insert(b.begin(), b.end());
    std::vector<connection*> one{&big};
    for (const auto& o : sm) {
      const bool in = members.empty() ? std::find(b.begin(), b.end(), o) != b.end() : members.count(o) != 0;
      if (!in) return false;
      auto views = build_views(one, o, big.proxy());
      if (views.empty()) return false;
      request_view rv;
      rv.target = o;
      rv.allow_client_cert_coalescing = opts_.allow_client_cert_coalescing;
      reject_reason why{};
      const auto f = classify(policy_kind::origin, ip_match::connected, rv, views.front(), why);
      if (f != fit::frame && f != fit::exact_usable) return false;
      if (f == fit::frame && (opts_.tls.insecure || opts_.tls.has_custom_verifier)) return false;  // enforce()'s rule
    }
    return true;
  }

  bool subset_candidate(connection& c) const {
    return c.ready() && !c.draining() && c.idle() && c.origin_set() && !c.dedicated() && !c.rerouted() &&
           opts_.policies.for_host(c.initial_origin().host).name() == "origin";  // only it honours ORIGIN frames
  }

  // `c` became idle: is another connection a fitting superset? Any superset holds c's initial origin, so
  // only the connections indexed under it are looked at.
  void close_if_subset(connection& c) {
    if (!subset_candidate(c)) return;
    auto it = by_origin_set_.find(c.initial_origin());
    if (it == by_origin_set_.end()) return;
    for (auto* big : it->second)
      if (serves_all_of(*big, c)) return c.shutdown("proper-subset");
  }

  // `x`'s origin set grew: x itself may now be a subset of another set, and idle connections whose sets
  // x now strictly contains may close. Only connections sharing a member with x are looked at.
  void origin_set_grew(connection& x) {
    std::vector<std::shared_ptr<connection>> doomed;
    std::vector<const connection*> seen{&x};
    for (const auto& o : *x.origin_set()) {
      auto it = by_origin_set_.find(o);
      if (it == by_origin_set_.end()) continue;
      for (auto* y : it->second) {
        if (std::find(seen.begin(), seen.end(), y) != seen.end()) continue;
        seen.push_back(y);
        if (subset_candidate(*y) && serves_all_of(x, *y))
          if (auto p = find(y->id())) doomed.push_back(std::move(p));
      }
    }
    for (auto& y : doomed) y->shutdown("proper-subset");
    close_if_subset(x);
  }

  // DESIGN section 4: once a connection is ready, look again: does another one already serve its origin?
  // Keep both (noted in the trace), or close the new one (close_redundant_connections, as Firefox does).
  bool redundant(connection& c) {
    // A connection opened for a 421 retry exists because the one that "already serves" the origin did
    // not: it is never redundant (closing it would loop, one handshake per retry).
    if (c.proto() != connection::protocol::h2 || !c.tls() || c.dedicated() || c.proxy() || c.rerouted()) return false;
    const auto& policy = opts_.policies.for_host(c.initial_origin().host);
    // strict's answer is always no; asking it would cost every connection on the address, per connection.
    if (policy.never_coalesces()) return false;
    request_view rv;
    rv.target = c.initial_origin();
    rv.addresses = c.initial_address_texts();
    auto views = build_views(candidates(rv.target, &c.initial_addresses()), rv.target, nullptr);
    std::erase_if(views, [&](const connection_view& v) { return v.id == c.id(); });
    auto d = policy.decide(rv, views);
    if (d.action != decision_action::coalesce || !d.conn) return false;
    enforce(d, views, rv);
    if (d.action != decision_action::coalesce) return false;
    emit([&](trace::event& e) {
      e.ev = "conn.redundant";
      e.add("conn", c.id()).add("served_by", *d.conn).add("basis", std::string(to_string(d.basis)));
      e.add("closed", opts_.close_redundant_connections);
    });
    return opts_.close_redundant_connections;
  }

  // ---- dial_observer ----
  void on_dial_attempt(std::uint64_t tag, const asio::ip::tcp::endpoint& remote, unsigned n) override {
    emit([&](trace::event& e) {
      e.ev = "conn.attempt";
      e.add("conn", tag).add("remote", endpoint_text(remote)).add("family", remote.address().is_v6() ? "ipv6" : "ipv4");
      e.add("attempt", static_cast<std::int64_t>(n));
    });
  }

  void on_dial_attempt_failed(std::uint64_t tag, const asio::ip::tcp::endpoint& remote, std::error_code ec) override {
    emit([&](trace::event& e) {
      e.ev = "conn.attempt_failed";
      e.add("conn", tag).add("remote", endpoint_text(remote)).add("error", ec.message());
    });
  }

  void on_dial_connected(std::uint64_t tag, const asio::ip::tcp::endpoint& remote,
                         const asio::ip::tcp::endpoint& local) override {
    auto cp = find(tag);
    if (!cp) return;
    auto& c = *cp;
    c.set_remote(remote);
    c.set_local(local);
    c.t_connected = std::chrono::steady_clock::now();
    // Through a proxy the remote is the proxy's address, never a DNS match for anything.
    if (!c.proxy() && !c.rerouted()) {
      auto key = endpoint_key(c.remote().address(), c.remote().port());
      if (key != c.remote_key) {
        if (!c.remote_key.empty()) unindex_key(by_remote_, c.remote_key, &c);
        by_remote_[key].insert(&c);
        c.remote_key = std::move(key);
      }
    }
    auto& s = summaries_[c.id()];
    s.remote = endpoint_text(c.remote());
    emit([&](trace::event& e) {
      e.ev = "conn.connect";
      e.add("conn", c.id()).add("origin", c.initial_origin().serialize()).add("remote", s.remote);
      e.add("sni", s.sni);
      if (c.proxy()) e.add("proxy", s.proxy);
    });
  }

  void on_proxy_tunnel(std::uint64_t tag, int reply, std::int64_t us, std::error_code ec) override {
    auto cp = find(tag);
    if (!cp || !cp->proxy()) return;
    emit([&](trace::event& e) {
      e.ev = "proxy.tunnel";
      e.add("conn", tag).add("proxy", cp->proxy()->display()).add("status", static_cast<std::int64_t>(reply));
      e.add("us", us);
      if (ec) e.add("error", ec.message());
    });
  }

  void on_connection_ready(session& sc) override {
    auto& c = static_cast<connection&>(sc);
    const auto& t = c.tls_info();
    summaries_[c.id()].alpn = t.alpn;
    summaries_[c.id()].resumed = t.resumed;
    // Its addresses move to the index of ready connections (candidates() may leave the other out).
    if (!c.addresses_ready) {
      for (const auto& k : c.address_keys) {
        unindex_key(pending_by_address_, k, &c);
        by_initial_address_[k].insert(&c);
      }
      c.addresses_ready = true;
    }
    if (c.proto() == connection::protocol::http1) h1_origins_.insert(c.initial_origin());
    else
      for (const auto& san : t.sans) file_under(by_san_, ascii_lowercase(san), c, c.san_keys);
    emit([&](trace::event& e) {
      e.ev = "conn.ready";
      e.add("conn", c.id()).add("alpn", t.alpn).add("tls_version", c.tls() ? t.version : std::string());
      e.add("peer_sans", t.sans).add("verified", t.verified);
      e.add("resumed", t.resumed);
      e.add("max_concurrent_streams", static_cast<std::int64_t>(c.max_concurrent_streams()));
    });
    // Its queued requests go back to the pool, which sends them on the connection that serves them.
    if (redundant(c)) c.close("redundant");
    wake_pending_waiters(c.id());
  }

  void on_connection_failed(session& sc, std::error_code ec) override {
    auto& c = static_cast<connection&>(sc);
    emit([&](trace::event& e) {
      e.ev = "conn.failed";
      e.add("conn", c.id()).add("error", ec.message());
    });
    auto o = c.initial_origin();
    forget(c);
    serve_http1_waiters(o);
    serve_capacity_waiters();
  }

  void on_connection_closed(session& sc, std::string_view reason) override {
    auto& c = static_cast<connection&>(sc);
    emit([&](trace::event& e) {
      e.ev = "conn.close";
      e.add("conn", c.id()).add("reason", std::string(reason)).add("requests", c.requests_carried());
    });
    auto o = c.initial_origin();
    forget(c);
    serve_http1_waiters(o);
    serve_capacity_waiters();
  }

  void on_connection_ping(session& sc, std::chrono::microseconds rtt) override {
    emit([&](trace::event& e) {
      e.ev = "conn.ping";
      e.add("conn", sc.id()).add("rtt_us", static_cast<std::int64_t>(rtt.count()));
    });
  }

  void on_connection_goaway(session& sc, std::int32_t last, std::uint32_t code) override {
    auto& c = static_cast<connection&>(sc);
    emit([&](trace::event& e) {
      e.ev = "conn.goaway";
      e.add("conn", c.id()).add("last_stream_id", static_cast<std::int64_t>(last));
      e.add("error_code", static_cast<std::int64_t>(code));
    });
  }

  // RFC 8336: honoured only on stream 0 of h2 over TLS, flags 0x1-0x8 clear (DESIGN section 3).
  void on_connection_origin(session& sc, std::int32_t stream, std::uint8_t flags,
                            std::vector<std::string> entries) override {
    auto& c = static_cast<connection&>(sc);
    // Through a proxy the client cannot tell whom it reached by address: ORIGIN frames are ignored there.
    bool ignored = stream != 0 || (flags & 0x0f) != 0 || !c.tls() || c.proxy();
    bool truncated = false;
    if (!ignored) {
      auto& set = c.origin_set();
      if (!set) {
        set.emplace().push_back(c.initial_origin());
        by_origin_set_[c.initial_origin()].insert(&c);
      }
      for (const auto& text : entries) {
        auto o = origin::parse(text);
        // Unparsable entries are skipped (RFC 8336 section 2.3), and so are other schemes: a TLS
        // connection serves https origins only; an http:// member would only skew the proper-subset rule.
        if (!o || o->scheme != c.initial_origin().scheme) continue;
        if (std::find(set->begin(), set->end(), *o) != set->end()) continue;
        if (set->size() >= max_origin_set) {
          truncated = true;
          break;
        }
        by_origin_set_[*o].insert(&c);
        set->push_back(std::move(*o));
      }
    }
    emit([&](trace::event& e) {
      e.ev = "conn.origin_frame";
      e.add("conn", c.id()).add("origins", entries);
      std::vector<std::string> after;
      if (c.origin_set())
        for (const auto& o : *c.origin_set()) after.push_back(o.serialize());
      e.add("origin_set", std::move(after));
      if (ignored) e.add("ignored", true);
      if (truncated) e.add("truncated", true);
    });
    if (!ignored && c.origin_set()) origin_set_grew(c);
  }

  void on_connection_available(session& sc) override {
    auto& c = static_cast<connection&>(sc);
    if (c.proto() == connection::protocol::http1) serve_http1_waiters(c.initial_origin());
    else if (c.origin_set() && c.idle()) close_if_subset(c);
    if (!capacity_waiters_.empty() && c.idle() && !c.closed()) serve_capacity_waiters();
  }

  void on_request_sent(request_op& op, session& sc) override {
    auto& c = static_cast<connection&>(sc);
    ++op.resp.attempts;
    op.t_sent = request_op::clock::now();
    if (op.opened_conn == c.id()) {  // the connection made for it: its steps are the request's
      if (op.t_dns == request_op::clock::time_point{}) op.t_dns = c.t_dns;
      op.t_connected = c.t_connected;
      op.t_tls = c.t_tls;
    }
    op.resp.remote_address = c.remote_address_text();
    op.resp.remote_port = c.remote().port();
    op.resp.local_address = c.local_address_text();
    op.resp.local_port = c.local().port();
    auto& s = summaries_[c.id()];
    ++s.requests;
    // The summary lists each origin once; the connection remembers them unserialised, so a request for
    // an origin already listed costs a comparison, not a string.
    if (c.note_origin_sent(op.target.origin)) s.origins.push_back(op.target.origin.serialize());
    emit([&](trace::event& e) {
      e.ev = "request.sent";
      e.add("req", op.id).add("conn", c.id()).add("stream", static_cast<std::int64_t>(op.stream));
    });
  }

  void on_request_done(std::shared_ptr<request_op> op, std::error_code ec) override {
    if (op->finished) return;
    if (!ec && op->decoder) ec = op->finish_decoding(opts_.max_body_size);
    if (!ec && op->resp.status == 421) return misdirected(op);
    if (!ec && op->next != request_op::follow::none) return follow_up(op);
    finish(op, ec);
  }

  // ---- The exchange (DESIGN section 12): the plan made at the final head, once the response is over ----
  void follow_up(const std::shared_ptr<request_op>& op) {
    const auto plan = op->next;
    op->next = request_op::follow::none;
    if (plan == request_op::follow::fail) return finish(op, op->next_error);
    const int status = op->resp.status;
    if (plan == request_op::follow::redirect) {
      emit([&](trace::event& e) {
        e.ev = "request.redirect";
        e.add("req", op->id).add("status", status).add("location", op->next_url).add("hop", op->redirects + 1);
      });
      // The hop's head, for on_redirect once the hop is sure to be followed (the reset below clears it).
      std::optional<response> hop;
      if (op->req.on_redirect) {
        op->fill_path();
        hop = op->resp;
      }
      // The next hop's request first: a 303 that drops the body needs no replay of it.
      if (!next_hop(*op, status)) return finish(op, error::invalid_redirect);
      if (!op->reset_for_retry()) return finish(op, error::body_not_replayable);
      if (hop) {
        auto keep = shared_from_this();  // the callback may let go of the client, and so of the pool
        op->req.on_redirect(*hop);
        if (op->finished || closed_) return;  // it cancelled the request, or shut the client down
      }
      if (op->target.origin.is_tls() && !tls_ctx_) return finish(op, tls_error_ ? tls_error_ : error::invalid_option);
      op->resp.attempts = 0;  // the attempts of the final hop
      op->policy_attempts = 1;
      op->t_hop = request_op::clock::now();
      restart(op);
      return asio::post(ex_, [self = shared_from_this(), op] { self->route(op); });
    }
    emit([&](trace::event& e) {
      e.ev = "request.retry";
      e.add("req", op->id).add("reason", op->retry_reason).add("attempt", op->resp.attempts + 1);
      e.add("delay_ms", static_cast<std::int64_t>(op->next_delay.count()));
    });
    if (!op->reset_for_retry()) return finish(op, error::body_not_replayable);
    ++op->policy_attempts;
    restart(op);
    op->retry_timer = std::make_unique<asio::steady_timer>(ex_, op->next_delay);
    // The timer's handler holds the request: while it waits, nothing else does (live_ holds it weakly).
    // A cancel (finish, shutdown) runs the handler at once and lets go of it.
    op->retry_timer->async_wait([op, self = weak_from_this()](std::error_code e) {
      auto p = self.lock();
      if (!e && p && !op->finished && !p->closed_) p->route(op);
    });
  }

  // A new hop or attempt starts routing afresh: its own DNS answer and decision.
  static void restart(const std::shared_ptr<request_op>& op) {
    op->addresses.reset();
    op->fresh_connection = false;
    op->waited_pending = false;
    op->retried_421 = false;
    op->refused_retried = false;
    op->routings = 0;
  }

  // RFC 9110 section 15.5.20: 421 means this connection is not authoritative for the origin. Retry once
  // on a fresh connection dedicated to it (DESIGN section 3), when the body can be sent again.
  void misdirected(const std::shared_ptr<request_op>& op) {
    const origin& o = op->target.origin;
    auto c = find(op->resp.connection);
    if (c) {
      if (!c->misdirected_for(o)) c->misdirected().push_back(o);
      if (auto& set = c->origin_set(); set && std::erase(*set, o)) {
        auto it = by_origin_set_.find(o);
        if (it != by_origin_set_.end()) {
          unindex(it->second, c.get());
          if (it->second.empty()) by_origin_set_.erase(it);
        }
      }
    }
    emit([&](trace::event& e) {
      e.ev = "request.misdirected";
      e.add("req", op->id).add("conn", op->resp.connection).add("origin", o.serialize());
    });
    if (!op->will_retry_421() || !op->reset_for_retry()) {  // one rule with the one headers_complete() used
      op->notify_response();  // the 421 is the answer after all (its body, dropped for a retry, is gone)
      return finish(op, {});
    }
    op->retried_421 = true;
    op->fresh_connection = true;
    ++op->retries;
    op->addresses.reset();
    emit([&](trace::event& e) {
      e.ev = "request.retry";
      e.add("req", op->id).add("reason", "421").add("attempt", op->resp.attempts + 1);
    });
    asio::post(ex_, [self = shared_from_this(), op] { self->route(op); });
  }

  void on_request_unprocessed(std::shared_ptr<request_op> op, std::string_view reason) override {
    if (op->finished) return;
    // Once the caller's sinks saw a byte of this attempt, it is the answer: no attempt starts over
    // (DESIGN section 10; a server that sent data and then REFUSED_STREAM broke RFC 9113 section 8.7).
    if (op->sink_started) {
      return finish(op, reason == "refused-stream" ? error::refused_stream
                        : reason == "goaway"       ? error::goaway
                                                   : error::connection_closed);
    }
    // A kept-alive connection closed before any response byte: the server may have processed it. Only a
    // request that may be sent twice goes again (RFC 9110 section 9.2.2); the error says it may have been.
    if (reason == "stale-connection" && !op->req.retryable_after_close()) return finish(op, error::connection_closed);
    if (reason == "ping-timeout" && !op->req.retryable_after_close()) return finish(op, error::connection_dead);
    bool counts = reason == "goaway" || reason == "refused-stream" || reason == "stale-connection" ||
                  reason == "ping-timeout";
    if (counts) {
      // REFUSED_STREAM is retried once (DESIGN section 4); GOAWAY retries are bounded by max_retries.
      if (reason == "refused-stream" && op->refused_retried) return finish(op, error::refused_stream);
      if (op->retries >= opts_.max_retries)
        return finish(op, reason == "ping-timeout" ? error::connection_dead : error::too_many_retries);
      if (!op->reset_for_retry()) return finish(op, error::body_not_replayable);
      if (reason == "refused-stream") op->refused_retried = true;
      ++op->retries;
      emit([&](trace::event& e) {
        e.ev = "request.retry";
        e.add("req", op->id).add("reason", std::string(reason)).add("attempt", op->resp.attempts + 1);
      });
    } else if (!op->reset_for_retry()) {
      return finish(op, error::body_not_replayable);
    }
    asio::post(ex_, [self = shared_from_this(), op] { self->route(op); });
  }

  void finish(const std::shared_ptr<request_op>& op, std::error_code ec) {
    if (op->finished) return;
    // No connection was made: nothing was sent, so the retry policy may send it again (DESIGN 12).
    if (ec && op->retry && op->retry->connect_errors && !closed_ && !op->sink_started && is_connect_error(ec) &&
        op->plan_follow_up && plan_retry(*op, std::chrono::milliseconds(0), "connect-error")) {
      return follow_up(op);
    }
    // retry_policy::all_errors: any other failure, for a request that may be sent twice (it may have
    // been processed) and whose sinks saw nothing yet.
    if (ec && op->retry && op->retry->all_errors && !closed_ && !op->sink_started && !is_connect_error(ec) &&
        is_transient_failure(ec) && may_send_twice(op->req) && op->plan_follow_up &&
        plan_retry(*op, std::chrono::milliseconds(0), "error")) {
      return follow_up(op);
    }
    op->finished = true;
    if (op->retry_timer) op->retry_timer->cancel();
    if (op->continue_timer) op->continue_timer->cancel();
    live_.erase(op->id);
    if (stopping_) check_stopped();
    if (op->deadline) op->deadline->cancel();
    if (op->clear_cancellation) op->clear_cancellation();
    op->fill_path();
    op->resp.bytes_sent = op->body_offset;
    op->resp.header_bytes = op->header_bytes;
    {
      using us = std::chrono::microseconds;
      const auto since = [&op](request_op::clock::time_point t) {
        return t == request_op::clock::time_point{} ? us(0) : std::chrono::duration_cast<us>(t - op->t_start);
      };
      auto& tm = op->resp.timings;
      tm.namelookup = since(op->t_dns);
      tm.connect = since(op->t_connected);
      tm.appconnect = since(op->t_tls);
      tm.pretransfer = since(op->t_sent);
      tm.starttransfer = since(op->t_first);
      tm.total = since(request_op::clock::now());
      tm.redirect = op->redirects ? since(op->t_hop) : us(0);
    }
    if ((ec == error::host_not_found || ec == error::resolve_timeout) && op->resp.error_detail.empty()) {
      auto it = dns_failures_.find(dial_origin(op->target.origin).host);
      if (it != dns_failures_.end()) op->resp.error_detail = it->second;
    }
    emit([&](trace::event& e) {
      e.ev = "request.done";
      e.add("req", op->id).add("conn", op->resp.connection).add("status", op->resp.status);
      e.add("bytes", op->resp.body_bytes);
      if (ec) e.add("error", ec.message());
    });
    if (op->complete) {
      auto complete = std::move(op->complete);
      complete(ec, std::move(op->resp));
    }
  }

  static constexpr std::size_t max_origin_set = 256;

  asio::any_io_executor ex_;
  client_options opts_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;
  std::shared_ptr<tls_session_cache> session_cache_;  // null: resumption off
  std::error_code tls_error_;
  std::unique_ptr<dns_cache> dns_;
  std::unordered_map<std::string, std::string> dns_failures_;
  std::unordered_map<std::string, std::shared_ptr<asio::ssl::context>> proxy_ctxs_;  // by proxy identity
  std::chrono::steady_clock::time_point start_;
  bool closed_ = false;
  bool stopping_ = false;           // graceful_shutdown: no new requests
  bool stop_check_posted_ = false;
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::vector<unique_function<void()>> shutdown_waiters_;
  std::unordered_set<std::uint64_t> opened_for_preconnect_;  // connections a preconnect opened, not yet reported
  std::uint64_t next_request_id_ = 0;
  std::uint64_t next_connection_id_ = 0;
  std::uint64_t lookup_mark_ = 0;  // candidates(): one mark per lookup
  std::map<std::uint64_t, std::shared_ptr<connection>> conns_;  // by id (find()), in the order they were opened
  std::vector<connection_view> views_scratch_;  // route()'s views, kept between decisions (fill_views)
  std::unordered_map<origin, std::vector<std::shared_ptr<connection>>> by_origin_;       // initial origin
  std::unordered_map<origin, connection_list> by_origin_set_;            // RFC 8336 sets
  std::unordered_map<std::string, connection_list> by_san_;              // certificate names
  std::unordered_map<std::string, connection_list> by_remote_;           // connected ip|port
  std::unordered_map<std::string, connection_list> by_initial_address_;  // resolved ip|port, ready
  std::unordered_map<std::string, connection_list> pending_by_address_;  // the same, establishing
  std::map<std::pair<std::string, std::uint16_t>, std::vector<std::shared_ptr<request_op>>> dns_inflight_;
  std::unordered_map<origin, std::deque<std::shared_ptr<request_op>>> h1_waiters_;
  std::deque<std::shared_ptr<request_op>> capacity_waiters_;  // waiting for room under max_connections
  std::unordered_map<std::uint64_t, std::vector<std::shared_ptr<request_op>>> pending_waiters_;  // coalesce_pending
  bool serving_capacity_ = false;
  any_policy strict_ = policies::strict();  // for requests with an authority of their own
  std::set<origin> h1_origins_;
  std::unordered_map<std::uint64_t, std::weak_ptr<request_op>> live_;
  std::map<std::uint64_t, connection_summary> summaries_;
  std::deque<std::uint64_t> closed_summaries_;  // ids of closed connections in summaries_, oldest first
};

}  // namespace detail
}  // namespace h2coal
