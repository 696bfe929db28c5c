// h2coal/detail/request_op.hpp: the state of one request while the pool and a connection carry it.
#pragma once

#include <h2coal/detail/unique_function.hpp>
#include <h2coal/request.hpp>
#include <h2coal/resolver.hpp>
#include <h2coal/response.hpp>
#include <h2coal/url.hpp>

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <cstring>
#include <functional>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace h2coal::detail {

class connection;

struct request_op {
  std::uint64_t id = 0;
  h2coal::request req;
  h2coal::url target;
  h2coal::response resp;
  unique_function<void(std::error_code, h2coal::response)> complete;  // called once, then empty

  // Routing state.
  std::optional<address_list> addresses;  // the target host's addresses, once resolved for this attempt
  bool fresh_connection = false;          // a 421 retry: only a new connection dedicated to the origin
  bool retried_421 = false;
  bool refused_retried = false;
  unsigned routings = 0;
  unsigned retries = 0;
  bool finished = false;
  bool coalesced = false;
  std::string basis;

  // Where it is now: a connection (queued there, or on stream `stream`), or with the pool.
  std::weak_ptr<connection> conn;
  std::int32_t stream = 0;
  bool sent = false;                      // some of it went on the wire in this attempt

  // Body and response progress of the current attempt.
  std::size_t body_offset = 0;
  bool body_started = false;
  std::size_t header_bytes = 0;
  bool final_headers = false;
  bool response_started = false;          // HTTP/1.1: a byte of the response arrived
  std::error_code local_error;            // an error found while receiving (limits)

  std::unique_ptr<asio::steady_timer> deadline;
  std::function<void()> clear_cancellation;  // disconnects the caller's cancellation slot

  bool is_head() const noexcept { return req.method == "HEAD"; }

  /// Starts the body and response of a new attempt from scratch.
  bool reset_for_retry() {
    if (body_started && !req.replayable()) return false;
    if (req.source && body_started && !req.source->rewind()) return false;
    body_offset = 0;
    body_started = false;
    header_bytes = 0;
    final_headers = false;
    response_started = false;
    local_error.clear();
    sent = false;
    stream = 0;
    conn.reset();
    unsigned attempts = resp.attempts;
    resp = {};
    resp.attempts = attempts;
    return true;
  }

  /// Reads up to `len` bytes of the request body; eof after the last.
  long read_body(char* buf, std::size_t len, bool& eof) {
    body_started = true;
    if (req.source) {
      std::size_t n = req.source->read(std::span<char>(buf, len), eof);
      body_offset += n;
      return static_cast<long>(n);
    }
    std::size_t n = std::min(len, req.body.size() - body_offset);
    std::memcpy(buf, req.body.data() + body_offset, n);
    body_offset += n;
    eof = body_offset == req.body.size();
    return static_cast<long>(n);
  }

  /// Delivers response body bytes (to the sink or the buffer); false when over the limit.
  bool deliver(const char* data, std::size_t len, std::size_t limit) {
    resp.body_bytes += len;
    if (req.on_body) {
      req.on_body(std::string_view(data, len));
      return true;
    }
    if (resp.body.size() + len > limit) {
      local_error = error::body_too_large;
      return false;
    }
    resp.body.append(data, len);
    return true;
  }
};

}  // namespace h2coal::detail
