// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/request_op.hpp: the state of one request while the pool and a connection carry it.
#pragma once

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

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace h2coal::detail {

class session;

struct request_op : std::enable_shared_from_this<request_op> {
  std::uint64_t id = 0;
  h2coal::request req;
  h2coal::url target;
  h2coal::response resp;
  unique_function<void(std::error_code, h2coal::response)> complete;  // called once, then empty

  // Routing state.
  std::optional<address_list> addresses;  // the target host's addresses, once resolved for this attempt
  bool fresh_connection = false;          // a 421 retry: only a new connection dedicated to the origin
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
    notify_response();
  }
  void notify_response() {
    if (sink_started || over()) return;
    if (req.on_response) {
      sink_started = true;
      req.on_response(resp.status, resp.headers);
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

  enum class delivery { more, pause, stop };

  /// Delivers response body bytes (to the sink or the buffer). `stop`: over the limit (local_error says
  /// so), or the request is over and nothing may reach the caller any more.
  delivery deliver(const char* data, std::size_t len, std::size_t limit) {
    if (over()) {
      if (!local_error) local_error = error::cancelled;
      return delivery::stop;
    }
    if (discard_body) return delivery::more;  // a 421 that goes again: not the caller's answer
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

}  // namespace h2coal::detail
