// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/h1_engine.hpp: the HTTP/1.1 client protocol engine (llhttp), without I/O.
//
// Serialises one request head at a time and parses the response that answers it. The parser pauses at
// the end of each response, so a connection is reused only once the whole answer was read
// (content-length, chunked, or delimited by the close, RFC 9112 section 6.3).
#pragma once

#include <h2coal/error.hpp>
#include <h2coal/request.hpp>

#include <llhttp.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace h2coal::detail {

class h1_listener {
 public:
  virtual ~h1_listener() = default;
  virtual bool on_h1_header(std::string_view name, std::string_view value) = 0;  ///< false: too large
  virtual void on_h1_headers_end(int status) = 0;                                 ///< final status only
  /// Body bytes. The answer: go on, pause the parser after these bytes (resume() continues), or abort.
  enum class data_result { more, pause, abort };
  virtual data_result on_h1_data(const char* data, std::size_t len) = 0;
  virtual void on_h1_complete() = 0;
  /// An interim (1xx) response's head ended: `status` (100 Continue lets a held-back body go).
  virtual void on_h1_interim(int /*status*/) {}
};

class h1_engine {
 public:
  /// `max_head_bytes` bounds a response head (status line and fields) and its trailers, and each chunk
  /// line's extensions, while they arrive: a line that never ends cannot grow memory (DESIGN section 10).
  explicit h1_engine(h1_listener& l, std::size_t max_head_bytes = 64 * 1024)
      : listener_(l), max_head_bytes_(max_head_bytes) {
    llhttp_settings_init(&settings_);
    settings_.on_status = &h1_engine::on_status;
    settings_.on_chunk_header = &h1_engine::on_chunk_header;
    settings_.on_chunk_extension_name = &h1_engine::on_chunk_extension;
    settings_.on_chunk_extension_value = &h1_engine::on_chunk_extension;
    settings_.on_header_field = &h1_engine::on_header_field;
    settings_.on_header_value = &h1_engine::on_header_value;
    settings_.on_header_value_complete = &h1_engine::on_header_value_complete;
    settings_.on_headers_complete = &h1_engine::on_headers_complete;
    settings_.on_body = &h1_engine::on_body;
    settings_.on_message_complete = &h1_engine::on_message_complete;
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
  }
  h1_engine(const h1_engine&) = delete;
  h1_engine& operator=(const h1_engine&) = delete;

  /// Prepares for the response to a new request. `head`: the response has no body whatever it says.
  void begin_response(bool head) {
    llhttp_reset(&parser_);
    parser_.data = this;
    head_ = head;
    field_.clear();
    value_.clear();
    in_value_ = false;
    complete_ = false;
    aborted_ = false;
    paused_ = false;
    head_bytes_ = 0;
    chunk_line_bytes_ = 0;
    reason_.clear();
  }

  /// The status line's reason phrase of the response being read (RFC 9112 section 4; often empty), from
  /// on_h1_headers_end on.
  const std::string& reason() const noexcept { return reason_; }

  /// Parses bytes of the response. Sets `consumed`; bytes after the end of the response are left.
  std::error_code feed(const char* data, std::size_t len, std::size_t& consumed) {
    consumed = len;
    if (paused_) {
      paused_ = false;
      llhttp_resume(&parser_);
    }
    auto rc = llhttp_execute(&parser_, data, len);
    if (rc == HPE_OK) return {};
    if (rc == HPE_PAUSED) {
      consumed = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
      return {};
    }
    if (aborted_) return abort_error_;
    return error::protocol_error;
  }

  /// The connection ended: completes a close-delimited body, or reports a truncated response.
  std::error_code finish() {
    if (complete_) return {};
    llhttp_finish(&parser_);  // completes a close-delimited body through on_message_complete
    return complete_ ? std::error_code{} : std::error_code{error::connection_closed};
  }

  bool complete() const noexcept { return complete_; }
  /// The listener paused the body (on_h1_data answered pause): feed the bytes after `consumed` to go on.
  bool paused() const noexcept { return paused_; }
  /// RFC 9112 section 9.3: whether the connection may carry another request.
  bool keep_alive() const { return complete_ && llhttp_should_keep_alive(&parser_) != 0; }
  /// Marks the response aborted by the listener with `ec` (body or headers over a limit).
  void abort(std::error_code ec) {
    aborted_ = true;
    abort_error_ = ec;
  }

  /// A request head: request line, Host, the caller's fields, and framing of the body. The library owns
  /// framing (DESIGN section 10): the caller's Host, Content-Length and TE (checked by validate_request)
  /// are never written, so the head has exactly one Host and at most one framing field.
  static std::string serialize_head(std::string_view method, std::string_view target, std::string_view host,
                                    const fields& headers, std::optional<std::size_t> content_length,
                                    bool chunked) {
    std::string out;
    out.reserve(128 + headers.size() * 32);
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host).append("\r\n");
    for (const auto& [n, v] : headers)
      if (!is_framing_field(n)) out.append(n).append(": ").append(v).append("\r\n");
    if (chunked) out.append("Transfer-Encoding: chunked\r\n");
    else if (content_length) out.append("Content-Length: ").append(std::to_string(*content_length)).append("\r\n");
    out.append("\r\n");
    return out;
  }

  /// Appends one piece of a request body as it goes on the wire: as is, or (`chunked`) as a chunk of
  /// chunked transfer coding (RFC 9112 section 7.1), with the last chunk after the final piece.
  static void append_body(std::string& out, std::string_view piece, bool chunked, bool last,
                          const fields& trailers = {}) {
    if (!chunked) {
      out.append(piece);
      return;
    }
    if (!piece.empty()) {
      char hex[20];
      int hl = std::snprintf(hex, sizeof hex, "%zx\r\n", piece.size());
      out.append(hex, static_cast<std::size_t>(hl)).append(piece).append("\r\n");
    }
    if (!last) return;
    out.append("0\r\n");
    for (const auto& [n, v] : trailers) out.append(n).append(": ").append(v).append("\r\n");  // RFC 9112 7.1.2
    out.append("\r\n");
  }

 private:
  static h1_engine& self(llhttp_t* p) { return *static_cast<h1_engine*>(p->data); }

  // Every byte of a head (status text, field names and values) counts as it arrives.
  bool count_head(std::size_t len) {
    head_bytes_ += len;
    if (head_bytes_ <= max_head_bytes_) return true;
    abort(error::headers_too_large);
    return false;
  }
  static int on_status(llhttp_t* p, const char* at, std::size_t len) {
    auto& e = self(p);
    if (!e.count_head(len)) return -1;
    e.reason_.append(at, len);
    return 0;
  }
  static int on_chunk_header(llhttp_t* p) {
    self(p).chunk_line_bytes_ = 0;
    return 0;
  }
  static int on_chunk_extension(llhttp_t* p, const char*, std::size_t len) {
    auto& e = self(p);
    e.chunk_line_bytes_ += len;
    if (e.chunk_line_bytes_ <= e.max_head_bytes_) return 0;
    e.abort(error::headers_too_large);
    return -1;
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t len) {
    auto& e = self(p);
    if (!e.count_head(len)) return -1;
    if (e.in_value_) {
      e.field_.clear();
      e.value_.clear();
      e.in_value_ = false;
    }
    e.field_.append(at, len);
    return 0;
  }
  static int on_header_value(llhttp_t* p, const char* at, std::size_t len) {
    auto& e = self(p);
    if (!e.count_head(len)) return -1;
    e.in_value_ = true;
    e.value_.append(at, len);
    return 0;
  }
  static int on_header_value_complete(llhttp_t* p) {
    auto& e = self(p);
    bool ok = p->status_code < 100 || p->status_code >= 200 ? e.listener_.on_h1_header(e.field_, e.value_) : true;
    e.field_.clear();
    e.value_.clear();
    e.in_value_ = false;
    if (!ok) {
      e.abort(error::headers_too_large);
      return -1;
    }
    return 0;
  }
  static int on_headers_complete(llhttp_t* p) {
    auto& e = self(p);
    // llhttp reads any three digits; "050" is no HTTP status (RFC 9110 section 15), as in HTTP/2.
    if (p->status_code < 100) {
      e.abort(error::protocol_error);
      return -1;
    }
    if (p->status_code >= 100 && p->status_code < 200) {
      e.head_bytes_ = 0;  // interim: no body, wait for the final one, whose head counts anew
      e.reason_.clear();
      e.listener_.on_h1_interim(p->status_code);
      return 1;
    }
    e.listener_.on_h1_headers_end(p->status_code);
    return e.head_ ? 1 : 0;  // RFC 9110 section 9.3.2: a response to HEAD has no content
  }
  static int on_body(llhttp_t* p, const char* at, std::size_t len) {
    auto& e = self(p);
    switch (e.listener_.on_h1_data(at, len)) {
      case h1_listener::data_result::more: return 0;
      case h1_listener::data_result::pause: e.paused_ = true; return HPE_PAUSED;
      case h1_listener::data_result::abort: break;
    }
    if (!e.aborted_) e.abort(error::body_too_large);
    return -1;
  }
  static int on_message_complete(llhttp_t* p) {
    auto& e = self(p);
    if (p->status_code >= 100 && p->status_code < 200) return 0;  // keep parsing for the final response
    e.complete_ = true;
    e.listener_.on_h1_complete();
    return HPE_PAUSED;
  }

  h1_listener& listener_;
  std::size_t max_head_bytes_;
  std::size_t head_bytes_ = 0;
  std::size_t chunk_line_bytes_ = 0;
  bool paused_ = false;
  llhttp_settings_t settings_{};
  llhttp_t parser_{};
  std::string field_, value_;
  std::string reason_;  // the status line's reason phrase (bounded with the head)
  bool in_value_ = false;
  bool head_ = false;
  bool complete_ = false;
  bool aborted_ = false;
  std::error_code abort_error_;
};

}  // namespace h2coal::detail
