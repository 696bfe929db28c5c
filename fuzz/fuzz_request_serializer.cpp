// SPDX-License-Identifier: BSL-1.0
// fuzz/fuzz_request_serializer.cpp: the HTTP/1.1 request serialiser (validate_request, h1_engine::serialize_head
// and the body framing of connection::write_h1_body) read back by llhttp as a server would read it.
//
// DESIGN section 10: whatever a caller puts in a request, what reaches the wire is exactly one message,
// with exactly one Host (the authority meant), at most one framing field written by the library itself,
// the body that was given, and the caller's other fields unchanged. A request validate_request refuses
// sends nothing, so it is not looked at further.
//
// Input: two flag bytes, then records separated by 0xff (so 0xff itself never appears in a record):
//   flags[0] bits 0-1  body: 0 buffered, 1 source of declared length = its size, 2 source of unknown
//                      length (chunked), 3 source whose declared length is record 4 (may be wrong)
//            bit 2     request::authority = record 2
//            bits 4-7  bytes per source read (0: as many as fit)
//   flags[1] bits 0-5  method from a table when record 0 is empty
//            bit 6     the source says eof in a read of its own, after the last bytes
//            bit 7     the source has nothing to give before each piece (the connection waits)
//   record 0 method, 1 URL (one starting with '/' or '?' goes to http://a.test), 2 authority, 3 body,
//   4 declared length (decimal), 5... header fields "name:value" (split at the first ':').
#include <h2coal/detail/h1_engine.hpp>
#include <h2coal/detail/request_op.hpp>
#include <h2coal/request.hpp>
#include <h2coal/url.hpp>

#include <llhttp.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using h2coal::detail::iequals;
using h2coal::detail::trim_ows;

// What the llhttp server side saw.
struct parsed {
  int begins = 0;
  int completes = 0;
  std::string method, url, body;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string field, value;
  bool in_value = false;
};

parsed& self(llhttp_t* p) { return *static_cast<parsed*>(p->data); }

int on_message_begin(llhttp_t* p) {
  ++self(p).begins;
  return 0;
}
int on_method(llhttp_t* p, const char* at, std::size_t len) {
  self(p).method.append(at, len);
  return 0;
}
int on_url(llhttp_t* p, const char* at, std::size_t len) {
  self(p).url.append(at, len);
  return 0;
}
int on_header_field(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.in_value) {  // a field's pieces may arrive split: accumulate until its value completes
    s.field.clear();
    s.value.clear();
    s.in_value = false;
  }
  s.field.append(at, len);
  return 0;
}
int on_header_value(llhttp_t* p, const char* at, std::size_t len) {
  self(p).in_value = true;
  self(p).value.append(at, len);
  return 0;
}
int on_header_value_complete(llhttp_t* p) {
  auto& s = self(p);
  s.fields.emplace_back(std::move(s.field), std::move(s.value));
  s.field.clear();
  s.value.clear();
  s.in_value = false;
  return 0;
}
int on_body(llhttp_t* p, const char* at, std::size_t len) {
  self(p).body.append(at, len);
  return 0;
}
int on_message_complete(llhttp_t* p) {
  ++self(p).completes;
  return HPE_PAUSED;  // stop right after the first message: whatever follows would be a second one
}

// A body source as a caller writes one: `body` in pieces of `piece` bytes, optionally an empty read
// before each piece, and eof with the last piece or in a read of its own.
struct fuzz_source {
  std::string body;
  std::size_t piece = 0;
  bool eof_apart = false;
  bool idle_first = false;
  std::size_t offset = 0;
  bool idled = false;

  std::size_t read(std::span<char> buf, bool& eof) {
    if (idle_first && !idled && offset < body.size()) {
      idled = true;
      return 0;
    }
    idled = false;
    std::size_t n = std::min(buf.size(), body.size() - offset);
    if (piece) n = std::min(n, piece);
    std::memcpy(buf.data(), body.data() + offset, n);
    offset += n;
    eof = offset == body.size() && (!eof_apart || n == 0);
    return n;
  }
};

std::vector<std::string_view> split_records(std::string_view in) {
  std::vector<std::string_view> out;
  for (;;) {
    auto sep = in.find('\xff');
    out.push_back(in.substr(0, sep));
    if (sep == std::string_view::npos) return out;
    in.remove_prefix(sep + 1);
  }
}

constexpr std::array<std::string_view, 16> methods = {"GET",   "POST",    "PUT",   "PATCH",  "DELETE", "HEAD",
                                                      "OPTIONS", "TRACE", "CONNECT", "PRI", "PROPFIND", "M-SEARCH",
                                                      "get",   "QUERY",   "LINK",  "SOURCE"};

// The methods llhttp reads in an HTTP/1.1 request line; any other token is a valid method (RFC 9110
// section 9.1) that this parser cannot check: an error in such a request line is not looked at further.
bool llhttp_knows(std::string_view method) {
#define H2COAL_FUZZ_METHOD(num, name, string) if (method == #string) return true;
  HTTP_METHOD_MAP(H2COAL_FUZZ_METHOD)
#undef H2COAL_FUZZ_METHOD
  return false;
}

[[noreturn]] void fail(const char* why, std::string_view wire) {
  std::fprintf(stderr, "fuzz_request_serializer: %s\n--- wire (%zu bytes) ---\n", why, wire.size());
  std::fwrite(wire.data(), 1, std::min<std::size_t>(wire.size(), 4096), stderr);
  std::fprintf(stderr, "\n---\n");
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t f0 = data[0], f1 = data[1];
  auto rec = split_records(std::string_view(reinterpret_cast<const char*>(data + 2), size - 2));
  rec.resize(std::max<std::size_t>(rec.size(), 5));

  // ---- the request a caller could write ----
  h2coal::request r;
  r.method = rec[0].empty() ? std::string(methods[(f1 & 0x3f) % methods.size()]) : std::string(rec[0]);
  r.url = !rec[1].empty() && (rec[1].front() == '/' || rec[1].front() == '?') ? "http://a.test" + std::string(rec[1])
                                                                             : std::string(rec[1]);
  if (f0 & 4) r.authority = std::string(rec[2]);
  const int body_mode = f0 & 3;
  const std::string body(rec[3]);
  auto src = std::make_shared<fuzz_source>();
  if (body_mode == 0) {
    r.body = body;
  } else {
    src->body = body;
    src->piece = f0 >> 4;
    src->eof_apart = (f1 & 0x40) != 0;
    src->idle_first = (f1 & 0x80) != 0;
    h2coal::body_source s;
    s.read = [src](std::span<char> buf, bool& eof) { return src->read(buf, eof); };
    if (body_mode == 1) s.length = body.size();
    if (body_mode == 3) {
      std::size_t n = 0;
      for (char c : rec[4].substr(0, 6))  // a few digits are enough to be wrong either way
        if (c >= '0' && c <= '9') n = n * 10 + static_cast<std::size_t>(c - '0');
      s.length = n;
    }
    r.source = std::move(s);
  }
  for (std::size_t i = 5; i < rec.size(); ++i) {
    auto colon = rec[i].find(':');
    if (colon == std::string_view::npos) r.headers.add(std::string(rec[i]), "");
    else r.headers.add(std::string(rec[i].substr(0, colon)), std::string(rec[i].substr(colon + 1)));
  }

  // ---- what pool::start refuses: nothing is sent ----
  std::error_code ec;
  const auto target = h2coal::url::parse(r.url, ec);
  if (ec) return 0;
  if (!h2coal::detail::is_token(r.method)) return 0;
  const std::string url_authority = target.origin.authority();
  if (h2coal::detail::validate_request(r, target.origin)) return 0;

  // ---- what connection::start_h1 and write_h1_body put on the wire ----
  const auto length = h2coal::detail::framed_length(r);
  const bool chunked = r.source && !length;
  const std::string authority = r.authority ? *r.authority : url_authority;
  std::string wire =
      h2coal::detail::h1_engine::serialize_head(r.method, target.target, authority, r.headers, length, chunked);
  const std::size_t head_size = wire.size();
  h2coal::detail::request_op op;  // its read_body is the one that holds a source to its declared length
  op.req = r;
  std::string sent_body;
  bool body_failed = false;
  bool eof = !op.req.has_body();
  int idle = 0;
  while (!eof) {
    std::array<char, 64 * 1024> piece;
    long n = op.read_body(piece.data(), piece.size(), eof);
    if (n < 0) {
      body_failed = true;  // the request fails, the connection closes: nothing more goes out
      break;
    }
    if (n == 0 && !eof && ++idle > 2 * static_cast<int>(body.size()) + 4) fail("a source that never ends", wire);
    sent_body.append(piece.data(), static_cast<std::size_t>(n));
    h2coal::detail::h1_engine::append_body(wire, std::string_view(piece.data(), static_cast<std::size_t>(n)), chunked, eof);
  }
  const bool declared_wrong = body_mode == 3 && r.source->length != body.size();
  if (body_failed != declared_wrong) fail("read_body and the declared length disagree", wire);
  if (!body_failed && sent_body != (r.source ? body : r.body)) fail("the body written is not the body given", wire);

  // ---- read back as a strict server (HTTP_REQUEST, no lenient flags) ----
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_message_begin = on_message_begin;
  settings.on_method = on_method;
  settings.on_url = on_url;
  settings.on_header_field = on_header_field;
  settings.on_header_value = on_header_value;
  settings.on_header_value_complete = on_header_value_complete;
  settings.on_body = on_body;
  settings.on_message_complete = on_message_complete;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  parsed got;
  parser.data = &got;
  const auto rc = llhttp_execute(&parser, wire.data(), wire.size());
  std::size_t consumed = wire.size();
  if (rc == HPE_PAUSED) consumed = static_cast<std::size_t>(llhttp_get_error_pos(&parser) - wire.data());
  else if (rc != HPE_OK && !llhttp_knows(r.method) &&
           llhttp_get_error_pos(&parser) <= wire.data() + wire.find("\r\n") + 2)
    return 0;  // a method llhttp does not read (or PRI, which it reads only as HTTP/2's preface)
  else if (rc != HPE_OK) fail(llhttp_errno_name(rc), wire);

  if (body_failed) {
    // A source that broke its word: the head and a prefix of the body at most, never a second message.
    if (got.begins != 1 || got.completes > 1 || consumed != wire.size()) fail("a broken source framed more", wire);
    if (got.completes == 1 && wire.size() != head_size + got.body.size()) fail("bytes after the message", wire);
    if (got.body != std::string_view(body).substr(0, got.body.size())) fail("not a prefix of the body", wire);
  } else {
    if (got.begins != 1 || got.completes != 1) fail("not exactly one message", wire);
    if (consumed != wire.size()) fail("bytes left after the message", wire);
    if (got.body != sent_body) fail("the parsed body differs", wire);
  }
  if (got.method != r.method) fail("the method differs", wire);
  if (got.url != target.target) fail("the target differs", wire);

  // Fields: one Host (the authority meant), the library's framing, and the caller's others in order.
  int hosts = 0, lengths = 0, codings = 0;
  std::vector<std::pair<std::string_view, std::string_view>> others;
  for (const auto& [n, v] : got.fields) {
    if (iequals(n, "host")) {
      ++hosts;
      if (trim_ows(v) != authority) fail("Host is not the authority meant", wire);
    } else if (iequals(n, "content-length")) {
      ++lengths;
      if (!length || chunked || trim_ows(v) != std::to_string(*length)) fail("a Content-Length not the library's", wire);
    } else if (iequals(n, "transfer-encoding")) {
      ++codings;
      if (!chunked || trim_ows(v) != "chunked") fail("a Transfer-Encoding not the library's", wire);
    } else {
      others.emplace_back(n, trim_ows(v));
    }
  }
  if (hosts != 1) fail("not exactly one Host", wire);
  if (lengths + codings > 1) fail("two framing fields", wire);
  if (lengths + codings != (chunked || length ? 1 : 0)) fail("the body is not framed", wire);
  std::vector<std::pair<std::string_view, std::string_view>> asked;
  for (const auto& [n, v] : r.headers)
    if (!h2coal::detail::is_framing_field(n)) asked.emplace_back(n, trim_ows(v));
  if (others != asked) fail("the caller's fields were not sent as given", wire);
  return 0;
}
