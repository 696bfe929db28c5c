// SPDX-License-Identifier: BSL-1.0
// tests/support/test_server.cpp: listeners, TLS (ALPN, SNI, client certificates), statistics, and the
// connection base class shared by both protocols.
#include "support/test_server_detail.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

#include <openssl/ssl.h>

namespace h2coal::test {
namespace detail {
namespace {

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Finds `want` in an ALPN wire-format list (length-prefixed names); points into `in`.
bool find_protocol(const unsigned char* in, unsigned int inlen, std::string_view want,
                   const unsigned char** out, unsigned char* outlen) {
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) return false;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == want) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return true;
    }
    i += 1 + len;
  }
  return false;
}

// The connection index of an accepted TLS connection, on its SSL object (plus one: 0 is "none").
int connection_index_slot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

}  // namespace

// ---- server_core -------------------------------------------------------------------------------------

server_core::server_core(server_options opts)
    : opts_(std::move(opts)), io_(std::make_unique<asio::io_context>(1)) {
  if (opts_.addresses.empty()) throw std::invalid_argument("test_server: no address to listen on");
  const bool tls = opts_.protocol != server_protocol::h2c &&
                   opts_.protocol != server_protocol::http1_plain;
  if (tls) {
    if (opts_.cert.cert_pem.empty()) throw std::invalid_argument("test_server: TLS needs a certificate");
    tls_ = make_tls_context(opts_.cert);
    for (const auto& [host, cert] : opts_.sni_certs) {
      sni_tls_.emplace_back(lowercase(host), make_tls_context(cert));
    }
  }
  bind_all();
  for (auto& acceptor : acceptors_) accept(*acceptor);
  work_.emplace(io_->get_executor());
  thread_ = std::thread([this] {
    // A handler that throws is a bug in this server; report it and keep serving so that the test
    // fails on its assertions rather than on std::terminate.
    while (!io_->stopped()) {
      try {
        io_->run();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "test_server: handler threw: %s\n", e.what());
      }
    }
  });
}

server_core::~server_core() {
  // stop() abandons every pending operation; nothing here waits for a peer. The connections die with
  // the handlers that own them when the io_context is destroyed, which closes their sockets.
  io_->stop();
  if (thread_.joinable()) thread_.join();
  work_.reset();
  live_.clear();
  stalled_.clear();
  acceptors_.clear();
  io_.reset();
}

void server_core::bind_all() {
  // With port 0 the first address picks the port; another process may own that port on one of the
  // other addresses, so try a few times.
  for (int attempt = 0;; ++attempt) {
    acceptors_.clear();
    port_ = opts_.port;
    try {
      for (const auto& address : opts_.addresses) {
        tcp::endpoint endpoint(asio::ip::make_address(address), port_);
        auto acceptor = std::make_unique<tcp::acceptor>(*io_);
        acceptor->open(endpoint.protocol());
        acceptor->set_option(tcp::acceptor::reuse_address(true));
        acceptor->bind(endpoint);
        acceptor->listen();
        port_ = acceptor->local_endpoint().port();
        acceptors_.push_back(std::move(acceptor));
      }
      return;
    } catch (const std::system_error& e) {
      if (opts_.port != 0 || attempt >= 20 || e.code() != asio::error::address_in_use) throw;
    }
  }
}

std::unique_ptr<asio::ssl::context> server_core::make_tls_context(const cert_pair& cert) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  ctx->use_certificate_chain(asio::buffer(cert.cert_pem));
  ctx->use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem);
  SSL_CTX* native = ctx->native_handle();
  // Every context gets the same callbacks: after the SNI switch (SSL_set_SSL_CTX) OpenSSL reads the ALPN
  // callback from the new context.
  SSL_CTX_set_alpn_select_cb(native, &server_core::select_alpn, this);
  SSL_CTX_set_tlsext_servername_callback(native, &server_core::on_servername);
  SSL_CTX_set_tlsext_servername_arg(native, this);
  static const unsigned char sid_context[] = "h2coal-test";
  SSL_CTX_set_session_id_context(native, sid_context, sizeof sid_context - 1);
  if (opts_.tls12_only) SSL_CTX_set_max_proto_version(native, TLS1_2_VERSION);
  if (opts_.session_resumption) {
    // OpenSSL's defaults, said out loud: a server session cache (TLS 1.2 session IDs), tickets (TLS 1.2
    // and 1.3; TLS 1.3 sends two after each handshake).
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
    SSL_CTX_clear_options(native, SSL_OP_NO_TICKET);
  } else {
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(native, 0);
  }
  SSL_CTX_set_client_hello_cb(native, &server_core::on_client_hello, this);
  if (opts_.request_client_cert) {
    // Ask, accept whatever comes: the test only wants to know whether a certificate was sent.
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  }
  return ctx;
}

int server_core::select_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                             const unsigned char* in, unsigned int inlen, void* arg) {
  const auto& self = *static_cast<server_core*>(arg);
  switch (self.opts_.protocol) {
    case server_protocol::h2:
      // An h2-only server refuses a client that offers ALPN without h2 (RFC 7301 section 3.2).
      return find_protocol(in, inlen, "h2", out, outlen) ? SSL_TLSEXT_ERR_OK
                                                         : SSL_TLSEXT_ERR_ALERT_FATAL;
    case server_protocol::http1:
      // Like a server that predates h2: ignores what it does not know.
      return find_protocol(in, inlen, "http/1.1", out, outlen) ? SSL_TLSEXT_ERR_OK
                                                               : SSL_TLSEXT_ERR_NOACK;
    default:
      if (find_protocol(in, inlen, "h2", out, outlen)) return SSL_TLSEXT_ERR_OK;
      return find_protocol(in, inlen, "http/1.1", out, outlen) ? SSL_TLSEXT_ERR_OK
                                                               : SSL_TLSEXT_ERR_NOACK;
  }
}

int server_core::on_servername(SSL* ssl, int*, void* arg) {
  const auto& self = *static_cast<server_core*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  const std::string host = lowercase(name);
  for (const auto& [sni, ctx] : self.sni_tls_) {
    if (sni == host) {
      SSL_set_SSL_CTX(ssl, ctx->native_handle());
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

// Notes whether the ClientHello offers a session to resume: a TLS 1.3 pre_shared_key (RFC 8446 section
// 4.2.11) or a non-empty TLS 1.2 SessionTicket (RFC 5077 section 3.2). (A TLS 1.3 client sends a random
// legacy_session_id every time, so the session ID tells nothing.)
int server_core::on_client_hello(SSL* ssl, int*, void* arg) {
  auto& self = *static_cast<server_core*>(arg);
  const auto tag = reinterpret_cast<std::uintptr_t>(SSL_get_ex_data(ssl, connection_index_slot()));
  if (tag == 0) return SSL_CLIENT_HELLO_SUCCESS;
  const unsigned char* data = nullptr;
  std::size_t len = 0;
  bool offered = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &data, &len) == 1;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_session_ticket, &data, &len) == 1 && len > 0) offered = true;
  if (offered) self.update_connection(tag - 1, [](connection_info& info) { info.offered_session = true; });
  return SSL_CLIENT_HELLO_SUCCESS;
}

void server_core::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](std::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) on_accepted(std::move(socket));
    accept(acceptor);
  });
}

void server_core::on_accepted(tcp::socket socket) {
  std::error_code ec;
  const auto local = socket.local_endpoint(ec);
  std::string local_address = ec ? std::string() : local.address().to_string();
  socket.set_option(tcp::no_delay(true), ec);
  std::size_t index = 0;
  {
    std::lock_guard lock(mutex_);
    index = conns_.size();
    connection_info info;
    info.index = index;
    info.local_address = local_address;
    conns_.push_back(std::move(info));
  }
  if (opts_.stall_handshake) {
    stalled_.push_back(std::make_unique<transport>(std::move(socket)));
    return;
  }
  switch (opts_.protocol) {
    case server_protocol::h2c:
      start_session(std::make_unique<transport>(std::move(socket)), index, std::move(local_address), {},
                    true);
      return;
    case server_protocol::http1_plain:
      start_session(std::make_unique<transport>(std::move(socket)), index, std::move(local_address), {},
                    false);
      return;
    default:
      break;
  }
  auto t = std::make_unique<transport>(std::move(socket), *tls_);
  transport* raw = t.get();
  SSL_set_ex_data(raw->ssl(), connection_index_slot(), reinterpret_cast<void*>(static_cast<std::uintptr_t>(index) + 1));
  raw->async_handshake([this, t = std::move(t), index,
                        local_address = std::move(local_address)](const std::error_code& hs) mutable {
    after_handshake(std::move(t), index, std::move(local_address), hs);
  });
}

void server_core::after_handshake(std::unique_ptr<transport> t, std::size_t index,
                                  std::string local_address, const std::error_code& ec) {
  SSL* ssl = t->ssl();
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  std::string sni = name ? lowercase(name) : std::string();
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  std::string protocol = alpn ? std::string(reinterpret_cast<const char*>(alpn), alpn_len) : std::string();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  const bool client_cert = SSL_get0_peer_certificate(ssl) != nullptr;
#else
  X509* peer = SSL_get_peer_certificate(ssl);
  const bool client_cert = peer != nullptr;
  X509_free(peer);
#endif
  const bool resumed = !ec && SSL_session_reused(ssl) == 1;
  update_connection(index, [&](connection_info& info) {
    info.sni = sni;
    info.alpn = protocol;
    info.client_cert = client_cert;
    info.resumed = resumed;
  });
  if (resumed) {
    std::lock_guard lock(mutex_);
    ++resumed_;
  }
  if (ec) return;  // the transport closes as it goes out of scope
  const bool http2 = opts_.protocol == server_protocol::h2 ||
                     (opts_.protocol == server_protocol::auto_alpn && protocol == "h2");
  start_session(std::move(t), index, std::move(local_address), std::move(sni), http2);
}

void server_core::start_session(std::unique_ptr<transport> t, std::size_t index,
                                std::string local_address, std::string sni, bool http2) {
  auto c = http2 ? make_h2_connection(*this, index, std::move(t), std::move(sni), std::move(local_address))
                 : make_h1_connection(*this, index, std::move(t), std::move(sni), std::move(local_address));
  std::erase_if(live_, [](const auto& w) { return w.expired(); });
  live_.push_back(c);
  c->start();
}

std::size_t server_core::connection_count() const {
  std::lock_guard lock(mutex_);
  return conns_.size();
}

std::vector<connection_info> server_core::connections() const {
  std::lock_guard lock(mutex_);
  return conns_;
}

std::vector<request_info> server_core::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t server_core::max_open_streams() const {
  std::lock_guard lock(mutex_);
  return max_open_;
}

std::size_t server_core::resumed_handshakes() const {
  std::lock_guard lock(mutex_);
  return resumed_;
}

void server_core::add_request(const request_info& req) {
  if (!opts_.record_requests) return;
  std::lock_guard lock(mutex_);
  requests_.push_back(req);
}

void server_core::note_streams(std::size_t index, std::size_t streams, std::size_t open_now) {
  std::lock_guard lock(mutex_);
  auto& info = conns_.at(index);
  info.streams = streams;
  info.max_open_streams = std::max(info.max_open_streams, open_now);
  max_open_ = std::max(max_open_, open_now);
}

void server_core::send_goaway_all(std::uint32_t error_code) {
  asio::post(*io_, [this, error_code] {
    for (const auto& w : live_) {
      if (auto c = w.lock()) c->goaway(error_code);
    }
  });
}

void server_core::release_stalled() {
  asio::post(*io_, [this] {
    for (const auto& w : live_) {
      if (auto c = w.lock()) c->release_stalled();
    }
  });
}

// ---- connection --------------------------------------------------------------------------------------

connection::connection(server_core& core, std::size_t index, std::unique_ptr<transport> t,
                       std::string sni, std::string local_address)
    : core_(core),
      opts_(core.options()),
      index_(index),
      sni_(std::move(sni)),
      local_address_(std::move(local_address)),
      transport_(std::move(t)),
      linger_(core.io()) {}

request_info connection::new_request() const {
  request_info req;
  req.connection = index_;
  req.sni = sni_;
  req.local_address = local_address_;
  return req;
}

void connection::read_loop() {
  if (reading_ || closed_ || closing_) return;
  reading_ = true;
  transport_->async_read_some(
      asio::buffer(in_buf_), [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
        self->reading_ = false;
        if (self->closed_) return;
        if (self->closing_) {  // graceful_close() cancelled this read to start the shutdown
          self->finish_close();
          return;
        }
        if (ec) {
          self->close();
          return;
        }
        self->on_bytes(self->in_buf_.data(), n);
        self->read_loop();
        self->pump();
      });
}

void connection::pump() {
  if (writing_ || closed_ || closing_) return;
  out_.clear();
  fill_output(out_);
  if (closed_ || closing_) return;
  if (out_.empty()) {
    on_output_drained();
    return;
  }
  writing_ = true;
  transport_->async_write(asio::buffer(out_),
                          [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                            self->writing_ = false;
                            if (self->closed_) return;
                            if (ec) {
                              self->close();
                              return;
                            }
                            self->pump();
                          });
}

void connection::graceful_close() {
  if (closed_ || closing_) return;
  closing_ = true;
  linger_.expires_after(std::chrono::seconds(1));
  linger_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (!ec) self->close();
  });
  if (reading_) {
    // The read handler continues with finish_close(); TLS allows one read at a time and the shutdown
    // needs to read.
    std::error_code ignored;
    transport_->socket().cancel(ignored);
    return;
  }
  finish_close();
}

void connection::finish_close() {
  if (closed_) return;
  if (transport_->is_tls()) {
    transport_->async_shutdown([self = shared_from_this()](const std::error_code&) { self->close(); });
  } else {
    std::error_code ignored;
    transport_->socket().shutdown(tcp::socket::shutdown_send, ignored);
    drain();
  }
}

void connection::drain() {
  transport_->async_read_some(asio::buffer(in_buf_),
                              [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                                if (ec || self->closed_) {
                                  self->close();
                                  return;
                                }
                                self->drain();
                              });
}

void connection::close() {
  if (closed_) return;
  closed_ = true;
  linger_.cancel();
  transport_->close();
  on_closed();
}

}  // namespace detail

// ---- test_server -------------------------------------------------------------------------------------

test_server::test_server(server_options opts)
    : core_(std::make_unique<detail::server_core>(std::move(opts))) {}

test_server::~test_server() = default;

std::uint16_t test_server::port() const { return core_->port(); }
std::vector<std::string> test_server::addresses() const { return core_->addresses(); }
std::size_t test_server::connection_count() const { return core_->connection_count(); }
std::vector<connection_info> test_server::connections() const { return core_->connections(); }
std::vector<request_info> test_server::requests() const { return core_->requests(); }
std::size_t test_server::max_open_streams() const { return core_->max_open_streams(); }
std::size_t test_server::resumed_handshakes() const { return core_->resumed_handshakes(); }
void test_server::send_goaway_all(std::uint32_t error_code) { core_->send_goaway_all(error_code); }
void test_server::release_stalled() { core_->release_stalled(); }

}  // namespace h2coal::test
