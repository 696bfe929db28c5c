// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/request_op.hpp: the state of one request while the pool and a connection carry it.
#pragma once

#include <h2coal/detail/decoder.hpp>
#include <h2coal/detail/unique_function.hpp>
#include <h2coal/request.hpp>
#include <h2coal/resolver.hpp>
#include <h2coal/response.hpp>
#include <h2coal/url.hpp>

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace h2coal::detail {

class session;

struct request_op : std::enable_shared_from_this<request_op> {
  std::uint64_t id = 0;
  h2coal::request req;
  h2coal::url target;
  h2coal::response resp;
  // Called once, then empty; it takes the response from the op (an rvalue: no copy, no move on the way).
  unique_function<void(std::error_code, h2coal::response&&)> complete;

  // Routing state.
  std::optional<address_list> addresses;  // the target host's addresses, once resolved for this attempt
  bool fresh_connection = false;          // a 421 retry: only a new connection dedicated to the origin
  bool preconnect = false;                // client::async_preconnect: completes once a connection takes it
  bool waited_pending = false;            // coalesce_pending: it waited for a handshake once already
  bool retried_421 = false;
  bool refused_retried = false;
  unsigned routings = 0;
  unsigned retries = 0;
  bool finished = false;
  /// Cancellation was asked for (from any thread); nothing more is delivered even before the pool's
  /// executor gets to finish the request.
  std::atomic<bool> cancel_requested{false};
  unsigned max_retries = 0;               // client_options::max_retries, for the 421 rule below
  bool coalesced = false;
  std::string basis;

  // Where it is now: a connection (queued there, or on stream `stream`), or with the pool.
  std::weak_ptr<session> conn;
  std::int32_t stream = 0;
  bool sent = false;                      // some of it went on the wire in this attempt

  // Body and response progress of the current attempt.
  std::size_t body_offset = 0;
  bool body_started = false;
  std::size_t header_bytes = 0;
  bool final_headers = false;
  bool head_notified = false;             // headers_complete() ran for this attempt's final response
  bool response_started = false;          // HTTP/1.1: a byte of the response arrived
  bool body_done = false;                 // the whole request body went out (its last write completed)
  bool discard_body = false;              // this attempt's response is a 421 that will be retried
  std::error_code local_error;            // an error found while receiving (limits) or sending (the body)

  // The caller's sinks saw something (on_response, a body byte): from then on the response is theirs,
  // and no attempt may start over (DESIGN section 10).
  bool sink_started = false;
  resume_handle resume;                   // made once, by the connection, for a sink that may pause

  // HTTP/2 flow control of a paused sink: bytes that arrived after the pause, and how many received
  // bytes were not yet given back to the windows (nghttp2_session_consume).
  bool paused = false;
  std::string held;
  std::size_t unconsumed = 0;
  bool stream_closed = false;             // the stream ended while paused: complete once `held` is out
  std::uint32_t close_code = 0;
  bool close_complete = false;

  // A body source that had nothing to give and has no wait(): asked again after this (growing) delay.
  std::chrono::milliseconds source_backoff{0};
  std::unique_ptr<asio::steady_timer> source_timer;

  std::unique_ptr<asio::steady_timer> deadline;
  std::function<void()> clear_cancellation;  // disconnects the caller's cancellation slot

  // The exchange (DESIGN section 12, detail/exchange.hpp): what the final response's head asked for, done
  // once that response is over. Each hop and each retry goes to the pool again, with its own decision.
  enum class follow { none, redirect, retry, fail };
  bool (*plan_follow_up)(request_op&) = nullptr;  // set when redirects or a retry policy are on
  const retry_policy* retry = nullptr;            // the request's, or the client's
  follow next = follow::none;
  std::string next_url;                           // redirect: the Location, resolved
  std::error_code next_error;                     // fail: why the redirect is not followed
  std::chrono::milliseconds next_delay{0};        // retry: how long to wait first
  std::string retry_reason;                       // retry: "status-503", "connect-error"
  unsigned redirects = 0;
  unsigned connects = 0;  // connections opened for it, every hop and attempt (curl's num_connects)
  unsigned policy_attempts = 1;                   // attempts counted by the retry policy, the first included
  std::vector<std::string> visited;               // "METHOD url" of every hop, to see a loop
  std::unique_ptr<asio::steady_timer> retry_timer;

  // Content decoding (request::decompress): the decoder of this attempt's final response, and what
  // arrived while it was stopped by a paused sink.
  std::unique_ptr<content_decoder> decoder;
  std::string decoder_backlog;

  // Timings (response::timings), on the steady clock: the exchange's start and the current hop's, and
  // what this attempt reached when. `opened_conn` is the connection a connect decision opened for it.
  using clock = std::chrono::steady_clock;
  clock::time_point t_start{}, t_hop{}, t_dns{}, t_connected{}, t_tls{}, t_sent{}, t_first{};
  std::uint64_t opened_conn = 0;
  std::size_t trailer_bytes = 0;

  // Expect: 100-continue (client_options::expect_continue_threshold): the body waits for the server's
  // 100 or the timer; a final status first means it is never sent.
  bool expect_continue = false;
  bool awaiting_continue = false;
  bool continue_refused = false;
  std::unique_ptr<asio::steady_timer> continue_timer;

  /// The wait for 100 Continue ends: with the 100 or the timer (`go`), or with a final status.
  void end_continue_wait(bool go) {
    awaiting_continue = false;
    if (!go) continue_refused = true;
    if (continue_timer) continue_timer->cancel();
  }

  /// A response byte arrived (starttransfer).
  void first_byte() noexcept {
    if (t_first == clock::time_point{}) t_first = clock::now();
  }

  bool is_head() const noexcept { return req.method == "HEAD"; }
  /// Nothing may reach the caller's sinks any more.
  bool over() const noexcept { return finished || cancel_requested.load(std::memory_order_relaxed); }

  /// RFC 9110 section 15.5.20 / DESIGN section 3: whether a 421 to this attempt will be retried.
  bool will_retry_421() const noexcept {
    return !retried_421 && retries < max_retries && !sink_started && (!body_started || req.replayable());
  }

  /// The final response's head is complete: tell on_response, or mark a 421 that goes again as not the
  /// caller's (its body is dropped, DESIGN section 10).
  void headers_complete() {
    if (resp.status == 421 && will_retry_421()) {
      discard_body = true;
      return;
    }
    // A redirect that is followed, or a status that is retried: not the caller's answer either.
    next = follow::none;
    if (plan_follow_up && !sink_started && plan_follow_up(*this)) {
      discard_body = true;
      return;
    }
    if (req.decompress) start_decoding();
    notify_response();
  }

  /// request::decompress: a decoder for the codings of the response's Content-Encoding fields (all of
  /// them, in order), when it has a body and this build undoes the last coding.
  void start_decoding() {
    if (is_head() || resp.status == 204 || resp.status == 304) return;
    std::string codings;
    for (const auto& [name, value] : resp.headers) {
      if (!iequals(name, "content-encoding")) continue;
      if (!codings.empty()) codings += ", ";
      codings += value;
    }
    if (codings.empty()) return;
    decoder = content_decoder::make(codings, resp.undecoded_encoding);
    resp.decoded = decoder != nullptr;
  }

  /// Decoded output kept by a stopped decoder, or input that waits for it: a resume must deliver it even
  /// when no new byte arrives.
  bool decoder_pending() const noexcept { return decoder && (decoder->stopped() || !decoder_backlog.empty()); }

  /// The body ended: what the decoder still holds goes out (a pause is not honoured here: the stream is
  /// over, no window is held open by it), and a truncated stream fails (error::decoding_failed).
  std::error_code finish_decoding(std::size_t limit) {
    if (!decoder || discard_body) return {};
    bool stop = false;
    auto out = [&](std::string_view piece) {
      if (deliver_plain(piece.data(), piece.size(), limit) != delivery::stop) return true;
      stop = true;
      return false;
    };
    std::error_code ec;
    if (decoder->stopped()) ec = decoder->resume(out);
    if (!ec && !stop && !decoder_backlog.empty()) {
      std::string backlog = std::move(decoder_backlog);
      decoder_backlog.clear();
      ec = decoder->write(backlog, out);
    }
    if (!ec && !stop) ec = decoder->finish(out);
    if (stop) return local_error ? local_error : std::error_code(error::cancelled);
    return ec;
  }
  /// What the completion will say about the path, known already at a head (a head sink may ask).
  void fill_path() {
    resp.coalesced = coalesced;
    resp.basis = basis;
    resp.effective_url = req.url;
    resp.redirects = redirects;
    resp.connects = connects;
  }

  void notify_response() {
    if (sink_started || over()) return;
    if (req.on_response) {
      sink_started = true;
      fill_path();
      req.on_response(resp);
    }
  }

  /// Starts the body and response of a new attempt from scratch.
  bool reset_for_retry() {
    if (sink_started) return false;  // the caller saw this attempt's answer: it is the answer
    if (body_started && !req.replayable()) return false;
    if (req.source && body_started && !req.source->rewind()) return false;
    body_offset = 0;
    body_started = false;
    body_done = false;
    discard_body = false;
    header_bytes = 0;
    final_headers = false;
    head_notified = false;
    response_started = false;
    paused = false;
    decoder.reset();
    decoder_backlog.clear();
    t_dns = t_connected = t_tls = t_sent = t_first = clock::time_point{};
    opened_conn = 0;
    trailer_bytes = 0;
    awaiting_continue = continue_refused = false;
    if (continue_timer) continue_timer->cancel();
    held.clear();
    unconsumed = 0;
    stream_closed = false;
    local_error.clear();
    sent = false;
    stream = 0;
    conn.reset();
    unsigned attempts = resp.attempts;
    resp = {};
    resp.attempts = attempts;
    return true;
  }

  /// Reads up to `len` bytes of the request body; eof after the last. -1 when the source broke its word
  /// (more than `len`, more or fewer bytes than its declared length): local_error says so.
  long read_body(char* buf, std::size_t len, bool& eof) {
    body_started = true;
    if (req.source) {
      eof = false;
      std::size_t n = req.source->read(std::span<char>(buf, len), eof);
      const auto& declared = req.source->length;
      if (n > len || (declared && (n > *declared - body_offset || (eof && body_offset + n != *declared)))) {
        local_error = error::body_length_mismatch;  // a longer body would be a second message on the wire
        return -1;
      }
      body_offset += n;
      if (n > 0) source_backoff = std::chrono::milliseconds(0);
      return static_cast<long>(n);
    }
    std::size_t n = std::min(len, req.body.size() - body_offset);
    std::memcpy(buf, req.body.data() + body_offset, n);
    body_offset += n;
    eof = body_offset == req.body.size();
    return static_cast<long>(n);
  }

  /// The source's trailer fields once its body ended (body_source::trailers), names lowercase; an invalid
  /// one sets local_error (error::invalid_header) and none are sent.
  fields take_trailers() {
    fields out;
    if (!req.source || !req.source->trailers) return out;
    for (const auto& [name, value] : req.source->trailers()) {
      if (!is_token(name) || !is_field_value(value) || is_connection_specific(name) || is_framing_field(name) ||
          iequals(name, "trailer") || iequals(name, "authorization") || iequals(name, "content-encoding") ||
          iequals(name, "content-type") || iequals(name, "content-range") || iequals(name, "expect")) {
        local_error = error::invalid_header;
        return {};
      }
      out.add(ascii_lowercase(name), value);
    }
    return out;
  }

  enum class delivery { more, pause, stop };

  /// Delivers response body bytes (to the sink or the buffer). `stop`: over the limit (local_error says
  /// so), or the request is over and nothing may reach the caller any more.
  delivery deliver(const char* data, std::size_t len, std::size_t limit) {
    if (over()) {
      if (!local_error) local_error = error::cancelled;
      return delivery::stop;
    }
    if (discard_body) return delivery::more;  // a 421 that goes again: not the caller's answer
    resp.bytes_received += len;
    if (decoder) return decode(std::string_view(data, len), limit);
    return deliver_plain(data, len, limit);
  }

  /// Through the decoder: its output in pieces, as far as the sink takes them; what the decoder could not
  /// take while stopped waits in decoder_backlog (the caller's bytes are transient).
  delivery decode(std::string_view in, std::size_t limit) {
    delivery result = delivery::more;
    auto out = [&](std::string_view piece) {
      result = deliver_plain(piece.data(), piece.size(), limit);
      return result == delivery::more;
    };
    std::error_code ec;
    if (decoder->stopped()) {
      ec = decoder->resume(out);
      if (!ec && decoder->stopped()) {
        decoder_backlog.append(in);
        return result;
      }
    }
    if (!ec && !decoder_backlog.empty()) {
      std::string backlog = std::move(decoder_backlog);
      decoder_backlog.clear();
      ec = decoder->write(backlog, out);
      if (!ec && decoder->stopped()) {
        decoder_backlog.append(in);
        return result;
      }
    }
    if (!ec && !in.empty()) ec = decoder->write(in, out);
    if (ec) {
      local_error = ec;
      return delivery::stop;
    }
    return result;
  }

  /// Delivers body bytes as the caller gets them (decoded) to the sink or the buffer.
  delivery deliver_plain(const char* data, std::size_t len, std::size_t limit) {
    if (over()) {
      if (!local_error) local_error = finished ? error::client_shutdown : error::cancelled;
      return delivery::stop;
    }
    resp.body_bytes += len;
    if (req.on_body) {
      notify_response();
      sink_started = true;
      const auto action = req.on_body(std::string_view(data, len), resume);
      if (over()) {  // the sink cancelled the request, or closed the client
        if (!local_error) local_error = finished ? error::client_shutdown : error::cancelled;
        return delivery::stop;
      }
      return action == body_action::pause ? delivery::pause : delivery::more;
    }
    if (resp.body.size() + len > limit) {
      local_error = error::body_too_large;
      return delivery::stop;
    }
    resp.body.append(data, len);
    return delivery::more;
  }
};

// A request_op (with its shared_ptr control block, ~1.9 KiB) is made and freed once per request. Blocks
// that size are past glibc's per-thread cache (1,032 bytes): each took the allocator's slow path, which
// also consolidates its fast bins first (4% of a 100-stream run's instructions). Up to 128 freed blocks
// are kept per thread and handed out again: responses finish in bursts (one read completes dozens of
// streams, and their handlers then start as many requests), so the list must cover a burst; with 16,
// 100 streams still missed it on most requests. The thread's list is plain data (usable up to the
// thread's very end); what it holds is freed when the thread ends, and blocks freed after that go to
// the allocator.
template <std::size_t Size>
class block_cache {
 public:
  static constexpr unsigned capacity = 128;

  static void* take() {
    auto& s = local();
    return s.count ? s.blocks[--s.count] : ::operator new(Size);
  }
  static void give(void* p) noexcept {
    auto& s = local();
    if (!s.closed && s.count < capacity) {
      thread_local releaser r;  // made on the thread's first give: frees the list when the thread ends
      r.touch();
      s.blocks[s.count++] = p;
      return;
    }
    ::operator delete(p);
  }

 private:
  struct state {
    void* blocks[capacity];
    unsigned count;
    bool closed;
  };
  static state& local() noexcept {
    thread_local state s{};
    return s;
  }
  struct releaser {
    void touch() noexcept {}
    ~releaser() {
      auto& s = local();
      s.closed = true;
      while (s.count) ::operator delete(s.blocks[--s.count]);
    }
  };
};

template <class T>
struct recycling_allocator {
  using value_type = T;
  recycling_allocator() = default;
  template <class U>
  recycling_allocator(const recycling_allocator<U>&) noexcept {}
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  T* allocate(std::size_t n) {
    if (n != 1) return static_cast<T*>(::operator new(n * sizeof(T)));
    return static_cast<T*>(block_cache<sizeof(T)>::take());
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n != 1) return ::operator delete(p);
    block_cache<sizeof(T)>::give(p);
  }
  template <class U>
  bool operator==(const recycling_allocator<U>&) const noexcept { return true; }
};

/// A new request_op, in a block the thread may have used for an earlier one.
inline std::shared_ptr<request_op> make_request_op() {
  return std::allocate_shared<request_op>(recycling_allocator<request_op>{});
}

}  // namespace h2coal::detail
