// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/h2_engine.hpp: the HTTP/2 client protocol engine (nghttp2), without I/O.
//
// Bytes from the network go in through feed(); bytes to send come out of take_output(). Events reach a
// listener. nghttp2 is never re-entered from its own callbacks: work a listener asks for during a feed()
// (stream resets) is queued and applied when feed() returns.
#pragma once

#include <h2coal/error.hpp>
#include <h2coal/request.hpp>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace h2coal::detail {

class h2_listener {
 public:
  virtual ~h2_listener() = default;
  /// A response header field (pseudo-headers included); false resets the stream.
  virtual bool on_h2_header(std::int32_t stream, std::string_view name, std::string_view value) = 0;
  /// A header block ended (a 1xx, the final headers, or trailers).
  virtual void on_h2_headers_end(std::int32_t stream) = 0;
  /// Response body bytes. `consumed`: they are used up, the windows reopen by as much; `held`: the
  /// listener keeps them and calls consume() once they are used (flow control, DESIGN section 10);
  /// `reset`: the stream is reset with CANCEL.
  enum class data_result { consumed, held, reset };
  virtual data_result on_h2_data(std::int32_t stream, const std::uint8_t* data, std::size_t len) = 0;
  /// The stream closed. `complete` when the whole response arrived (END_STREAM seen).
  virtual void on_h2_stream_close(std::int32_t stream, std::uint32_t error_code, bool complete) = 0;
  /// The server ended its side of the stream (END_STREAM); ours may still be open.
  virtual void on_h2_remote_end(std::int32_t /*stream*/) {}
  /// The server's SETTINGS arrived (the first one makes the connection usable).
  virtual void on_h2_settings() = 0;
  virtual void on_h2_goaway(std::int32_t last_stream_id, std::uint32_t error_code) = 0;
  /// An ORIGIN frame (RFC 8336) on `stream` with `flags`; entries as received.
  virtual void on_h2_origin(std::int32_t stream, std::uint8_t flags, std::vector<std::string> entries) = 0;
  /// A request body source wants to be read: fill buffer, set eof; return bytes or -1 on error.
  virtual long on_h2_body_read(std::int32_t stream, std::uint8_t* buf, std::size_t len, bool& eof) = 0;
  /// After the body's last byte: trailer fields to send as trailing HEADERS (lowercase names), or none.
  virtual fields on_h2_body_trailers(std::int32_t /*stream*/) { return {}; }
  /// The peer acknowledged a PING of ours (RFC 9113 section 6.7) with these 8 opaque bytes.
  virtual void on_h2_ping_ack(std::uint64_t /*opaque*/) {}
};

struct h2_settings {
  std::uint32_t stream_window = 16 * 1024 * 1024;
  std::uint32_t connection_window = 64 * 1024 * 1024;
  std::uint32_t max_header_list_size = 64 * 1024;
};

class h2_engine {
 public:
  h2_engine(h2_listener& l, const h2_settings& s) : listener_(l) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &h2_engine::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &h2_engine::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &h2_engine::on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &h2_engine::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &h2_engine::on_frame_not_send);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &h2_engine::on_frame_send);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_ORIGIN);
    // Manual flow control: a window reopens only as far as the application used the data (consume()), so a
    // sink that pauses keeps its stream's window shut. nghttp2 still counts padding and DATA of streams it
    // ignores as consumed by itself.
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
    nghttp2_session_client_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);

    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s.stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, s.max_header_list_size},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    if (s.connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                            static_cast<std::int32_t>(s.connection_window));
  }

  h2_engine(const h2_engine&) = delete;
  h2_engine& operator=(const h2_engine&) = delete;
  ~h2_engine() { nghttp2_session_del(session_); }

  /// Feeds bytes received from the peer. An error means the connection is unusable.
  std::error_code feed(const std::uint8_t* data, std::size_t len) {
    // nghttp2 clears an ORIGIN frame's flags before reporting it (and itself ignores only flags 0xf0,
    // where RFC 8336 section 2.3 says 0x1-0x8). So the bytes go in pieces that end where an ORIGIN frame
    // ends, and on_frame_recv reads that frame's flags as they came on the wire.
    while (len > 0) {
      const std::size_t n = next_piece(data, len);
      auto rv = nghttp2_session_mem_recv(session_, data, n);
      apply_deferred();
      if (rv < 0) return error::protocol_error;
      data += n;
      len -= n;
    }
    return {};
  }

  /// Appends everything nghttp2 wants to send now to `out` (up to about `limit` bytes).
  std::error_code take_output(std::string& out, std::size_t limit = 256 * 1024) {
    while (out.size() < limit) {
      const std::uint8_t* p = nullptr;
      auto n = nghttp2_session_mem_send(session_, &p);
      if (n < 0) return error::protocol_error;
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    }
    apply_deferred();
    return {};
  }

  bool want_read() const { return nghttp2_session_want_read(session_) != 0; }
  bool want_write() const { return nghttp2_session_want_write(session_) != 0; }

  /// Opens a stream for a request. Returns the stream id, or a negative nghttp2 error when refused
  /// (NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE once stream ids ran out, or after GOAWAY). With `has_body` the
  /// listener's on_h2_body_read supplies it. The caller's Host and Content-Length are not sent (DESIGN
  /// section 10: :authority and the body's own `content_length` are).
  std::int32_t submit(const std::string& method, const std::string& scheme, std::string_view authority,
                      const std::string& path, const fields& headers, bool has_body,
                      std::optional<std::size_t> content_length = std::nullopt) {
    std::vector<nghttp2_nv> nva;
    nva.reserve(headers.size() + 4);
    auto push = [&](std::string_view n, std::string_view v, std::uint8_t flags) {
      nva.push_back({const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(n.data())),
                     const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(v.data())), n.size(),
                     v.size(), flags});
    };
    push(":method", method, NGHTTP2_NV_FLAG_NO_COPY_NAME);
    push(":scheme", scheme, NGHTTP2_NV_FLAG_NO_COPY_NAME);
    push(":authority", authority, NGHTTP2_NV_FLAG_NO_COPY_NAME);
    push(":path", path, NGHTTP2_NV_FLAG_NO_COPY_NAME);
    // Reserved whole first: nva points into lowered_'s strings, which must not move while it fills.
    lowered_.clear();
    lowered_.reserve(headers.size() + 1);
    for (const auto& [n, v] : headers) {
      if (iequals(n, "host") || iequals(n, "content-length")) continue;  // :authority and our own length
      // RFC 9113 section 8.2.1: field names are lowercase on the wire.
      auto& lower = lowered_.emplace_back(n);
      for (auto& c : lower) c = ascii_lower(c);
      push(lower, v, NGHTTP2_NV_FLAG_NONE);
    }
    if (content_length) push("content-length", lowered_.emplace_back(std::to_string(*content_length)),
                             NGHTTP2_NV_FLAG_NO_COPY_NAME);
    nghttp2_data_provider provider{};
    provider.read_callback = &h2_engine::read_body;
    return nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), has_body ? &provider : nullptr,
                                  nullptr);
  }

  /// Resumes a body whose source had nothing to give.
  void resume_body(std::int32_t stream) { nghttp2_session_resume_data(session_, stream); }

  /// `n` held bytes of `stream` were used: both windows may reopen by as much (WINDOW_UPDATE).
  void consume(std::int32_t stream, std::size_t n) {
    if (n) nghttp2_session_consume(session_, stream, n);
  }
  /// Held bytes of a stream that is gone: only the connection's window reopens.
  void consume_connection(std::size_t n) {
    if (n) nghttp2_session_consume_connection(session_, n);
  }
  /// Tests only: the id the next request's stream gets (odd), to reach the end of the stream id space.
  void set_next_stream_id(std::int32_t id) { nghttp2_session_set_next_stream_id(session_, id); }

  /// Resets a stream (queued when called from inside a callback).
  void reset(std::int32_t stream, std::uint32_t code) {
    if (in_callback_) {
      deferred_resets_.emplace_back(stream, code);
      return;
    }
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, code);
  }

  /// Sends a PING (RFC 9113 section 6.7) carrying `opaque`; its ACK comes to on_h2_ping_ack.
  void ping(std::uint64_t opaque) {
    std::uint8_t bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(opaque >> (56 - 8 * i));
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, bytes);
  }

  /// GOAWAY(NO_ERROR) that lets the streams in flight finish (last stream id 0: a client serves no
  /// pushed streams). nghttp2 would still open new streams after it (only a GOAWAY received or a
  /// terminating one stops them): the session stops submitting (draining) before it sends this.
  void goaway_graceful() { nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0); }

  /// Graceful close from our side: GOAWAY(NO_ERROR).
  void terminate(std::uint32_t code = NGHTTP2_NO_ERROR) { nghttp2_session_terminate_session(session_, code); }

  std::uint32_t peer_max_concurrent_streams() const {
    return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  }
  std::uint32_t peer_settings_count() const { return settings_seen_; }
  /// The error code of a GOAWAY this side sent with an error: nghttp2 found a connection error in what
  /// the peer sent (bad HPACK, a frame over the size limit, ...) and ends the session. 0 when none.
  std::uint32_t sent_goaway_error() const noexcept { return sent_goaway_error_; }
  nghttp2_session* native_handle() const noexcept { return session_; }

 private:
  struct callback_scope {
    explicit callback_scope(h2_engine& e) : e_(e), prev_(e.in_callback_) { e.in_callback_ = true; }
    ~callback_scope() { e_.in_callback_ = prev_; }
    h2_engine& e_;
    bool prev_;
  };

  void apply_deferred() {
    auto resets = std::move(deferred_resets_);
    deferred_resets_.clear();
    for (auto [s, c] : resets) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s, c);
  }

  static h2_engine& self(void* p) { return *static_cast<h2_engine*>(p); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* ud) {
    auto& e = self(ud);
    callback_scope scope(e);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    bool ok = e.listener_.on_h2_header(frame->hd.stream_id,
                                       {reinterpret_cast<const char*>(name), namelen},
                                       {reinterpret_cast<const char*>(value), valuelen});
    return ok ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    auto& e = self(ud);
    callback_scope scope(e);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        e.listener_.on_h2_headers_end(frame->hd.stream_id);
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          e.mark_complete(frame->hd.stream_id);
          e.listener_.on_h2_remote_end(frame->hd.stream_id);
        }
        break;
      case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          e.mark_complete(frame->hd.stream_id);
          e.listener_.on_h2_remote_end(frame->hd.stream_id);
        }
        break;
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
          ++e.settings_seen_;
          e.listener_.on_h2_settings();
        }
        break;
      case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
          std::uint64_t opaque = 0;
          for (int i = 0; i < 8; ++i) opaque = (opaque << 8) | frame->ping.opaque_data[i];
          e.listener_.on_h2_ping_ack(opaque);
        }
        break;
      case NGHTTP2_GOAWAY:
        e.listener_.on_h2_goaway(frame->goaway.last_stream_id, frame->goaway.error_code);
        break;
      case NGHTTP2_ORIGIN: {
        auto* o = static_cast<const nghttp2_ext_origin*>(frame->ext.payload);
        std::vector<std::string> entries;
        if (o) {
          entries.reserve(o->nov);
          for (std::size_t i = 0; i < o->nov; ++i)
            entries.emplace_back(reinterpret_cast<const char*>(o->ov[i].origin), o->ov[i].origin_len);
        }
        e.listener_.on_h2_origin(frame->hd.stream_id, e.origin_flags_, std::move(entries));
        break;
      }
      default:
        break;
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream, const std::uint8_t* data,
                           std::size_t len, void* ud) {
    auto& e = self(ud);
    callback_scope scope(e);
    switch (e.listener_.on_h2_data(stream, data, len)) {
      case h2_listener::data_result::consumed: nghttp2_session_consume(e.session_, stream, len); break;
      case h2_listener::data_result::held: break;
      case h2_listener::data_result::reset:
        nghttp2_session_consume(e.session_, stream, len);
        e.reset(stream, NGHTTP2_CANCEL);
        break;
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream, std::uint32_t code, void* ud) {
    auto& e = self(ud);
    callback_scope scope(e);
    bool complete = false;
    for (auto it = e.complete_.begin(); it != e.complete_.end(); ++it)
      if (*it == stream) {
        complete = true;
        e.complete_.erase(it);
        break;
      }
    e.listener_.on_h2_stream_close(stream, code, complete);
    return 0;
  }

  // A request that could not be sent (GOAWAY arrived first, or the stream limit): it was never processed.
  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int, void* ud) {
    auto& e = self(ud);
    callback_scope scope(e);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->hd.stream_id > 0)
      e.listener_.on_h2_stream_close(frame->hd.stream_id, NGHTTP2_REFUSED_STREAM, false);
    return 0;
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR)
      self(ud).sent_goaway_error_ = frame->goaway.error_code;
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t stream, std::uint8_t* buf, std::size_t len,
                           std::uint32_t* flags, nghttp2_data_source*, void* ud) {
    auto& e = self(ud);
    callback_scope scope(e);
    bool eof = false;
    long n = e.listener_.on_h2_body_read(stream, buf, len, eof);
    if (n < 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      // Trailing HEADERS end the stream instead of this DATA frame (RFC 9113 section 8.1); nghttp2
      // takes them from inside this callback once NO_END_STREAM is set.
      fields t = e.listener_.on_h2_body_trailers(stream);
      if (!t.empty()) {
        std::vector<nghttp2_nv> nva;
        nva.reserve(t.size());
        for (const auto& [name, value] : t)
          nva.push_back({const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
                         const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())), name.size(),
                         value.size(), NGHTTP2_NV_FLAG_NONE});
        if (nghttp2_submit_trailer(e.session_, stream, nva.data(), nva.size()) != 0)
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
    else if (n == 0) return NGHTTP2_ERR_DEFERRED;
    return static_cast<ssize_t>(n);
  }

  void mark_complete(std::int32_t stream) { complete_.push_back(stream); }

  // Follows the frame headers (RFC 9113 section 4.1) in the received bytes: returns how many of them
  // to feed next, up to the end of an ORIGIN frame or all of them, and keeps that frame's flags.
  std::size_t next_piece(const std::uint8_t* p, std::size_t len) {
    std::size_t used = 0;
    while (used < len) {
      if (head_have_ < sizeof head_) {
        const std::size_t k = std::min(sizeof head_ - head_have_, len - used);
        std::memcpy(head_ + head_have_, p + used, k);
        head_have_ += k;
        used += k;
        if (head_have_ < sizeof head_) return used;
        payload_left_ = std::size_t{head_[0]} << 16 | std::size_t{head_[1]} << 8 | head_[2];
        if (head_[3] == NGHTTP2_ORIGIN) origin_flags_ = head_[4];
      }
      const std::size_t k = std::min(payload_left_, len - used);
      payload_left_ -= k;
      used += k;
      if (payload_left_ > 0) return used;
      head_have_ = 0;
      if (head_[3] == NGHTTP2_ORIGIN) return used;
    }
    return used;
  }

  h2_listener& listener_;
  nghttp2_session* session_ = nullptr;
  bool in_callback_ = false;
  std::uint32_t settings_seen_ = 0;
  std::uint32_t sent_goaway_error_ = 0;
  std::vector<std::pair<std::int32_t, std::uint32_t>> deferred_resets_;
  std::vector<std::int32_t> complete_;   // streams whose END_STREAM arrived, until they close
  // The frame being received (next_piece): its header, the payload bytes still to come, and the flags of
  // the last ORIGIN frame seen.
  std::uint8_t head_[9] = {};
  std::size_t head_have_ = 0;
  std::size_t payload_left_ = 0;
  std::uint8_t origin_flags_ = 0;
  std::vector<std::string> lowered_;
};

}  // namespace h2coal::detail
