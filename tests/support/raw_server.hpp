// SPDX-License-Identifier: BSL-1.0
// tests/support/raw_server.hpp: a TLS (or plain TCP) server that writes exactly the bytes a test chooses.
//
// test_server speaks correct HTTP through nghttp2 and can only misbehave in the ways it was given knobs
// for. The faults a client must survive are mostly ones no correct server library produces: a frame over
// the size limit, a header block that is not valid HPACK, a response cut off by a TCP reset, a TLS alert
// in the middle of a body. raw_server does the TLS handshake (ALPN h2 or http/1.1), finds the requests in
// what the client sends (HTTP/2 HEADERS frames, HTTP/1.1 request heads) and hands each to the test, which
// answers with raw bytes (built with the h2::* helpers below, or written by hand) and may then reset,
// close or stall the connection. Anything the test does not answer simply stalls.
//
// It also records what the client sent, so that a test can judge the request side of the wire: every
// plaintext byte of a connection (received), every HTTP/2 frame (frames), and each request decoded
// (HPACK through nghttp2's inflater, HTTP/1.1 by its own small parser) with its fields and body.
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

using raw_fields = std::vector<std::pair<std::string, std::string>>;

struct raw_request {
  std::size_t connection = 0;  // 0-based accept order
  std::size_t index = 0;       // 0-based position among this connection's requests
  std::int32_t stream = 0;     // HTTP/2 stream id; 0 for HTTP/1.1
  std::string head;            // HTTP/1.1: the request head as received; HTTP/2: empty (HPACK)
  std::string method;          // HTTP/1.1: from the request line; HTTP/2: :method
  std::string target;          // HTTP/1.1: from the request line; HTTP/2: :path
  // In arrival order, duplicates kept. HTTP/2: the decoded header block, pseudo-headers included;
  // HTTP/1.1: the head's fields, names as sent.
  raw_fields fields;
  raw_fields trailers;         // HTTP/2: a second HEADERS block; HTTP/1.1: the chunked trailer section
  std::string body;            // HTTP/2: DATA payloads without padding; HTTP/1.1: de-chunked
  // HTTP/2: END_STREAM arrived (on HEADERS or DATA); HTTP/1.1: the body was read whole.
  bool end_stream = false;
  // HTTP/1.1 only: the head framed its body ambiguously (Content-Length with Transfer-Encoding, two
  // Content-Length fields or a list, a Transfer-Encoding not ending in chunked, RFC 9112 section 6.3)
  // or the chunked body was malformed. Such a head is the stuff of request smuggling: tests assert
  // this stays false. Parsing goes on by Transfer-Encoding; a malformed body stops it.
  bool framing_conflict = false;
};

/// One HTTP/2 frame the client sent (RFC 9113 section 4.1), payload as on the wire (padding kept).
struct raw_frame {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::int32_t stream = 0;
  std::string payload;
};

class raw_connection {
 public:
  virtual ~raw_connection() = default;
  virtual std::size_t index() const = 0;
  /// Writes bytes through TLS (one SSL_write); without TLS, onto TCP.
  virtual void write(std::string_view bytes) = 0;
  /// Writes bytes straight onto TCP, under TLS: a forged record the client's TLS layer must reject.
  /// Without TLS the same as write.
  virtual void write_below_tls(std::string_view bytes) = 0;
  /// Sends TLS close_notify (an alert), then leaves TCP open until the client closes it. Without TLS
  /// the same as close.
  virtual void close_notify() = 0;
  /// Aborts the TCP connection: SO_LINGER 0, so the kernel sends RST.
  virtual void reset() = 0;
  /// Closes TCP without close_notify (FIN).
  virtual void close() = 0;
};

struct raw_server_options {
  std::string address = "127.0.0.1";
  raw_protocol protocol = raw_protocol::h2;
  /// false: plain TCP (http:// HTTP/1.1, or h2c with prior knowledge); `cert` is then not needed.
  bool tls = true;
  cert_pair cert;
  /// HTTP/2: write an empty SETTINGS frame (the server preface) right after the handshake, and
  /// acknowledge the client's SETTINGS. Off: the test writes whatever it wants in on_connect.
  bool send_settings = true;
  /// After the handshake (and the SETTINGS frame).
  std::function<void(raw_connection&)> on_connect;
  /// For each request, in arrival order. HTTP/2: once its header block is complete (HEADERS and any
  /// CONTINUATION), before its DATA. HTTP/1.1: once its body was read whole, unless answer_at_head.
  std::function<void(raw_connection&, const raw_request&)> on_request;
  /// HTTP/1.1: call on_request as soon as the head is complete, before any body byte; the server then
  /// reads (and records) that body by its framing before it looks for the next head, as a real one would.
  bool answer_at_head = false;
  /// Once a request is whole (HTTP/2: END_STREAM, on HEADERS or DATA; HTTP/1.1: its body read), after
  /// on_request, with the body: where a test answers that must not race the upload.
  std::function<void(raw_connection&, const raw_request&)> on_request_complete;
  /// HTTP/2: every frame the client sent, after it was recorded and before the server acts on it.
  std::function<void(raw_connection&, const raw_frame&)> on_frame;
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
  /// Every request so far, in arrival order, as received up to now (bodies grow, end_stream gets set).
  std::vector<raw_request> requests() const;
  /// Every plaintext byte connection `connection` received so far, in order (HTTP/2: the preface and
  /// every frame). Empty for a connection not (yet) accepted.
  std::string received(std::size_t connection) const;
  /// HTTP/2: every frame the client sent on `connection` so far, in order (the preface is no frame).
  std::vector<raw_frame> frames(std::size_t connection) const;

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

// HTTP/2 frames, byte for byte (RFC 9113 section 4.1 and 6). Header blocks are HPACK literals without
// indexing and without Huffman coding (RFC 7541 section 6.2.2), so a test can read them in a hex dump.
namespace h2 {

using field_list = raw_fields;

inline constexpr std::uint8_t type_data = 0x0, type_headers = 0x1, type_priority = 0x2, type_rst_stream = 0x3,
                              type_settings = 0x4, type_push_promise = 0x5, type_ping = 0x6, type_goaway = 0x7,
                              type_window_update = 0x8, type_continuation = 0x9, type_origin = 0xc;
inline constexpr std::uint8_t flag_end_stream = 0x1, flag_ack = 0x1, flag_end_headers = 0x4, flag_padded = 0x8,
                              flag_priority = 0x20;

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
