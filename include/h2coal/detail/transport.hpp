// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/transport.hpp: a TCP socket, with TLS run by OpenSSL directly on it when asked (and,
// through an https:// proxy, the origin's TLS inside the proxy's).
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
    if (ssl_) SSL_free(ssl_);    // its BIO does not own under_
    if (under_) SSL_free(under_);
  }

  asio::ip::tcp::socket& socket() noexcept { return socket_; }
  SSL* ssl() const noexcept { return ssl_; }

  /// Puts the connected socket in non-blocking mode and, with `ctx`, a client SSL object on it.
  bool start(SSL_CTX* ctx) {
    std::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) return false;
    return !ctx || add_tls(ctx);
  }

  /// Puts a (new) client SSL object on top: on the socket, or inside the TLS already there (an https://
  /// proxy's, DESIGN section 13), which then carries the new one's records. ssl() is the new one.
  bool add_tls(SSL_CTX* ctx) {
    SSL* s = SSL_new(ctx);
    if (!s) return false;
    BIO* bio = BIO_new(ssl_ ? tls_bio() : socket_bio());
    if (!bio) {
      SSL_free(s);
      return false;
    }
    if (ssl_) {
      under_ = ssl_;
      BIO_set_data(bio, this);
    } else {
      BIO_set_data(bio, &socket_);
    }
    BIO_set_init(bio, 1);
    SSL_set_bio(s, bio, bio);
    SSL_set_mode(s, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_read_ahead(s, 1);  // whole socket reads, not a 5-byte header then the record
    SSL_set_connect_state(s);
    ssl_ = s;
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
    if (ssl_ && !failed_ && !under_failed_ && socket_.is_open() && SSL_is_init_finished(ssl_)) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // never after a fatal error: OpenSSL forbids it (failed_)
      ERR_clear_error();
    }
    if (under_ && !under_failed_ && socket_.is_open() && SSL_is_init_finished(under_)) {
      SSL_shutdown(under_);  // the proxy's TLS, after the origin's close_notify went through it
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

  // ---- The BIO an inner TLS (the origin's, through an https:// proxy) reads and writes through: the
  // outer SSL object. What the outer one waits for is what the socket must become, so the inner one's
  // WANT_READ / WANT_WRITE name the socket's readiness as they do without a proxy.
  static int tls_bio_io(BIO* b, bool reading, char* data, int len) {
    BIO_clear_retry_flags(b);
    auto* t = static_cast<transport*>(BIO_get_data(b));
    if (!t || !t->under_ || t->under_failed_) {
      errno = ECONNRESET;
      return -1;
    }
    std::size_t n = 0;
    const int r = reading ? SSL_read_ex(t->under_, data, static_cast<std::size_t>(len), &n)
                          : SSL_write_ex(t->under_, data, static_cast<std::size_t>(len), &n);
    if (r == 1) return static_cast<int>(n);
    switch (SSL_get_error(t->under_, r)) {
      case SSL_ERROR_WANT_READ: BIO_set_retry_read(b); return -1;
      case SSL_ERROR_WANT_WRITE: BIO_set_retry_write(b); return -1;
      case SSL_ERROR_ZERO_RETURN: errno = 0; return 0;  // the proxy's close_notify: the end of the stream
      default:
        t->under_failed_ = true;
        ERR_clear_error();
        errno = ECONNRESET;
        return -1;
    }
  }
  static int tls_bio_write(BIO* b, const char* data, int len) { return tls_bio_io(b, false, const_cast<char*>(data), len); }
  static int tls_bio_read(BIO* b, char* data, int len) { return tls_bio_io(b, true, data, len); }

  static BIO_METHOD* tls_bio() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER, "h2coal tls-in-tls");
      BIO_meth_set_write(m, &transport::tls_bio_write);
      BIO_meth_set_read(m, &transport::tls_bio_read);
      BIO_meth_set_ctrl(m, &transport::bio_ctrl);
      return m;
    }();
    return method;
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
  SSL* under_ = nullptr;  // an https:// proxy's TLS, which ssl_ runs inside
  bool failed_ = false;        // SSL_ERROR_SYSCALL or SSL_ERROR_SSL: no close_notify may follow
  bool under_failed_ = false;  // the same for under_
};

}  // namespace h2coal::detail
