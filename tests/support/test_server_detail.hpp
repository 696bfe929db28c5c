// SPDX-License-Identifier: BSL-1.0
// tests/support/test_server_detail.hpp: the test server's insides, shared by its source files.
//
// server_core owns the thread, the io_context, the listeners, the TLS contexts and the statistics.
// Each accepted socket becomes, after its TLS handshake, an h2_connection or an h1_connection; both derive
// from connection, which owns the transport and does the reading, the one-write-at-a-time pumping and the
// closing. What to answer is decided in one place, route(), for both protocols.
#pragma once

#include "support/test_server.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace h2coal::test::detail {

using tcp = asio::ip::tcp;

// A byte stream: TCP, or TLS over TCP. Lives behind a unique_ptr so that its address stays put while
// operations are in flight.
class transport {
 public:
  explicit transport(tcp::socket socket) : plain_(std::move(socket)) {}
  transport(tcp::socket socket, asio::ssl::context& ctx)
      : plain_(socket.get_executor()), tls_(std::in_place, std::move(socket), ctx) {}

  bool is_tls() const { return tls_.has_value(); }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }

  template <class Handler>
  void async_handshake(Handler&& handler) {
    tls_->async_handshake(asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }
  template <class Buffer, class Handler>
  void async_read_some(const Buffer& buffer, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffer, std::forward<Handler>(handler));
    } else {
      plain_.async_read_some(buffer, std::forward<Handler>(handler));
    }
  }
  template <class Buffer, class Handler>
  void async_write(const Buffer& buffer, Handler&& handler) {
    if (tls_) {
      asio::async_write(*tls_, buffer, std::forward<Handler>(handler));
    } else {
      asio::async_write(plain_, buffer, std::forward<Handler>(handler));
    }
  }
  template <class Handler>
  void async_shutdown(Handler&& handler) {
    tls_->async_shutdown(std::forward<Handler>(handler));
  }
  void close() {
    std::error_code ignored;
    socket().close(ignored);
  }

 private:
  tcp::socket plain_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
};

// What a connection is to send back; the connection adds the framing headers (content-length, ...).
struct response {
  enum class h1_framing { content_length, chunked, until_close };

  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;  // HTTP/2 trailing HEADERS, HTTP/1.1 chunked trailers
  bool generated = false;           // the body is test_body_byte(0 .. generated_size - 1), made on the fly
  std::size_t generated_size = 0;
  h1_framing framing = h1_framing::content_length;
  bool close_after = false;         // HTTP/1.1: this response ends the connection

  std::size_t body_size() const { return generated ? generated_size : body.size(); }
  bool status_allows_body() const { return status >= 200 && status != 204 && status != 304; }
};

enum class action {
  respond,  // send `resp` now
  delay,    // send `resp` after `value` milliseconds
  stall,    // hold the request until release_stalled()
  reset,    // HTTP/2: RST_STREAM(value); HTTP/1.1: drop the connection
  goaway,   // HTTP/2: GOAWAY(NO_ERROR, this stream), then `resp`; HTTP/1.1: `resp` with Connection: close
  close,    // drop the connection, no response
  silence,  // HTTP/2: never write on this connection again (no answer, no PING ACK), never close it;
            // HTTP/1.1: hold the request as stall does (a dead peer behind a NAT, DESIGN section 14)
};

struct route_result {
  action what = action::respond;
  response resp;
  std::uint32_t value = 0;
};

// The answer to a complete request (see the path list in test_server.hpp). Calls answer_421.
route_result route(const server_options& opts, const request_info& req);
// The 200 "released" answer to a request held by /stall.
response released_response(const server_options& opts, const request_info& req);
// Paths acted on as soon as the request headers arrive, without waiting for a body.
bool acts_on_headers(std::string_view path);

class connection;

class server_core {
 public:
  explicit server_core(server_options opts);
  ~server_core();
  server_core(const server_core&) = delete;
  server_core& operator=(const server_core&) = delete;

  const server_options& options() const { return opts_; }
  asio::io_context& io() { return *io_; }
  std::uint16_t port() const { return port_; }
  std::vector<std::string> addresses() const { return opts_.addresses; }

  // Statistics (any thread).
  std::size_t connection_count() const;
  std::vector<connection_info> connections() const;
  std::vector<request_info> requests() const;
  std::size_t max_open_streams() const;
  std::size_t resumed_handshakes() const;
  void add_request(const request_info& req);
  void note_streams(std::size_t index, std::size_t streams, std::size_t open_now);

  // From the test thread; run on the server thread.
  void send_goaway_all(std::uint32_t error_code);
  void release_stalled();

 private:
  void bind_all();
  void accept(tcp::acceptor& acceptor);
  void on_accepted(tcp::socket socket);
  void after_handshake(std::unique_ptr<transport> t, std::size_t index, std::string local_address,
                       const std::error_code& ec);
  void start_session(std::unique_ptr<transport> t, std::size_t index, std::string local_address,
                     std::string sni, bool http2);
  std::unique_ptr<asio::ssl::context> make_tls_context(const cert_pair& cert);
  template <class F>
  void update_connection(std::size_t index, F&& f) {
    std::lock_guard lock(mutex_);
    f(conns_.at(index));
  }
  static int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                         const unsigned char* in, unsigned int inlen, void* arg);
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static int on_client_hello(SSL* ssl, int* alert, void* arg);

  server_options opts_;
  std::unique_ptr<asio::io_context> io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::unique_ptr<asio::ssl::context> tls_;                                // default certificate
  std::vector<std::pair<std::string, std::unique_ptr<asio::ssl::context>>> sni_tls_;  // lowercase host
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::uint16_t port_ = 0;

  // Server thread only.
  std::vector<std::unique_ptr<transport>> stalled_;  // stall_handshake: accepted and left alone
  std::vector<std::weak_ptr<connection>> live_;

  mutable std::mutex mutex_;
  std::vector<connection_info> conns_;
  std::vector<request_info> requests_;
  std::size_t max_open_ = 0;
  std::size_t resumed_ = 0;

  std::thread thread_;
};

// One accepted connection after its handshake: reads continuously, writes one buffer at a time, closes.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(server_core& core, std::size_t index, std::unique_ptr<transport> t, std::string sni,
             std::string local_address);
  virtual ~connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  virtual void start() = 0;
  virtual void goaway(std::uint32_t /*error_code*/) {}
  virtual void release_stalled() = 0;

 protected:
  // Received bytes; may call close(), graceful_close() or pump().
  virtual void on_bytes(const std::uint8_t* data, std::size_t size) = 0;
  // Appends what is ready to be written; stops at about max_write_size.
  virtual void fill_output(std::string& out) = 0;
  // Called when a pump found nothing more to write.
  virtual void on_output_drained() = 0;
  // Called once from close(): cancel timers, forget streams. No I/O.
  virtual void on_closed() {}

  void read_loop();
  void pump();
  // Nothing left to send: end TLS with close_notify (TCP with FIN), read until the peer closes or a
  // second passes, then close. Closing with unread input would make the kernel send RST, which can
  // destroy the last response before the peer reads it.
  void graceful_close();
  void close();  // at once
  bool closed() const { return closed_ || closing_; }

  request_info new_request() const;

  static constexpr std::size_t max_write_size = 64 * 1024;

  server_core& core_;
  const server_options& opts_;
  const std::size_t index_;
  const std::string sni_;
  const std::string local_address_;

 private:
  void finish_close();
  void drain();

  std::unique_ptr<transport> transport_;
  asio::steady_timer linger_;
  std::string out_;
  std::array<std::uint8_t, 16 * 1024> in_buf_{};
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

std::shared_ptr<connection> make_h2_connection(server_core& core, std::size_t index,
                                               std::unique_ptr<transport> t, std::string sni,
                                               std::string local_address);
std::shared_ptr<connection> make_h1_connection(server_core& core, std::size_t index,
                                               std::unique_ptr<transport> t, std::string sni,
                                               std::string local_address);

}  // namespace h2coal::test::detail
