// tests/support/raw_server.cpp: blocking sockets, OpenSSL directly, one thread per connection.
#include "support/raw_server.hpp"

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

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
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

}  // namespace

class raw_server::impl {
 public:
  explicit impl(raw_server_options opts) : opts_(std::move(opts)) {
    // OpenSSL writes with write(2): a client that already closed must not kill the test with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    alpn_ = opts_.protocol == raw_protocol::h2 ? "h2" : "http/1.1";
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (!ctx_) throw std::runtime_error("raw_server: SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    load_cert();
    SSL_CTX_set_alpn_select_cb(ctx_, &select_alpn, &alpn_);

    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    if (::inet_pton(AF_INET, opts_.address.c_str(), &sa.sin_addr) != 1) throw std::invalid_argument("raw_server: bad address");
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(listener_, 64) != 0) {
      ::close(listener_);
      SSL_CTX_free(ctx_);
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
    SSL_CTX_free(ctx_);
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

 private:
  class conn final : public raw_connection {
   public:
    conn(impl& server, int fd, std::size_t index) : server_(server), fd_(fd), index_(index) {}
    ~conn() override {
      if (ssl_) SSL_free(ssl_);
      if (fd_ >= 0) server_.release_fd(fd_);
    }

    std::size_t index() const override { return index_; }
    void write(std::string_view bytes) override {
      if (done_ || bytes.empty()) return;
      if (SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) <= 0) done_ = true;
    }
    void write_below_tls(std::string_view bytes) override {
      if (done_) return;
      if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) done_ = true;
    }
    void close_notify() override {
      if (done_) return;
      SSL_shutdown(ssl_);
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
      ssl_ = SSL_new(server_.ctx_);
      SSL_set_fd(ssl_, fd_);
      if (SSL_accept(ssl_) != 1) return;
      if (server_.opts_.protocol == raw_protocol::h2 && server_.opts_.send_settings) write(h2::settings());
      if (server_.opts_.on_connect) server_.opts_.on_connect(*this);
      char buf[16 * 1024];
      while (!done_) {
        const int n = SSL_read(ssl_, buf, sizeof buf);
        if (n <= 0) break;
        in_.append(buf, static_cast<std::size_t>(n));
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
    void request(std::int32_t stream, std::string head) {
      raw_request r;
      r.connection = index_;
      r.index = requests_++;
      r.stream = stream;
      r.head = std::move(head);
      server_.note(r);
      if (server_.opts_.on_request) server_.opts_.on_request(*this, r);
    }

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
        const std::uint8_t type = p[3], flags = p[4];
        const auto stream = static_cast<std::int32_t>(((std::uint32_t{p[5]} << 24) | (std::uint32_t{p[6]} << 16) |
                                                       (std::uint32_t{p[7]} << 8) | p[8]) & 0x7fffffffu);
        in_.erase(0, 9 + len);
        if (type == h2::type_settings && !(flags & h2::flag_ack) && server_.opts_.send_settings)
          write(h2::frame(h2::type_settings, h2::flag_ack, 0, {}));
        // A request's header block; the client's are small enough for one frame (no CONTINUATION).
        if (type == h2::type_headers && stream > 0) request(stream, {});
      }
    }

    void parse_http1() {
      for (;;) {
        auto end = in_.find("\r\n\r\n");
        if (end == std::string::npos) return;
        std::string head = in_.substr(0, end + 4);
        std::size_t body = 0;
        // Content-Length, any case: enough for the requests the tests send.
        for (std::size_t pos = 0; (pos = head.find("\r\n", pos)) != std::string::npos;) {
          pos += 2;
          if (head.size() - pos > 15 && strncasecmp(head.c_str() + pos, "content-length:", 15) == 0)
            body = std::strtoul(head.c_str() + pos + 15, nullptr, 10);
        }
        if (in_.size() < end + 4 + body) return;
        in_.erase(0, end + 4 + body);
        request(0, std::move(head));
        if (done_) return;
      }
    }

    impl& server_;
    int fd_;
    std::size_t index_;
    SSL* ssl_ = nullptr;
    std::string in_;
    bool preface_seen_ = false;
    std::size_t requests_ = 0;
    bool done_ = false;
    bool drain_raw_ = false;
    bool abort_ = false;
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
      fds_.push_back(fd);
      threads_.emplace_back([this, fd, index] {
        conn c(*this, fd, index);
        c.run();
      });
    }
  }

  void note(const raw_request& r) {
    std::lock_guard lock(mutex_);
    requests_.push_back(r);
  }

  void release_fd(int fd) {
    std::lock_guard lock(mutex_);
    std::erase(fds_, fd);
    ::close(fd);
  }

  raw_server_options opts_;
  std::string alpn_;
  SSL_CTX* ctx_ = nullptr;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mutex_;
  std::size_t accepted_ = 0;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::vector<raw_request> requests_;
};

raw_server::raw_server(raw_server_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
raw_server::~raw_server() = default;
std::uint16_t raw_server::port() const { return impl_->port(); }
std::size_t raw_server::connection_count() const { return impl_->connection_count(); }
std::vector<raw_request> raw_server::requests() const { return impl_->requests(); }

}  // namespace h2coal::test
