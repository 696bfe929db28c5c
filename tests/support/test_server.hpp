// SPDX-License-Identifier: BSL-1.0
// tests/support/test_server.hpp: a programmable HTTP/2 and HTTP/1.1 server for the integration tests.
//
// Runs in-process on its own thread and io_context, listening on loopback. Requests are answered by a
// fixed set of paths (below) so a test steers the server through the URL alone; the options steer what
// no URL can (certificates, ALPN, ORIGIN frames, GOAWAY, 421). Everything the server saw is recorded and
// can be read back from the test thread.
//
// Paths (all protocols unless noted):
//   /            any unknown path: 200 text/plain "host=<routed host> path=<path>",
//                headers x-routed-host and x-connection (0-based connection index)
//   /bytes/N     N deterministic bytes, byte i = 'a' + (i * 7 + i / 251) % 26 (see test_body_byte)
//   /echo        the request body
//   /status/N    status N, body "status N" (none for 1xx, 204, 304)
//   /headers/N   N response headers x-h-<i>, 100-byte values
//   /delay/MS    answers after MS milliseconds
//   /stall       answers only when release_stalled() is called (200 "released")
//   /reset/CODE  HTTP/2: RST_STREAM(CODE) at once; HTTP/1.1: the connection is dropped
//   /goaway      HTTP/2: GOAWAY(NO_ERROR, last = this stream), then 200; HTTP/1.1: 200 + Connection: close
//   /close       the TCP connection is dropped as soon as the request headers arrive
//   /silence     HTTP/2: the connection never writes again (no answer, no PING ACK) and never closes;
//                HTTP/1.1: held as /stall
//   /chunked/N   HTTP/1.1: N bytes as above, Transfer-Encoding: chunked, several chunks
//   /eof/N       HTTP/1.1: N bytes as above, no Content-Length, Connection: close, ends at close
// The routed host is the :authority (or Host) host with the port stripped, or the SNI under route_by::sni.
#pragma once

#include "support/test_ca.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace h2coal::test {

namespace detail {
class server_core;
}

enum class server_protocol {
  h2,           // TLS; ALPN h2 when offered, and HTTP/2 is spoken even when ALPN is absent
  http1,        // TLS; ALPN http/1.1 when offered, HTTP/1.1 spoken
  auto_alpn,    // TLS; h2 if the client offers it, else http/1.1
  h2c,          // cleartext HTTP/2 with prior knowledge
  http1_plain,  // cleartext HTTP/1.1
};

enum class route_by { authority, sni };

// One HTTP/2 stream or one HTTP/1.1 request as the server saw it.
struct request_info {
  std::size_t connection = 0;   // 0-based index of the connection in accept order
  std::string sni;              // "" when none or cleartext
  std::string local_address;    // which 127.0.0.x the connection arrived on
  std::string method;
  std::string authority;        // :authority, or Host
  std::string path;
  std::string body;
  std::int32_t stream_id = 0;   // 0 for HTTP/1.1
  std::vector<std::pair<std::string, std::string>> headers;  // regular fields, lowercase names, in order

  // The first value of a field (`name` lowercase), or "" when absent.
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return {};
  }
  bool has_header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return true;
    return false;
  }
};

// An answer a test makes itself (server_options::answer): any status, fields, body (sent with a
// Content-Length, or chunked on HTTP/1.1) and trailers (HTTP/2 trailing HEADERS; on HTTP/1.1 they make
// the body chunked).
struct custom_answer {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;  // lowercase names
  bool chunked = false;
};

// A 3xx with `location` in its Location field and the body "moved".
inline custom_answer redirect_answer(unsigned status, std::string location) {
  custom_answer a;
  a.status = status;
  a.headers = {{"location", std::move(location)}, {"content-type", "text/plain"}};
  a.body = "moved";
  return a;
}

// A text/plain answer.
inline custom_answer text_answer(std::string body, unsigned status = 200) {
  custom_answer a;
  a.status = status;
  a.headers = {{"content-type", "text/plain"}};
  a.body = std::move(body);
  return a;
}

struct server_options {
  // Listens on each address, all on one port: the first is bound to `port` (0: the OS picks), the others
  // to the port the first got.
  std::vector<std::string> addresses{"127.0.0.1"};
  std::uint16_t port = 0;
  server_protocol protocol = server_protocol::auto_alpn;
  cert_pair cert;                              // default certificate (TLS modes)
  std::map<std::string, cert_pair> sni_certs;  // certificate by SNI host (exact, case-insensitive)
  bool request_client_cert = false;            // ask for, not require, a client certificate
  route_by routing = route_by::authority;      // under route_by::sni, a connection without SNI routes to ""
  // 421 when the :authority (or Host) host, port stripped, differs from the SNI; without SNI (an IP
  // literal, or cleartext) every request that names a host is misdirected.
  bool misdirect_on_mismatch = false;
  std::function<bool(const request_info&)> answer_421;  // 421 when it returns true (server thread)
  // Asked first for every complete request (server thread): an answer, or nullopt for the paths below.
  std::function<std::optional<custom_answer>(const request_info&)> answer;
  // The path prefixes each routed host serves, like separate services behind one router: a request routed
  // to a host listed here whose path (query stripped) starts with none of its prefixes gets 404
  // "no route". Hosts not listed serve every path above. (The h2get demo server's sni-routing mode.)
  std::map<std::string, std::vector<std::string>> paths_by_host;

  // ORIGIN frames (RFC 8336: type 0xc, stream 0) sent right after the server's SETTINGS, one frame per
  // entry, each origin written verbatim so tests can send malformed ones.
  std::vector<std::vector<std::string>> origin_frames;
  // Overrides origin_frames per connection, given the connection's SNI (server thread).
  std::function<std::vector<std::vector<std::string>>(const std::string& sni)> origin_frames_for_sni;
  std::uint8_t origin_frame_flags = 0;

  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t initial_window_size = 0;  // 0: nghttp2's default (65535)
  // 0: never. Else after the N-th stream of a connection arrives: GOAWAY(NO_ERROR, last = that stream),
  // streams up to it are answered, later ones refused (RST_STREAM REFUSED_STREAM), then the connection
  // closes once the answered streams are done.
  std::size_t goaway_after_streams = 0;
  bool stall_handshake = false;                       // accept TCP, then never read or write
  std::size_t http1_max_requests_per_connection = 0;  // 0: unlimited keep-alive
  // Off: requests() stays empty, so a long soak run does not grow the server's memory.
  bool record_requests = true;
  // TLS 1.2 at most (TLS 1.2 session resumption: session tickets, RFC 5077).
  bool tls12_only = false;
  // Server-side session resumption (TLS 1.3 tickets, TLS 1.2 tickets and session cache); on by default,
  // as OpenSSL has it. The ticket keys are the server's, not a certificate's: keeping a session to the
  // host it was made for is the client's job (connection_info::offered_session shows what it offered).
  bool session_resumption = true;
};

struct connection_info {
  std::size_t index = 0;
  std::string sni;
  std::string local_address;
  std::string alpn;            // "" when none was negotiated
  bool client_cert = false;    // the client presented a certificate
  bool offered_session = false;  // the ClientHello offered a session (TLS 1.3 pre_shared_key, or a TLS 1.2 ticket)
  bool resumed = false;        // the handshake resumed a session (SSL_session_reused)
  std::size_t streams = 0;     // streams (HTTP/1.1: requests) received
  std::size_t max_open_streams = 0;
};

// Byte i of a /bytes/N, /chunked/N or /eof/N body.
constexpr char test_body_byte(std::size_t i) {
  return static_cast<char>('a' + (i * 7 + i / 251) % 26);
}

// Options whose answer hook answers these paths (query stripped) as given; the rest as the paths above.
inline server_options answering(std::map<std::string, custom_answer> by_path) {
  server_options so;
  so.answer = [by_path = std::move(by_path)](const request_info& r) -> std::optional<custom_answer> {
    auto it = by_path.find(r.path.substr(0, r.path.find('?')));
    if (it == by_path.end()) return std::nullopt;
    return it->second;
  };
  return so;
}

// Options whose answer hook is `answer`.
inline server_options answering(std::function<std::optional<custom_answer>(const request_info&)> answer) {
  server_options so;
  so.answer = std::move(answer);
  return so;
}

class test_server {
 public:
  // Binds, then starts a thread running the server's own io_context. Throws if it cannot bind.
  explicit test_server(server_options opts);
  // Closes the listeners and every connection, stops the io_context and joins; never waits on a peer.
  ~test_server();
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  std::uint16_t port() const;
  std::vector<std::string> addresses() const;

  // Snapshots, safe from any thread.
  std::size_t connection_count() const;  // TCP connections accepted, handshake finished or not
  std::vector<connection_info> connections() const;
  std::vector<request_info> requests() const;  // in arrival order (headers and body complete)
  std::size_t max_open_streams() const;  // the most streams ever open at once on any one connection
  std::size_t resumed_handshakes() const;  // finished TLS handshakes that resumed a session

  // GOAWAY on every live HTTP/2 connection (last_stream_id = the highest stream seen). With NO_ERROR the
  // connections drain and close; with another code they close once the frame is written.
  void send_goaway_all(std::uint32_t error_code = 0);
  // Answers every request held by /stall with 200 "released".
  void release_stalled();

 private:
  std::unique_ptr<detail::server_core> core_;
};

}  // namespace h2coal::test
