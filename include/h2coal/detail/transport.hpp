// h2coal/detail/transport.hpp: a TCP socket, with TLS run by OpenSSL directly on it when asked.
//
// Reactor style (as libcurl and nghttp2's own tools do it): the connection waits for the socket to be
// readable or writable through Asio, then calls read_some / write_some, which never block and say what
// they would need to go on. OpenSSL reads and writes the socket itself through a small BIO that calls
// recv/send (MSG_NOSIGNAL: a peer that went away must not raise SIGPIPE in the user's process). Nothing
// sits between OpenSSL and the kernel: no BIO pair and no stream-layer copies, and with
// SSL_MODE_RELEASE_BUFFERS an idle connection holds no record buffers either (issue 7: idle RSS).
#pragma once

#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <system_error>

namespace h2coal::detail {

class transport {
 public:
  /// What a call that made no progress needs before it is worth calling again.
  enum class want { nothing, read, write };

  explicit transport(const asio::any_io_executor& ex) : socket_(ex) {}
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;
  ~transport() {
    if (ssl_) SSL_free(ssl_);
  }

  asio::ip::tcp::socket& socket() noexcept { return socket_; }
  SSL* ssl() const noexcept { return ssl_; }

  /// Puts the connected socket in non-blocking mode and, with `ctx`, a client SSL object on it.
  bool start(SSL_CTX* ctx) {
    std::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) return false;
    if (!ctx) return true;
    ssl_ = SSL_new(ctx);
    if (!ssl_) return false;
    BIO* bio = BIO_new(socket_bio());
    if (!bio) return false;
    BIO_set_data(bio, &socket_);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_, bio, bio);
    SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                           SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_read_ahead(ssl_, 1);  // whole socket reads, not a 5-byte header then the record
    SSL_set_connect_state(ssl_);
    return true;
  }

  /// One step of the client handshake: true once done; else `w` or `ec` says why not.
  bool handshake(want& w, std::error_code& ec) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) return true;
    classify(r, w, ec);
    return false;
  }

  /// Reads what is there without blocking: bytes (> 0), or 0 with `w` (try again when ready) or `ec`
  /// (asio::error::eof when the peer closed cleanly).
  std::size_t read_some(char* buf, std::size_t len, want& w, std::error_code& ec) {
    return step(
        want::read, [&](std::error_code& e) { return socket_.read_some(asio::buffer(buf, len), e); },
        [&](std::size_t& n) { return SSL_read_ex(ssl_, buf, len, &n); }, w, ec);
  }

  /// Writes what the socket takes now: bytes (> 0), or 0 with `w` or `ec`.
  std::size_t write_some(const char* buf, std::size_t len, want& w, std::error_code& ec) {
    if (len == 0) {
      w = want::nothing;
      ec.clear();
      return 0;
    }
    return step(
        want::write, [&](std::error_code& e) { return socket_.write_some(asio::buffer(buf, len), e); },
        [&](std::size_t& n) { return SSL_write_ex(ssl_, buf, len, &n); }, w, ec);
  }

  /// Calls `f(error_code)` once the socket is ready for what `w` names.
  template <class F>
  void async_wait(want w, F&& f) {
    socket_.async_wait(w == want::write ? asio::socket_base::wait_write : asio::socket_base::wait_read,
                       std::forward<F>(f));
  }

  /// Closes the socket. An established TLS connection that did not fail first sends close_notify (RFC
  /// 8446 section 6.1), as far as the socket takes it now: without it OpenSSL takes the connection for
  /// broken and marks its session not resumable (SSL_free's bad-session rule), which would cost the
  /// session cache its newest session at every close.
  void close() {
    if (ssl_ && !failed_ && socket_.is_open() && SSL_is_init_finished(ssl_)) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // never after a fatal error: OpenSSL forbids it (failed_)
      ERR_clear_error();
    }
    std::error_code ignored;
    socket_.close(ignored);
  }

 private:
  // One non-blocking step, on the socket itself or through OpenSSL: bytes, or 0 with what it waits for
  // (`blocked` on a plain socket; OpenSSL says which, a TLS read may need to write) or the error.
  template <class Plain, class Tls>
  std::size_t step(want blocked, Plain plain, Tls tls, want& w, std::error_code& ec) {
    w = want::nothing;
    ec.clear();
    if (!ssl_) {
      std::size_t n = plain(ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec.clear();
        w = blocked;
      }
      return n;
    }
    ERR_clear_error();
    std::size_t n = 0;
    int r = tls(n);
    if (r == 1) return n;
    classify(r, w, ec);
    return 0;
  }

  // Errors keep the categories Asio's SSL stream used, so callers read them the same way.
  void classify(int r, want& w, std::error_code& ec) {
    int e = SSL_get_error(ssl_, r);
    switch (e) {
      case SSL_ERROR_WANT_READ: w = want::read; return;
      case SSL_ERROR_WANT_WRITE: w = want::write; return;
      case SSL_ERROR_ZERO_RETURN: ec = asio::error::eof; return;
      case SSL_ERROR_SYSCALL: {
        failed_ = true;
        unsigned long err = ERR_get_error();
        if (err != 0) ec = std::error_code(static_cast<int>(err), asio::error::get_ssl_category());
        else if (errno != 0) ec = std::error_code(errno, asio::error::get_system_category());
        else ec = asio::ssl::error::stream_truncated;
        return;
      }
      default: {
        failed_ = true;
        unsigned long err = ERR_get_error();
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
        if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ec = asio::ssl::error::stream_truncated;
        else
#endif
        if (err != 0) ec = std::error_code(static_cast<int>(err), asio::error::get_ssl_category());
        else ec = asio::error::connection_aborted;
        ERR_clear_error();
        return;
      }
    }
  }

  // ---- The BIO OpenSSL reads and writes the socket through ----
  static int native(BIO* b) {
    auto* s = static_cast<asio::ip::tcp::socket*>(BIO_get_data(b));
    return s && s->is_open() ? s->native_handle() : -1;
  }

  static int bio_write(BIO* b, const char* data, int len) {
    BIO_clear_retry_flags(b);
    int fd = native(b);
    if (fd < 0) {
      errno = EBADF;
      return -1;
    }
    ssize_t n;
    do n = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_write(b);
    return static_cast<int>(n);
  }

  static int bio_read(BIO* b, char* data, int len) {
    BIO_clear_retry_flags(b);
    int fd = native(b);
    if (fd < 0) {
      errno = EBADF;
      return -1;
    }
    ssize_t n;
    do n = ::recv(fd, data, static_cast<std::size_t>(len), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(b);
    if (n == 0) errno = 0;  // a clean end of stream, not the errno of some earlier call
    return static_cast<int>(n);
  }

  static long bio_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // every write went to the kernel already
  }

  static BIO_METHOD* socket_bio() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "h2coal socket");
      BIO_meth_set_write(m, &transport::bio_write);
      BIO_meth_set_read(m, &transport::bio_read);
      BIO_meth_set_ctrl(m, &transport::bio_ctrl);
      return m;
    }();
    return method;
  }

  asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  bool failed_ = false;  // SSL_ERROR_SYSCALL or SSL_ERROR_SSL: no close_notify may follow
};

}  // namespace h2coal::detail
