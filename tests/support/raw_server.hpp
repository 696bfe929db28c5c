// tests/support/raw_server.hpp: a TLS server that writes exactly the bytes a test chooses.
//
// test_server speaks correct HTTP through nghttp2 and can only misbehave in the ways it was given knobs
// for. The faults a client must survive are mostly ones no correct server library produces: a frame over
// the size limit, a header block that is not valid HPACK, a response cut off by a TCP reset, a TLS alert
// in the middle of a body. raw_server does the TLS handshake (ALPN h2 or http/1.1), finds the requests in
// what the client sends (HTTP/2 HEADERS frames, HTTP/1.1 request heads) and hands each to the test, which
// answers with raw bytes (built with the h2::* helpers below, or written by hand) and may then reset,
// close or stall the connection. Anything the test does not answer simply stalls.
//
// One thread per connection with blocking sockets: small, and the handlers run in request order. The
// handlers run on those threads, never on the test's; they may only use the raw_connection they get.
#pragma once

#include "support/test_ca.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace h2coal::test {

enum class raw_protocol { h2, http1 };

struct raw_request {
  std::size_t connection = 0;  // 0-based accept order
  std::size_t index = 0;       // 0-based position among this connection's requests
  std::int32_t stream = 0;     // HTTP/2 stream id; 0 for HTTP/1.1
  std::string head;            // HTTP/1.1: the request head as received; HTTP/2: empty (HPACK)
};

class raw_connection {
 public:
  virtual ~raw_connection() = default;
  virtual std::size_t index() const = 0;
  /// Writes bytes through TLS (one SSL_write).
  virtual void write(std::string_view bytes) = 0;
  /// Writes bytes straight onto TCP, under TLS: a forged record the client's TLS layer must reject.
  virtual void write_below_tls(std::string_view bytes) = 0;
  /// Sends TLS close_notify (an alert), then leaves TCP open until the client closes it.
  virtual void close_notify() = 0;
  /// Aborts the TCP connection: SO_LINGER 0, so the kernel sends RST.
  virtual void reset() = 0;
  /// Closes TCP without close_notify (FIN).
  virtual void close() = 0;
};

struct raw_server_options {
  std::string address = "127.0.0.1";
  raw_protocol protocol = raw_protocol::h2;
  cert_pair cert;
  /// HTTP/2: write an empty SETTINGS frame (the server preface) right after the handshake, and
  /// acknowledge the client's SETTINGS. Off: the test writes whatever it wants in on_connect.
  bool send_settings = true;
  /// After the handshake (and the SETTINGS frame).
  std::function<void(raw_connection&)> on_connect;
  /// For each request, in arrival order.
  std::function<void(raw_connection&, const raw_request&)> on_request;
};

class raw_server {
 public:
  explicit raw_server(raw_server_options opts);
  /// Closes the listener and every connection and joins their threads; never waits on a peer.
  ~raw_server();
  raw_server(const raw_server&) = delete;
  raw_server& operator=(const raw_server&) = delete;

  std::uint16_t port() const;
  std::size_t connection_count() const;  // TCP connections accepted
  std::vector<raw_request> requests() const;

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

// HTTP/2 frames, byte for byte (RFC 9113 section 4.1 and 6). Header blocks are HPACK literals without
// indexing and without Huffman coding (RFC 7541 section 6.2.2), so a test can read them in a hex dump.
namespace h2 {

using field_list = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::uint8_t type_data = 0x0, type_headers = 0x1, type_rst_stream = 0x3, type_settings = 0x4,
                              type_goaway = 0x7, type_continuation = 0x9, type_origin = 0xc;
inline constexpr std::uint8_t flag_end_stream = 0x1, flag_ack = 0x1, flag_end_headers = 0x4;

std::string frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream, std::string_view payload);
/// An HPACK header block of literal fields.
std::string header_block(const field_list& fields);
std::string headers(std::int32_t stream, const field_list& fields, bool end_stream, bool end_headers = true);
std::string data(std::int32_t stream, std::string_view bytes, bool end_stream);
std::string settings();
std::string goaway(std::int32_t last_stream_id, std::uint32_t error_code);
std::string rst_stream(std::int32_t stream, std::uint32_t error_code);
/// A complete 200 response with `body` (content-length set) ending the stream.
std::string response(std::int32_t stream, std::string_view body, int status = 200);

}  // namespace h2
}  // namespace h2coal::test
