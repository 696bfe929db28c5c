// SPDX-License-Identifier: BSL-1.0
// tests/support/raw_server.cpp: blocking sockets, OpenSSL directly, one thread per connection.
#include "support/raw_server.hpp"

#include <nghttp2/nghttp2.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace h2coal::test {

// ---- HTTP/2 frames ----------------------------------------------------------------------------------

namespace h2 {
namespace {

void put32(std::string& out, std::uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xff);
  out += static_cast<char>((v >> 16) & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
  out += static_cast<char>(v & 0xff);
}

// RFC 7541 section 5.1: an integer with an N-bit prefix; `first` holds the bits above the prefix.
void put_hpack_int(std::string& out, std::uint8_t first, int prefix_bits, std::size_t value) {
  const std::size_t max = (std::size_t{1} << prefix_bits) - 1;
  if (value < max) {
    out += static_cast<char>(first | value);
    return;
  }
  out += static_cast<char>(first | max);
  value -= max;
  while (value >= 128) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void put_hpack_string(std::string& out, std::string_view s) {
  put_hpack_int(out, 0x00, 7, s.size());  // H = 0: no Huffman
  out.append(s);
}

}  // namespace

std::string frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream, std::string_view payload) {
  std::string out;
  out += static_cast<char>((payload.size() >> 16) & 0xff);
  out += static_cast<char>((payload.size() >> 8) & 0xff);
  out += static_cast<char>(payload.size() & 0xff);
  out += static_cast<char>(type);
  out += static_cast<char>(flags);
  put32(out, static_cast<std::uint32_t>(stream) & 0x7fffffffu);
  out.append(payload);
  return out;
}

std::string header_block(const field_list& fields) {
  std::string block;
  for (const auto& [name, value] : fields) {
    block += '\0';  // literal without indexing, new name
    put_hpack_string(block, name);
    put_hpack_string(block, value);
  }
  return block;
}

std::string headers(std::int32_t stream, const field_list& fields, bool end_stream, bool end_headers) {
  std::uint8_t flags = 0;
  if (end_stream) flags |= flag_end_stream;
  if (end_headers) flags |= flag_end_headers;
  return frame(type_headers, flags, stream, header_block(fields));
}

std::string data(std::int32_t stream, std::string_view bytes, bool end_stream) {
  return frame(type_data, end_stream ? flag_end_stream : 0, stream, bytes);
}

std::string settings() { return frame(type_settings, 0, 0, {}); }

std::string goaway(std::int32_t last_stream_id, std::uint32_t error_code) {
  std::string payload;
  put32(payload, static_cast<std::uint32_t>(last_stream_id));
  put32(payload, error_code);
  return frame(type_goaway, 0, 0, payload);
}

std::string rst_stream(std::int32_t stream, std::uint32_t error_code) {
  std::string payload;
  put32(payload, error_code);
  return frame(type_rst_stream, 0, stream, payload);
}

std::string response(std::int32_t stream, std::string_view body, int status) {
  std::string out = headers(stream, {{":status", std::to_string(status)}, {"content-length", std::to_string(body.size())}},
                            body.empty());
  if (!body.empty()) out += data(stream, body, true);
  return out;
}

}  // namespace h2

// ---- the server -------------------------------------------------------------------------------------

namespace {

constexpr std::string_view client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::size_t not_noted = std::numeric_limits<std::size_t>::max();

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const std::string_view want = *static_cast<const std::string*>(arg);
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == want) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// RFC 9110 section 5.6.3: optional white space around a field value.
std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A decimal Content-Length or a hexadecimal chunk size: digits only, no sign, no list, no overflow.
std::optional<std::uint64_t> parse_number(std::string_view s, int base) {
  if (s.empty() || s.size() > (base == 16 ? 15u : 18u)) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (d < 0) return std::nullopt;
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
  }
  return v;
}

// "name: value" lines; a line without a colon is skipped (tests see it in `head`).
void parse_field_lines(std::string_view lines, raw_fields& out) {
  while (!lines.empty()) {
    const auto eol = lines.find("\r\n");
    const std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    out.emplace_back(std::string(line.substr(0, colon)), std::string(trim_ows(line.substr(colon + 1))));
  }
}

// The payload of a DATA or HEADERS frame without its padding (RFC 9113 section 6.1); nullopt when the
// pad length is more than the frame holds.
std::optional<std::string_view> unpadded(std::string_view payload, std::uint8_t flags) {
  if (!(flags & h2::flag_padded)) return payload;
  if (payload.empty()) return std::nullopt;
  const std::size_t pad = static_cast<unsigned char>(payload.front());
  payload.remove_prefix(1);
  if (pad > payload.size()) return std::nullopt;
  payload.remove_suffix(pad);
  return payload;
}

}  // namespace

class raw_server::impl {
 public:
  explicit impl(raw_server_options opts) : opts_(std::move(opts)) {
    // OpenSSL writes with write(2): a client that already closed must not kill the test with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    if (opts_.tls) {
      alpn_ = opts_.protocol == raw_protocol::h2 ? "h2" : "http/1.1";
      ctx_ = SSL_CTX_new(TLS_server_method());
      if (!ctx_) throw std::runtime_error("raw_server: SSL_CTX_new failed");
      SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
      load_cert();
      SSL_CTX_set_alpn_select_cb(ctx_, &select_alpn, &alpn_);
    }

    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    if (::inet_pton(AF_INET, opts_.address.c_str(), &sa.sin_addr) != 1) {
      ::close(listener_);
      if (ctx_) SSL_CTX_free(ctx_);
      throw std::invalid_argument("raw_server: bad address");
    }
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listener_, 64) != 0) {
      ::close(listener_);
      if (ctx_) SSL_CTX_free(ctx_);
      throw std::runtime_error("raw_server: cannot listen on " + opts_.address);
    }
    socklen_t len = sizeof sa;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~impl() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    ::close(listener_);
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);  // wakes every blocked read
      threads = std::move(threads_);
    }
    for (auto& t : threads) t.join();
    if (ctx_) SSL_CTX_free(ctx_);
  }

  std::uint16_t port() const { return port_; }
  std::size_t connection_count() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  std::vector<raw_request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::string received(std::size_t connection) const {
    std::lock_guard lock(mutex_);
    return connection < received_.size() ? received_[connection] : std::string{};
  }
  std::vector<raw_frame> frames(std::size_t connection) const {
    std::lock_guard lock(mutex_);
    return connection < frames_.size() ? frames_[connection] : std::vector<raw_frame>{};
  }

 private:
  class conn final : public raw_connection {
   public:
    conn(impl& server, int fd, std::size_t index) : server_(server), fd_(fd), index_(index) {}
    ~conn() override {
      if (inflater_) nghttp2_hd_inflate_del(inflater_);
      if (ssl_) SSL_free(ssl_);
      if (fd_ >= 0) server_.release_fd(fd_);
    }

    std::size_t index() const override { return index_; }
    void write(std::string_view bytes) override {
      if (done_ || bytes.empty()) return;
      if (ssl_) {
        if (SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) <= 0) done_ = true;
      } else if (!send_all(bytes)) {
        done_ = true;
      }
    }
    void write_below_tls(std::string_view bytes) override {
      if (done_) return;
      if (!send_all(bytes)) done_ = true;
    }
    void close_notify() override {
      if (done_) return;
      if (ssl_) SSL_shutdown(ssl_);
      else ::shutdown(fd_, SHUT_WR);
      done_ = true;
      drain_raw_ = true;
    }
    void reset() override {
      if (done_) return;
      linger l{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      done_ = true;
      abort_ = true;
    }
    void close() override {
      if (done_) return;
      ::shutdown(fd_, SHUT_WR);
      done_ = true;
      drain_raw_ = true;
    }

    void run() {
      if (server_.ctx_) {
        ssl_ = SSL_new(server_.ctx_);
        SSL_set_fd(ssl_, fd_);
        if (SSL_accept(ssl_) != 1) return;
      }
      if (server_.opts_.protocol == raw_protocol::h2) {
        // HPACK state belongs to the connection (RFC 7541 section 2.2): one decoder, every block in order.
        if (nghttp2_hd_inflate_new(&inflater_) != 0) return;
        if (server_.opts_.send_settings) write(h2::settings());
      }
      if (server_.opts_.on_connect) server_.opts_.on_connect(*this);
      char buf[16 * 1024];
      while (!done_) {
        const auto n = read_some(buf, sizeof buf);
        if (n <= 0) break;
        const std::string_view bytes(buf, static_cast<std::size_t>(n));
        server_.note_received(index_, bytes);
        in_.append(bytes);
        if (server_.opts_.protocol == raw_protocol::h2) parse_h2();
        else parse_http1();
      }
      if (abort_) return;  // the destructor's close sends RST (SO_LINGER 0)
      if (drain_raw_) {
        // Keep TCP open until the client closes (or the server stops): what it does next is the test.
        while (::recv(fd_, buf, sizeof buf, 0) > 0) {
        }
      }
    }

   private:
    long read_some(char* buf, std::size_t size) {
      if (ssl_) return SSL_read(ssl_, buf, static_cast<int>(size));
      for (;;) {
        const auto n = ::recv(fd_, buf, size, 0);
        if (n >= 0 || errno != EINTR) return static_cast<long>(n);
      }
    }

    bool send_all(std::string_view bytes) {
      while (!bytes.empty()) {
        const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
      }
      return true;
    }

    // Records a new request, then hands it to the test; returns its place in the server's list.
    std::size_t deliver(const raw_request& r) {
      const std::size_t pos = server_.note(r);
      if (server_.opts_.on_request) server_.opts_.on_request(*this, r);
      return pos;
    }

    // The request at `pos` is whole: hands the stored one, body and all, to on_request_complete.
    void complete(std::size_t pos) {
      if (done_ || !server_.opts_.on_request_complete) return;
      server_.opts_.on_request_complete(*this, server_.stored(pos));
    }

    // ---- HTTP/2 ----

    void parse_h2() {
      if (!preface_seen_) {
        if (in_.size() < client_preface.size()) return;
        preface_seen_ = true;
        in_.erase(0, client_preface.size());
      }
      while (!done_ && in_.size() >= 9) {
        const auto* p = reinterpret_cast<const unsigned char*>(in_.data());
        const std::size_t len = (std::size_t{p[0]} << 16) | (std::size_t{p[1]} << 8) | p[2];
        if (in_.size() < 9 + len) return;
        raw_frame f;
        f.type = p[3];
        f.flags = p[4];
        f.stream = static_cast<std::int32_t>(((std::uint32_t{p[5]} << 24) | (std::uint32_t{p[6]} << 16) |
                                              (std::uint32_t{p[7]} << 8) | p[8]) & 0x7fffffffu);
        f.payload = in_.substr(9, len);
        in_.erase(0, 9 + len);
        server_.note_frame(index_, f);
        on_frame(f);
      }
    }

    void on_frame(const raw_frame& f) {
      if (server_.opts_.on_frame) server_.opts_.on_frame(*this, f);
      if (f.type == h2::type_settings && !(f.flags & h2::flag_ack) && server_.opts_.send_settings)
        write(h2::frame(h2::type_settings, h2::flag_ack, 0, {}));
      if (block_stream_ != 0) {
        // RFC 9113 section 6.10: only CONTINUATION on the same stream may follow an open header block.
        // Anything else is the client's protocol error; frames() shows it, the block is dropped.
        if (f.type != h2::type_continuation || f.stream != block_stream_) {
          block_stream_ = 0;
          block_.clear();
        } else {
          block_ += f.payload;
          if (f.flags & h2::flag_end_headers) header_block_done();
          return;
        }
      }
      if (f.type == h2::type_headers && f.stream > 0) {
        auto fragment = unpadded(f.payload, f.flags);
        if (!fragment) return;
        if (f.flags & h2::flag_priority) {
          if (fragment->size() < 5) return;
          fragment->remove_prefix(5);  // stream dependency and weight (RFC 9113 section 6.2)
        }
        block_stream_ = f.stream;
        block_end_stream_ = f.flags & h2::flag_end_stream;
        block_.assign(*fragment);
        if (f.flags & h2::flag_end_headers) header_block_done();
      } else if (f.type == h2::type_data) {
        const auto it = stream_pos_.find(f.stream);
        const auto payload = unpadded(f.payload, f.flags);
        if (it == stream_pos_.end() || !payload) return;
        server_.update(it->second, [&](raw_request& r) {
          r.body.append(*payload);
          if (f.flags & h2::flag_end_stream) r.end_stream = true;
        });
        if (f.flags & h2::flag_end_stream) complete(it->second);
      }
    }

    void header_block_done() {
      raw_fields fields;
      inflate(block_, fields);
      const std::int32_t stream = block_stream_;
      block_stream_ = 0;
      block_.clear();
      if (const auto it = stream_pos_.find(stream); it != stream_pos_.end()) {
        // A second header block on a stream is its trailer section (RFC 9113 section 8.1).
        server_.update(it->second, [&](raw_request& r) {
          r.trailers = std::move(fields);
          if (block_end_stream_) r.end_stream = true;
        });
        if (block_end_stream_) complete(it->second);
        return;
      }
      raw_request r;
      r.connection = index_;
      r.index = requests_++;
      r.stream = stream;
      for (const auto& [name, value] : fields) {
        if (name == ":method") r.method = value;
        else if (name == ":path") r.target = value;
      }
      r.fields = std::move(fields);
      r.end_stream = block_end_stream_;
      const std::size_t pos = deliver(r);
      stream_pos_[stream] = pos;
      if (r.end_stream) complete(pos);
    }

    // Decodes one whole header block; after a decoding error the connection's HPACK state is lost, so
    // later blocks decode to nothing.
    void inflate(std::string_view block, raw_fields& out) {
      if (hpack_broken_) return;
      auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
      std::size_t left = block.size();
      for (;;) {
        nghttp2_nv nv;
        int flags = 0;
#if NGHTTP2_VERSION_NUM >= 0x013d00
        const auto n = nghttp2_hd_inflate_hd3(inflater_, &nv, &flags, in, left, 1);
#else
        const auto n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
#endif
        if (n < 0) {
          hpack_broken_ = true;
          return;
        }
        in += n;
        left -= static_cast<std::size_t>(n);
        if (flags & NGHTTP2_HD_INFLATE_EMIT)
          out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                           std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
          nghttp2_hd_inflate_end_headers(inflater_);
          return;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) return;
      }
    }

    // ---- HTTP/1.1 ----

    // Where the parser is: between requests (looking for a head), or inside a body framed one way.
    enum class h1_state { head, length, chunk_size, chunk_data, chunk_end, trailers };

    void parse_http1() {
      while (!done_ && !h1_broken_) {
        if (!(h1_state_ == h1_state::head ? h1_head() : h1_body())) return;
      }
      if (h1_broken_) in_.clear();  // nothing after a malformed body can be framed
    }

    // Returns false when it needs more bytes.
    bool h1_head() {
      const auto end = in_.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      h1_cur_ = raw_request{};
      h1_cur_.connection = index_;
      h1_cur_.index = requests_++;
      h1_cur_.head = in_.substr(0, end + 4);
      in_.erase(0, end + 4);
      std::string_view lines(h1_cur_.head);
      lines.remove_suffix(2);
      const auto eol = lines.find("\r\n");
      const std::string_view line = lines.substr(0, eol);
      const auto sp1 = line.find(' ');
      const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
      h1_cur_.method = std::string(line.substr(0, sp1));
      if (sp1 != std::string_view::npos) h1_cur_.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
      parse_field_lines(lines.substr(eol + 2), h1_cur_.fields);
      const bool framed = h1_framing();

      if (server_.opts_.answer_at_head) h1_pos_ = deliver(h1_cur_);
      if (!framed) h1_malformed();
      else if (h1_state_ == h1_state::head) h1_done();
      return true;
    }

    // RFC 9112 section 6.3: Transfer-Encoding wins over Content-Length, and a request that has both, or
    // Content-Length twice, is one two servers may frame differently. Returns false when the body
    // cannot be framed at all.
    bool h1_framing() {
      std::string te;
      std::optional<std::uint64_t> length;
      std::size_t lengths = 0;
      bool bad_length = false;
      for (const auto& [name, value] : h1_cur_.fields) {
        if (iequals(name, "content-length")) {
          ++lengths;
          auto v = parse_number(value, 10);
          if (!v) bad_length = true;
          else if (!length) length = v;
        } else if (iequals(name, "transfer-encoding")) {
          te += te.empty() ? value : "," + value;
        }
      }
      if (lengths > 1 || (lengths && !te.empty()) || bad_length) h1_cur_.framing_conflict = true;
      if (!te.empty()) {
        const auto comma = te.rfind(',');
        const auto last = trim_ows(std::string_view(te).substr(comma == std::string::npos ? 0 : comma + 1));
        if (!iequals(last, "chunked")) {
          h1_cur_.framing_conflict = true;  // section 6.3 item 4: a request body no one can delimit
          return false;
        }
        h1_state_ = h1_state::chunk_size;
        return true;
      }
      if (bad_length) return false;
      if (length && *length > 0) {
        h1_left_ = *length;
        h1_state_ = h1_state::length;
      }
      return true;
    }

    // Returns false when it needs more bytes.
    bool h1_body() {
      switch (h1_state_) {
        case h1_state::length:
        case h1_state::chunk_data: {
          if (in_.empty()) return false;
          const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(h1_left_, in_.size()));
          h1_body_bytes(std::string_view(in_).substr(0, n));
          in_.erase(0, n);
          h1_left_ -= n;
          if (h1_left_ == 0) {
            if (h1_state_ == h1_state::length) h1_done();
            else h1_state_ = h1_state::chunk_end;
          }
          return true;
        }
        case h1_state::chunk_size: {
          const auto eol = in_.find("\r\n");
          if (eol == std::string::npos) return false;
          std::string_view line = std::string_view(in_).substr(0, eol);
          line = trim_ows(line.substr(0, line.find(';')));  // chunk extensions ignored (section 7.1.1)
          const auto size = parse_number(line, 16);
          in_.erase(0, eol + 2);
          if (!size) {
            h1_malformed();
            return false;
          }
          h1_left_ = *size;
          h1_state_ = *size ? h1_state::chunk_data : h1_state::trailers;
          return true;
        }
        case h1_state::chunk_end:
          if (in_.size() < 2) return false;
          if (in_.compare(0, 2, "\r\n") != 0) {
            h1_malformed();
            return false;
          }
          in_.erase(0, 2);
          h1_state_ = h1_state::chunk_size;
          return true;
        case h1_state::trailers: {
          const auto eol = in_.find("\r\n");
          if (eol == std::string::npos) return false;
          if (eol == 0) {
            in_.erase(0, 2);
            h1_done();
            return true;
          }
          parse_field_lines(std::string_view(in_).substr(0, eol), h1_cur_.trailers);
          in_.erase(0, eol + 2);
          return true;
        }
        case h1_state::head:
          break;
      }
      return false;
    }

    void h1_body_bytes(std::string_view bytes) {
      h1_cur_.body.append(bytes);
      if (h1_pos_ != not_noted) server_.update(h1_pos_, [&](raw_request& r) { r.body.append(bytes); });
    }

    // The request's body is complete: hand it over now, or (answer_at_head) finish the stored one.
    void h1_done() {
      h1_cur_.end_stream = true;
      h1_state_ = h1_state::head;
      std::size_t pos = h1_pos_;
      h1_pos_ = not_noted;
      if (pos == not_noted) {
        pos = deliver(h1_cur_);
      } else {
        server_.update(pos, [&](raw_request& r) {
          r.trailers = h1_cur_.trailers;
          r.end_stream = true;
        });
      }
      complete(pos);
    }

    void h1_malformed() {
      h1_broken_ = true;
      h1_cur_.framing_conflict = true;
      if (h1_pos_ == not_noted) deliver(h1_cur_);
      else server_.update(h1_pos_, [](raw_request& r) { r.framing_conflict = true; });
      h1_pos_ = not_noted;
    }

    impl& server_;
    int fd_;
    std::size_t index_;
    SSL* ssl_ = nullptr;
    std::string in_;
    std::size_t requests_ = 0;
    bool done_ = false;
    bool drain_raw_ = false;
    bool abort_ = false;

    // HTTP/2
    bool preface_seen_ = false;
    nghttp2_hd_inflater* inflater_ = nullptr;
    bool hpack_broken_ = false;
    std::int32_t block_stream_ = 0;  // the stream whose header block is open (0: none)
    bool block_end_stream_ = false;
    std::string block_;
    std::map<std::int32_t, std::size_t> stream_pos_;  // stream id -> place in the server's list

    // HTTP/1.1
    h1_state h1_state_ = h1_state::head;
    std::uint64_t h1_left_ = 0;  // bytes left in the body or the current chunk
    raw_request h1_cur_;
    std::size_t h1_pos_ = not_noted;  // h1_cur_'s place in the server's list once handed over
    bool h1_broken_ = false;
  };

  void load_cert() {
    BIO* bio = BIO_new_mem_buf(opts_.cert.cert_pem.data(), static_cast<int>(opts_.cert.cert_pem.size()));
    X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    bool ok = leaf && SSL_CTX_use_certificate(ctx_, leaf) == 1;
    X509_free(leaf);
    BIO_free(bio);
    bio = BIO_new_mem_buf(opts_.cert.key_pem.data(), static_cast<int>(opts_.cert.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    ok = ok && key && SSL_CTX_use_PrivateKey(ctx_, key) == 1;
    EVP_PKEY_free(key);
    BIO_free(bio);
    if (!ok) {
      SSL_CTX_free(ctx_);
      throw std::runtime_error("raw_server: bad certificate or key");
    }
  }

  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      const std::size_t index = accepted_++;
      received_.emplace_back();
      frames_.emplace_back();
      fds_.push_back(fd);
      threads_.emplace_back([this, fd, index] {
        conn c(*this, fd, index);
        c.run();
      });
    }
  }

  std::size_t note(const raw_request& r) {
    std::lock_guard lock(mutex_);
    requests_.push_back(r);
    return requests_.size() - 1;
  }

  raw_request stored(std::size_t pos) const {
    std::lock_guard lock(mutex_);
    return requests_[pos];
  }

  // Changes a stored request as more of it arrives (body, END_STREAM, trailers).
  template <class F>
  void update(std::size_t pos, F&& change) {
    std::lock_guard lock(mutex_);
    change(requests_[pos]);
  }

  void note_received(std::size_t connection, std::string_view bytes) {
    std::lock_guard lock(mutex_);
    received_[connection].append(bytes);
  }

  void note_frame(std::size_t connection, const raw_frame& f) {
    std::lock_guard lock(mutex_);
    frames_[connection].push_back(f);
  }

  void release_fd(int fd) {
    std::lock_guard lock(mutex_);
    std::erase(fds_, fd);
    ::close(fd);
  }

  raw_server_options opts_;
  std::string alpn_;
  SSL_CTX* ctx_ = nullptr;  // null without TLS
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mutex_;
  std::size_t accepted_ = 0;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::vector<raw_request> requests_;
  std::vector<std::string> received_;         // by connection
  std::vector<std::vector<raw_frame>> frames_;  // by connection
};

raw_server::raw_server(raw_server_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
raw_server::~raw_server() = default;
std::uint16_t raw_server::port() const { return impl_->port(); }
std::size_t raw_server::connection_count() const { return impl_->connection_count(); }
std::vector<raw_request> raw_server::requests() const { return impl_->requests(); }
std::string raw_server::received(std::size_t connection) const { return impl_->received(connection); }
std::vector<raw_frame> raw_server::frames(std::size_t connection) const { return impl_->frames(connection); }

}  // namespace h2coal::test
