// SPDX-License-Identifier: BSL-1.0
// tests/support/test_server_h2.cpp: the test server's HTTP/2 side, an nghttp2 server session.
//
// nghttp2 does no I/O: received bytes go in through mem_recv, bytes to send come out of mem_send. The
// callbacks only record what happened (headers, body, which streams are ready); after mem_recv returns,
// after_recv() acts on it, so nothing calls back into the session from inside its own callbacks.
#include "support/test_server_detail.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

#include <nghttp2/nghttp2.h>

namespace h2coal::test::detail {
namespace {

class h2_connection final : public connection {
 public:
  using connection::connection;
  ~h2_connection() override {
    if (session_) nghttp2_session_del(session_);
  }

  void start() override;
  void goaway(std::uint32_t error_code) override;
  void release_stalled() override;

 private:
  struct stream {
    request_info req;
    bool refused = false;     // above the last_stream_id of a GOAWAY we sent
    bool dispatched = false;  // routed (it is in requests())
    bool stalled = false;
    std::unique_ptr<asio::steady_timer> timer;  // /delay
    // Response body: read by read_body() while nghttp2 sends DATA frames.
    std::string body;
    std::vector<std::pair<std::string, std::string>> trailers;  // sent as trailing HEADERS
    bool generated = false;
    std::size_t offset = 0;
    std::size_t remaining = 0;
  };

  std::shared_ptr<h2_connection> self() {
    return std::static_pointer_cast<h2_connection>(shared_from_this());
  }
  stream* find(std::int32_t id) {
    const auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  void on_bytes(const std::uint8_t* data, std::size_t size) override;
  void fill_output(std::string& out) override;
  void on_output_drained() override;
  void on_closed() override;

  void after_recv();
  void dispatch(stream& s);
  void respond(stream& s, response r);
  void send_goaway(std::int32_t last_stream_id, std::uint32_t error_code);
  std::string origin_frames() const;

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                           const std::uint8_t* data, std::size_t len, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                             void* user);
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* data_flags, nghttp2_data_source* source,
                           void* user);

  nghttp2_session* session_ = nullptr;
  std::string preface_;  // SETTINGS and ORIGIN frames, written first
  bool silent_ = false;  // /silence: nothing more is written
  std::map<std::int32_t, std::unique_ptr<stream>> streams_;
  // Collected by the callbacks during mem_recv, acted on by after_recv().
  std::vector<std::int32_t> ready_;
  std::vector<std::int32_t> refused_;
  bool goaway_due_ = false;
  std::optional<std::int32_t> goaway_last_;  // lowest last_stream_id among the GOAWAYs we sent
  std::size_t accepted_ = 0;  // streams received and not refused
  std::size_t open_ = 0;
};

void h2_connection::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &on_stream_close);
  const int rv = nghttp2_session_server_new(&session_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    close();
    return;
  }

  std::vector<nghttp2_settings_entry> settings{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opts_.max_concurrent_streams}};
  if (opts_.initial_window_size != 0) {
    settings.push_back({NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opts_.initial_window_size});
  }
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  // Only SETTINGS is queued now, so this is exactly the server's first frame. The ORIGIN frames are
  // written raw after it: nghttp2_submit_origin would check the origins and the flags, and the tests
  // need to send bad ones.
  for (;;) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;
    preface_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  preface_ += origin_frames();
  read_loop();
  pump();
}

std::string h2_connection::origin_frames() const {
  const auto frames = opts_.origin_frames_for_sni ? opts_.origin_frames_for_sni(sni_) : opts_.origin_frames;
  std::string out;
  for (const auto& origins : frames) {
    // RFC 8336 section 2: each entry is a 16-bit length and an ASCII origin.
    std::string payload;
    for (const auto& origin : origins) {
      payload += static_cast<char>((origin.size() >> 8) & 0xff);
      payload += static_cast<char>(origin.size() & 0xff);
      payload += origin;
    }
    // RFC 9113 section 4.1 frame header: 24-bit length, type, flags, 31-bit stream id (0).
    out += static_cast<char>((payload.size() >> 16) & 0xff);
    out += static_cast<char>((payload.size() >> 8) & 0xff);
    out += static_cast<char>(payload.size() & 0xff);
    out += static_cast<char>(NGHTTP2_ORIGIN);
    out += static_cast<char>(opts_.origin_frame_flags);
    out.append(4, '\0');
    out += payload;
  }
  return out;
}

void h2_connection::on_bytes(const std::uint8_t* data, std::size_t size) {
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, size);
  if (rv < 0) {  // fatal (bad client preface, out of memory): nothing sensible left to send
    close();
    return;
  }
  after_recv();
  pump();
}

void h2_connection::after_recv() {
  if (goaway_due_) {
    goaway_due_ = false;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, *goaway_last_, NGHTTP2_NO_ERROR, nullptr, 0);
  }
  for (const std::int32_t id : std::exchange(refused_, {})) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
  }
  for (const std::int32_t id : std::exchange(ready_, {})) {
    stream* s = find(id);
    if (s && !s->dispatched) dispatch(*s);
    if (closed()) return;
  }
}

void h2_connection::dispatch(stream& s) {
  s.dispatched = true;
  core_.add_request(s.req);
  route_result r = route(opts_, s.req);
  switch (r.what) {
    case action::respond:
      respond(s, std::move(r.resp));
      break;
    case action::delay: {
      s.timer = std::make_unique<asio::steady_timer>(core_.io(), std::chrono::milliseconds(r.value));
      s.timer->async_wait([self = self(), id = s.req.stream_id,
                           resp = std::move(r.resp)](const std::error_code& ec) mutable {
        if (ec || self->closed()) return;
        if (stream* later = self->find(id)) {
          self->respond(*later, std::move(resp));
          self->pump();
        }
      });
      break;
    }
    case action::stall:
      s.stalled = true;
      break;
    case action::reset:
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.req.stream_id, r.value);
      break;
    case action::goaway:
      send_goaway(s.req.stream_id, NGHTTP2_NO_ERROR);
      respond(s, std::move(r.resp));
      break;
    case action::close:
      close();
      break;
    case action::silence:
      silent_ = true;
      break;
  }
}

void h2_connection::respond(stream& s, response r) {
  const bool head = s.req.method == "HEAD";
  const bool with_body = r.status_allows_body();
  const std::size_t size = r.body_size();

  std::vector<std::pair<std::string, std::string>> fields{{":status", std::to_string(r.status)}};
  if (with_body) fields.emplace_back("content-length", std::to_string(size));
  for (auto& h : r.headers) fields.push_back(std::move(h));
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.size());
  for (auto& [name, value] : fields) {
    // nghttp2 copies names and values during submit.
    nv.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                  name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }

  s.body = std::move(r.body);
  s.trailers = std::move(r.trailers);
  s.generated = r.generated;
  s.offset = 0;
  s.remaining = size;
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = &read_body;
  const bool send_data = with_body && !head && (size > 0 || !s.trailers.empty());
  nghttp2_submit_response(session_, s.req.stream_id, nv.data(), nv.size(), send_data ? &provider : nullptr);
}

ssize_t h2_connection::read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                                 std::uint32_t* data_flags, nghttp2_data_source* source, void*) {
  // Called from mem_send for as much as flow control allows, so a 50 MiB body is made a frame at a
  // time and never held whole.
  auto& s = *static_cast<stream*>(source->ptr);
  const std::size_t n = std::min(length, s.remaining);
  if (s.generated) {
    for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<std::uint8_t>(test_body_byte(s.offset + i));
  } else {
    std::memcpy(buf, s.body.data() + s.offset, n);
  }
  s.offset += n;
  s.remaining -= n;
  if (s.remaining == 0) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!s.trailers.empty()) {
      // The stream ends with trailing HEADERS instead of END_STREAM on the last DATA (RFC 9113 8.1).
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nv;
      for (auto& [name, value] : s.trailers)
        nv.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                      name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
      nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size());
    }
  }
  return static_cast<ssize_t>(n);
}

void h2_connection::send_goaway(std::int32_t last_stream_id, std::uint32_t error_code) {
  // RFC 9113 section 6.8: the last stream id of successive GOAWAYs must not increase.
  if (goaway_last_) last_stream_id = std::min(last_stream_id, *goaway_last_);
  goaway_last_ = last_stream_id;
  if (error_code == NGHTTP2_NO_ERROR) {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_stream_id, error_code, nullptr, 0);
  } else {
    // Not graceful: nghttp2 stops reading and wants nothing more once the frame is out.
    nghttp2_session_terminate_session2(session_, last_stream_id, error_code);
  }
}

void h2_connection::goaway(std::uint32_t error_code) {
  if (closed() || !session_) return;
  send_goaway(nghttp2_session_get_last_proc_stream_id(session_), error_code);
  pump();
}

void h2_connection::release_stalled() {
  if (closed()) return;
  for (auto& [id, s] : streams_) {
    if (!s->stalled) continue;
    s->stalled = false;
    respond(*s, released_response(opts_, s->req));
  }
  pump();
}

void h2_connection::fill_output(std::string& out) {
  if (silent_) return;  // /silence: whatever nghttp2 has (answers, PING ACKs) stays unsent
  out += std::exchange(preface_, {});
  while (out.size() < max_write_size) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      close();
      return;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
}

void h2_connection::on_output_drained() {
  // After a GOAWAY, nghttp2 stops wanting to read once the streams it allowed are finished.
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) graceful_close();
}

void h2_connection::on_closed() {
  streams_.clear();  // destroys the /delay timers; their handlers see the connection closed
}

// ---- nghttp2 callbacks: record only ------------------------------------------------------------------

int h2_connection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& self = *static_cast<h2_connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  const std::int32_t id = frame->hd.stream_id;
  auto s = std::make_unique<stream>();
  s->req = self.new_request();
  s->req.stream_id = id;
  if (self.goaway_last_ && id > *self.goaway_last_) {
    // Arrived after our GOAWAY was decided; the client will retry it elsewhere.
    s->refused = true;
    self.refused_.push_back(id);
  } else {
    ++self.accepted_;
    ++self.open_;
    self.core_.note_streams(self.index_, self.accepted_, self.open_);
    if (self.opts_.goaway_after_streams != 0 && self.accepted_ == self.opts_.goaway_after_streams) {
      self.goaway_last_ = id;
      self.goaway_due_ = true;
    }
  }
  nghttp2_session_set_stream_user_data(session, id, s.get());
  self.streams_[id] = std::move(s);
  return 0;
}

int h2_connection::on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                             std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                             std::uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto* s = static_cast<stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!s) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") {
    s->req.method = v;
  } else if (n == ":path") {
    s->req.path = v;
  } else if (n == ":authority") {
    s->req.authority = v;
  } else if (n == "host" && s->req.authority.empty()) {
    s->req.authority = v;
  }
  if (!n.empty() && n.front() != ':') s->req.headers.emplace_back(std::string(n), v);
  return 0;
}

int h2_connection::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                 const std::uint8_t* data, std::size_t len, void*) {
  if (auto* s = static_cast<stream*>(nghttp2_session_get_stream_user_data(session, stream_id))) {
    s->req.body.append(reinterpret_cast<const char*>(data), len);
  }
  return 0;
}

int h2_connection::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& self = *static_cast<h2_connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto* s = static_cast<stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!s || s->refused) return 0;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  const bool early = frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
                     acts_on_headers(s->req.path);
  if (end_stream || early) self.ready_.push_back(frame->hd.stream_id);
  return 0;
}

int h2_connection::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
  auto& self = *static_cast<h2_connection*>(user);
  const auto it = self.streams_.find(stream_id);
  if (it == self.streams_.end()) return 0;
  if (!it->second->refused) --self.open_;
  self.streams_.erase(it);
  return 0;
}

}  // namespace

std::shared_ptr<connection> make_h2_connection(server_core& core, std::size_t index,
                                               std::unique_ptr<transport> t, std::string sni,
                                               std::string local_address) {
  return std::make_shared<h2_connection>(core, index, std::move(t), std::move(sni),
                                         std::move(local_address));
}

}  // namespace h2coal::test::detail
