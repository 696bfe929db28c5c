// SPDX-License-Identifier: BSL-1.0
// tests/support/test_server_h1.cpp: the test server's HTTP/1.1 side, a minimal hand-written server.
//
// One request at a time per connection (pipelined requests wait in the input buffer). Request bodies may
// be Content-Length or chunked. Response bodies are written through fill_output() a piece at a time, so
// a large /bytes/N is never held whole.
#include "support/test_server_detail.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>

namespace h2coal::test::detail {
namespace {

constexpr std::size_t max_head_size = 64 * 1024;

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool contains_token(std::string_view list, std::string_view token) {
  return lowercase(list).find(token) != std::string::npos;
}

const char* reason(unsigned status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 421: return "Misdirected Request";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

// The request line and header fields, parsed before any body.
struct request_head {
  request_info req;
  std::string version;
  std::vector<std::pair<std::string, std::string>> fields;  // lowercase names

  const std::string* field(std::string_view name) const {
    for (const auto& [n, v] : fields) {
      if (n == name) return &v;
    }
    return nullptr;
  }
};

enum class parse_status { incomplete, done, bad };

// RFC 9112 sections 3 and 5: request-line CRLF *( field-line CRLF ) CRLF.
parse_status parse_head(const std::string& in, request_head& head, std::size_t& consumed) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return in.size() > max_head_size ? parse_status::bad : parse_status::incomplete;
  const std::string_view text(in.data(), end);
  std::size_t line_end = text.find("\r\n");
  const std::string_view line = text.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return parse_status::bad;
  head.req.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  head.version = std::string(line.substr(sp2 + 1));
  if (!head.version.starts_with("HTTP/1.")) return parse_status::bad;
  // Absolute form (RFC 9112 section 3.2.2), as sent to proxies: split off the authority.
  std::string absolute_authority;
  if (const auto scheme = target.find("://"); scheme != std::string_view::npos && target.front() != '/') {
    const std::string_view rest = target.substr(scheme + 3);
    const auto slash = rest.find('/');
    absolute_authority = std::string(rest.substr(0, slash));
    target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  head.req.path = std::string(target);

  while (line_end != std::string_view::npos) {
    const std::size_t start = line_end + 2;
    line_end = text.find("\r\n", start);
    const std::string_view field = text.substr(start, line_end == std::string_view::npos ? std::string_view::npos
                                                                                         : line_end - start);
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return parse_status::bad;
    std::string name = lowercase(field.substr(0, colon));
    std::string value(trim(field.substr(colon + 1)));
    head.fields.emplace_back(std::move(name), std::move(value));
  }
  const std::string* host = head.field("host");
  head.req.authority = !absolute_authority.empty() ? absolute_authority : host ? *host : std::string();
  consumed = end + 4;
  return parse_status::done;
}

// RFC 9112 section 7.1: chunk-size [ext] CRLF data CRLF ... 0 CRLF *(trailer CRLF) CRLF.
parse_status parse_chunked(const std::string& in, std::size_t pos, std::string& body, std::size_t& consumed) {
  body.clear();
  for (;;) {
    const auto eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return parse_status::incomplete;
    std::string_view size_text = std::string_view(in).substr(pos, eol - pos);
    size_text = trim(size_text.substr(0, size_text.find(';')));  // chunk extensions are ignored
    std::size_t size = 0;
    const auto [p, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (ec != std::errc() || p != size_text.data() + size_text.size() || size_text.empty()) {
      return parse_status::bad;
    }
    pos = eol + 2;
    if (size == 0) {
      for (;;) {  // trailer fields, ignored
        const auto trailer_end = in.find("\r\n", pos);
        if (trailer_end == std::string::npos) return parse_status::incomplete;
        const bool last = trailer_end == pos;
        pos = trailer_end + 2;
        if (last) {
          consumed = pos;
          return parse_status::done;
        }
      }
    }
    if (in.size() < pos + size + 2) return parse_status::incomplete;
    body.append(in, pos, size);
    if (in.compare(pos + size, 2, "\r\n") != 0) return parse_status::bad;
    pos += size + 2;
  }
}

class h1_connection final : public connection {
 public:
  h1_connection(server_core& core, std::size_t index, std::unique_ptr<transport> t, std::string sni,
                std::string local_address)
      : connection(core, index, std::move(t), std::move(sni), std::move(local_address)), timer_(core.io()) {}

  void start() override {
    read_loop();
  }
  void release_stalled() override;

 private:
  std::shared_ptr<h1_connection> self() {
    return std::static_pointer_cast<h1_connection>(shared_from_this());
  }

  void on_bytes(const std::uint8_t* data, std::size_t size) override {
    in_.append(reinterpret_cast<const char*>(data), size);
    process();
  }
  void fill_output(std::string& out) override;
  void on_output_drained() override;
  void on_closed() override { timer_.cancel(); }

  void process();
  void handle(request_head head);
  void start_response(response r);
  void bad_request();

  asio::steady_timer timer_;  // /delay
  std::string in_;            // received, not yet parsed
  std::optional<request_head> head_;  // headers parsed, body still to come
  std::size_t head_size_ = 0;
  std::size_t served_ = 0;

  // The request being answered.
  bool busy_ = false;
  bool keep_alive_ = true;
  std::string method_;
  std::optional<request_info> stalled_;

  // The response being written.
  bool responding_ = false;
  bool close_after_ = false;
  std::string head_out_;
  std::string body_;
  bool generated_ = false;
  bool chunked_ = false;
  std::vector<std::pair<std::string, std::string>> trailers_;
  bool last_chunk_sent_ = true;
  std::size_t chunk_size_ = 0;
  std::size_t offset_ = 0;
  std::size_t remaining_ = 0;
};

void h1_connection::process() {
  while (!busy_ && !closed()) {
    if (!head_) {
      request_head head;
      std::size_t consumed = 0;
      const auto st = parse_head(in_, head, consumed);
      if (st == parse_status::incomplete) return;
      if (st == parse_status::bad) return bad_request();
      head_size_ = consumed;
      head_ = std::move(head);
      if (acts_on_headers(head_->req.path)) {
        in_.clear();  // the connection is about to go; the body does not matter
        handle(std::move(*std::exchange(head_, std::nullopt)));
        continue;
      }
    }
    std::size_t end = head_size_;
    if (const std::string* te = head_->field("transfer-encoding"); te && contains_token(*te, "chunked")) {
      const auto st = parse_chunked(in_, head_size_, head_->req.body, end);
      if (st == parse_status::incomplete) return;
      if (st == parse_status::bad) return bad_request();
    } else if (const std::string* cl = head_->field("content-length")) {
      std::size_t length = 0;
      const auto [p, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), length);
      if (ec != std::errc() || p != cl->data() + cl->size()) return bad_request();
      if (in_.size() < head_size_ + length) return;
      head_->req.body.assign(in_, head_size_, length);
      end = head_size_ + length;
    }
    in_.erase(0, end);
    handle(std::move(*std::exchange(head_, std::nullopt)));
  }
}

void h1_connection::handle(request_head head) {
  busy_ = true;
  ++served_;
  core_.note_streams(index_, served_, 1);
  const std::string* conn = head.field("connection");
  // RFC 9112 section 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
  keep_alive_ = head.version == "HTTP/1.0" ? (conn && contains_token(*conn, "keep-alive"))
                                           : !(conn && contains_token(*conn, "close"));
  if (opts_.http1_max_requests_per_connection != 0 && served_ >= opts_.http1_max_requests_per_connection) {
    keep_alive_ = false;
  }
  method_ = head.req.method;

  request_info req = new_request();
  req.method = std::move(head.req.method);
  req.authority = std::move(head.req.authority);
  req.path = std::move(head.req.path);
  req.body = std::move(head.req.body);
  req.headers = head.fields;
  core_.add_request(req);
  route_result r = route(opts_, req);
  switch (r.what) {
    case action::respond:
    case action::goaway:  // no GOAWAY in HTTP/1.1; the nearest thing is closing after this response
      start_response(std::move(r.resp));
      break;
    case action::delay:
      timer_.expires_after(std::chrono::milliseconds(r.value));
      timer_.async_wait([self = self(), resp = std::move(r.resp)](const std::error_code& ec) mutable {
        if (!ec && !self->closed()) self->start_response(std::move(resp));
      });
      break;
    case action::stall:
    case action::silence:
      stalled_ = std::move(req);
      break;
    case action::reset:  // no RST_STREAM in HTTP/1.1: drop the connection
    case action::close:
      close();
      break;
  }
}

void h1_connection::release_stalled() {
  if (!stalled_ || closed()) return;
  response r = released_response(opts_, *stalled_);
  stalled_.reset();
  start_response(std::move(r));
}

void h1_connection::bad_request() {
  keep_alive_ = false;
  busy_ = true;
  method_ = "GET";
  response r;
  r.status = 400;
  r.headers = {{"content-type", "text/plain"}};
  r.body = "bad request";
  start_response(std::move(r));
}

void h1_connection::start_response(response r) {
  close_after_ = !keep_alive_ || r.close_after || r.framing == response::h1_framing::until_close;
  const bool with_body = r.status_allows_body();
  const bool head = method_ == "HEAD";
  chunked_ = with_body && r.framing == response::h1_framing::chunked;

  head_out_ = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
  if (with_body) {
    if (r.framing == response::h1_framing::content_length) {
      head_out_ += "content-length: " + std::to_string(r.body_size()) + "\r\n";
    } else if (chunked_) {
      head_out_ += "transfer-encoding: chunked\r\n";
    }
  }
  for (const auto& [name, value] : r.headers) head_out_ += name + ": " + value + "\r\n";
  if (close_after_) head_out_ += "connection: close\r\n";
  head_out_ += "\r\n";

  remaining_ = with_body && !head ? r.body_size() : 0;
  body_ = std::move(r.body);
  trailers_ = std::move(r.trailers);
  generated_ = r.generated;
  offset_ = 0;
  if (head) chunked_ = false;
  last_chunk_sent_ = !chunked_;
  // Several chunks even for small bodies, so a client's chunk reassembly is exercised.
  chunk_size_ = std::clamp<std::size_t>((remaining_ + 3) / 4, 1, 16 * 1024);
  responding_ = true;
  pump();
}

void h1_connection::fill_output(std::string& out) {
  out += std::exchange(head_out_, {});
  while (remaining_ > 0 && out.size() < max_write_size) {
    const std::size_t n = std::min(remaining_, chunked_ ? chunk_size_ : max_write_size - out.size());
    if (chunked_) {
      char hex[20];
      const auto [p, ec] = std::to_chars(hex, hex + sizeof hex, n, 16);
      out.append(hex, p);
      out += "\r\n";
    }
    if (generated_) {
      for (std::size_t i = 0; i < n; ++i) out += test_body_byte(offset_ + i);
    } else {
      out.append(body_, offset_, n);
    }
    if (chunked_) out += "\r\n";
    offset_ += n;
    remaining_ -= n;
  }
  if (chunked_ && remaining_ == 0 && !last_chunk_sent_) {
    out += "0\r\n";
    for (const auto& [name, value] : trailers_) out += name + ": " + value + "\r\n";
    out += "\r\n";
    last_chunk_sent_ = true;
  }
}

void h1_connection::on_output_drained() {
  if (!responding_) return;
  responding_ = false;
  if (close_after_) {
    graceful_close();
    return;
  }
  busy_ = false;
  process();  // a pipelined request may be waiting
}

}  // namespace

std::shared_ptr<connection> make_h1_connection(server_core& core, std::size_t index,
                                               std::unique_ptr<transport> t, std::string sni,
                                               std::string local_address) {
  return std::make_shared<h1_connection>(core, index, std::move(t), std::move(sni),
                                         std::move(local_address));
}

}  // namespace h2coal::test::detail
