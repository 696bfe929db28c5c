// SPDX-License-Identifier: BSL-1.0
// tests/unit/tls_test.cpp: tls.hpp without sockets: public-key pins (the SPKI hash, pattern precedence,
// curl's syntax) and the session cache, fed made-up sessions or real ones from handshakes run in memory
// (two SSL objects joined by a BIO pair).
#include "catch.hpp"
#include "support/test_ca.hpp"

#include <h2coal/tls.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

using namespace h2coal;
using namespace h2coal::test;

namespace {

// A self-signed certificate made once with the openssl command line, and what that command line says its
// pin is:
//   openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
//   openssl enc -base64
constexpr const char* fixed_cert_pem = R"(-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIUEjV2bEQ4VstqCjYWc/P4GceL7K0wCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIcGluLnRlc3QwIBcNMjYxMjAyMDEwNzUyWhgPMjEyNjExMDgw
MTA3NTJaMBMxETAPBgNVBAMMCHBpbi50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAE5i1cyEnTzYwaG8AXbxpaln+IxVlP+jGBSVvUTOIMspvgKA2KVsurNfPp
BwYvwdP7uaK9K6EpO+YzH4YpaHRAUqNTMFEwHQYDVR0OBBYEFNGtX+k8hxsvrzxY
BAz3gq6nBQhEMB8GA1UdIwQYMBaAFNGtX+k8hxsvrzxYBAz3gq6nBQhEMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgQClkgizE5Qu2FXj+C26J31nV
l63MVx91U+WY9gXqxj0CIQC6NrugT8AzVjSwOjiDfILbNMelqHubyaH1PtkHpNGX
Ig==
-----END CERTIFICATE-----
)";
constexpr const char* fixed_cert_pin = "lSXx79oXt0vPV8rQrsSzFAVfS27iT/OPjBtQQsh4+LE=";

// A well-formed pin no key has (the base64 of 32 zero bytes).
const std::string zero_pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

std::shared_ptr<X509> read_cert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(cert);
  return std::shared_ptr<X509>(cert, X509_free);
}

// The same hash another way: the key as an EVP_PKEY written as SubjectPublicKeyInfo, digested through an
// EVP_MD_CTX, base64 through a BIO.
std::string independent_pin(X509* cert) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  REQUIRE(key);
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  REQUIRE(len > 0);
  unsigned char md[32];
  unsigned int md_len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  REQUIRE(EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1);
  REQUIRE(EVP_DigestUpdate(ctx, der, static_cast<std::size_t>(len)) == 1);
  REQUIRE(EVP_DigestFinal_ex(ctx, md, &md_len) == 1);
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  BIO* b64 = BIO_new(BIO_f_base64());
  BIO* mem = BIO_new(BIO_s_mem());
  BIO_set_flags(b64, BIO_FLAGS_BASE64_NO_NL);
  BIO_push(b64, mem);
  REQUIRE(BIO_write(b64, md, static_cast<int>(md_len)) == static_cast<int>(md_len));
  REQUIRE(BIO_flush(b64) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(mem, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free_all(b64);
  return out;
}

tls_options with_pins(std::vector<public_key_pin> pins) {
  tls_options o;
  o.pinned_public_keys = std::move(pins);
  return o;
}

// The pattern pins_for picked for `host`, or "(none)".
std::string picked(const tls_options& o, std::string_view host) {
  const public_key_pin* p = h2coal::detail::pins_for(o, host);
  return p ? p->host_pattern : std::string("(none)");
}

// ---- Sessions -----------------------------------------------------------------------------------------

// A session that can be resumed as far as the cache can tell: an id, a version, a lifetime.
SSL_SESSION* made_up_session(unsigned char id, int version = TLS1_3_VERSION, long age = 0, long timeout = 300) {
  SSL_SESSION* s = SSL_SESSION_new();
  REQUIRE(s);
  unsigned char sid[32] = {id};
  REQUIRE(SSL_SESSION_set1_id(s, sid, sizeof sid) == 1);
  REQUIRE(SSL_SESSION_set_protocol_version(s, version) == 1);
  SSL_SESSION_set_time(s, static_cast<long>(std::time(nullptr)) - age);
  SSL_SESSION_set_timeout(s, timeout);
  return s;
}

struct ctx_deleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

// The first byte of the id of the session offer() set on a new SSL object, or -1 for none.
int offered(h2coal::detail::tls_session_cache& cache, SSL_CTX* ctx, std::string_view host, std::uint16_t port) {
  SSL* ssl = SSL_new(ctx);
  REQUIRE(ssl);
  cache.offer(ssl, host, port);
  int id = -1;
  if (SSL_SESSION* s = SSL_get_session(ssl)) {
    unsigned int len = 0;
    const unsigned char* p = SSL_SESSION_get_id(s, &len);
    if (len > 0) id = p[0];
  }
  SSL_free(ssl);
  return id;
}

ctx_ptr server_context(const cert_pair& cert, int max_version = 0) {
  ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
  REQUIRE(ctx);
  auto leaf = read_cert(cert.cert_pem);
  REQUIRE(SSL_CTX_use_certificate(ctx.get(), leaf.get()) == 1);
  BIO* bio = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(key);
  REQUIRE(SSL_CTX_use_PrivateKey(ctx.get(), key) == 1);
  EVP_PKEY_free(key);
  if (max_version) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  return ctx;
}

// One client and one server SSL object talking through memory.
struct tls_pair {
  SSL* client = nullptr;
  SSL* server = nullptr;

  tls_pair(SSL_CTX* client_ctx, SSL_CTX* server_ctx) : client(SSL_new(client_ctx)), server(SSL_new(server_ctx)) {
    REQUIRE(client);
    REQUIRE(server);
    BIO* c = nullptr;
    BIO* s = nullptr;
    REQUIRE(BIO_new_bio_pair(&c, 0, &s, 0) == 1);
    SSL_set_bio(client, c, c);
    SSL_set_bio(server, s, s);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
  }
  // Both send close_notify, as h2coal's transport does on close: OpenSSL marks the session of an SSL freed
  // without it not resumable.
  ~tls_pair() {
    if (clean_close) {
      SSL_shutdown(client);
      SSL_shutdown(server);
      ERR_clear_error();
    }
    SSL_free(client);
    SSL_free(server);
  }
  bool clean_close = true;
  tls_pair(const tls_pair&) = delete;
  tls_pair& operator=(const tls_pair&) = delete;

  static bool going_on(SSL* ssl, int r) {
    if (r == 1) return true;
    const int e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }

  // Both sides step until both are done (true) or one fails (false).
  bool handshake() {
    for (int i = 0; i < 64; ++i) {
      const int c = SSL_do_handshake(client);
      const int s = SSL_do_handshake(server);
      if (c == 1 && s == 1) return true;
      if (!going_on(client, c) || !going_on(server, s)) {
        ERR_clear_error();
        return false;
      }
    }
    return false;
  }

  // The client reads what the server sent after the handshake: TLS 1.3's NewSessionTicket messages.
  void client_reads() {
    char buf[64];
    const int r = SSL_read(client, buf, sizeof buf);
    CHECK(r <= 0);  // no application data, only tickets
    ERR_clear_error();
  }
};

// The client's context as the pool makes it: trusting the test CA only.
std::shared_ptr<asio::ssl::context> client_context(const test_ca& ca, bool insecure = false) {
  tls_options o;
  o.use_system_trust = false;
  o.ca_file = ca.ca_file();
  o.insecure = insecure;
  std::error_code ec;
  auto ctx = h2coal::detail::make_client_context(o, {"h2"}, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(ctx);
  return ctx;
}

}  // namespace

// ---- Pins -----------------------------------------------------------------------------------------------

TEST_CASE("tls: spki_sha256_base64 is the pin the openssl command line computes", "[tls]") {
  auto fixed = read_cert(fixed_cert_pem);
  CHECK(h2coal::detail::spki_sha256_base64(fixed.get()) == fixed_cert_pin);
  CHECK(independent_pin(fixed.get()) == fixed_cert_pin);

  test_ca ca;
  auto a = read_cert(ca.issue({"a.test"}).cert_pem);
  auto b = read_cert(ca.issue({"a.test"}).cert_pem);  // the same name, a key of its own
  CHECK(h2coal::detail::spki_sha256_base64(a.get()) == independent_pin(a.get()));
  CHECK(h2coal::detail::spki_sha256_base64(a.get()).size() == 44);
  CHECK(h2coal::detail::spki_sha256_base64(a.get()) != h2coal::detail::spki_sha256_base64(b.get()));
  CHECK(h2coal::detail::spki_sha256_base64(nullptr).empty());
}

TEST_CASE("tls: pins_for takes the most specific pattern, as policy_map does", "[tls]") {
  auto o = with_pins({{"*", zero_pin},
                      {"*.example", zero_pin},
                      {"*.corp.example", zero_pin},
                      {"api.corp.example", zero_pin},
                      {"[::1]", zero_pin},
                      {"Upper.Test.", zero_pin}});
  CHECK(picked(o, "api.corp.example") == "api.corp.example");  // exact beats every suffix
  CHECK(picked(o, "www.corp.example") == "*.corp.example");    // the longer suffix beats the shorter
  CHECK(picked(o, "deep.www.corp.example") == "*.corp.example");
  CHECK(picked(o, "corp.example") == "*.example");             // "*.corp.example" names subdomains only
  CHECK(picked(o, "other.example") == "*.example");
  CHECK(picked(o, "example") == "*");
  CHECK(picked(o, "elsewhere.test") == "*");
  CHECK(picked(o, "API.Corp.Example.") == "api.corp.example");  // case and a trailing dot do not matter
  CHECK(picked(o, "upper.test") == "Upper.Test.");
  CHECK(picked(o, "::1") == "[::1]");                           // IPv6 literals with or without brackets
  CHECK(picked(o, "[::1]") == "[::1]");

  auto no_star = with_pins({{"*.corp.example", zero_pin}});
  CHECK(picked(no_star, "corp.example") == "(none)");
  CHECK(picked(no_star, "xcorp.example") == "(none)");  // a suffix is matched from its dot
  CHECK(picked(no_star, "a.corp.example") == "*.corp.example");
  CHECK(picked(tls_options{}, "a.test") == "(none)");
}

TEST_CASE("tls: pins in curl's syntax; make_client_context refuses malformed ones", "[tls]") {
  const std::string good = std::string("sha256//") + fixed_cert_pin;
  CHECK(h2coal::detail::valid_pins(good));
  CHECK(h2coal::detail::valid_pins(zero_pin + ";" + good));
  CHECK_FALSE(h2coal::detail::valid_pins(""));
  CHECK_FALSE(h2coal::detail::valid_pins(good + ";"));                    // an empty pin
  CHECK_FALSE(h2coal::detail::valid_pins(";" + good));
  CHECK_FALSE(h2coal::detail::valid_pins(good.substr(0, good.size() - 1)));  // no padding
  CHECK_FALSE(h2coal::detail::valid_pins(good + "AAAA"));                 // 35 bytes
  CHECK_FALSE(h2coal::detail::valid_pins("sha1//" + std::string(fixed_cert_pin)));
  CHECK_FALSE(h2coal::detail::valid_pins(fixed_cert_pin));                // no "sha256//"
  CHECK_FALSE(h2coal::detail::valid_pins("sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!="));
  CHECK_FALSE(h2coal::detail::valid_pins("sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="));  // not canonical
  CHECK_FALSE(h2coal::detail::valid_pins(good + " "));

  auto context_error = [](std::vector<public_key_pin> pins) {
    tls_options o = with_pins(std::move(pins));
    o.use_system_trust = false;
    std::error_code ec;
    auto ctx = h2coal::detail::make_client_context(o, {"h2"}, ec);
    CHECK((ctx == nullptr) == static_cast<bool>(ec));
    return ec;
  };
  CHECK_FALSE(context_error({{"a.test", good}, {"*.test", zero_pin + ";" + good}, {"*", zero_pin}}));
  CHECK(context_error({{"a.test", "sha256//short"}}) == error::invalid_option);
  CHECK(context_error({{"a.test", ""}}) == error::invalid_option);
  CHECK(context_error({{"a*.test", good}}) == error::invalid_option);  // the pattern is checked too
  CHECK(context_error({{"", good}}) == error::invalid_option);
  CHECK(context_error({{"*.*.test", good}}) == error::invalid_option);
}

TEST_CASE("tls: pins_allow: an unpinned host is allowed; a pinned one only with one of its keys", "[tls]") {
  auto fixed = read_cert(fixed_cert_pem);
  const std::string good = std::string("sha256//") + fixed_cert_pin;
  auto o = with_pins({{"a.test", good}, {"b.test", zero_pin}, {"c.test", zero_pin + ";" + good}});
  CHECK(h2coal::detail::pins_allow(o, fixed.get(), "a.test"));
  CHECK_FALSE(h2coal::detail::pins_allow(o, fixed.get(), "b.test"));
  CHECK(h2coal::detail::pins_allow(o, fixed.get(), "c.test"));  // any one of the pins
  CHECK(h2coal::detail::pins_allow(o, fixed.get(), "d.test"));  // no pattern names it
  CHECK_FALSE(h2coal::detail::pins_allow(o, nullptr, "a.test"));  // pinned and no certificate: no
  CHECK(h2coal::detail::pins_allow(o, nullptr, "d.test"));
}

// ---- Session cache --------------------------------------------------------------------------------------

TEST_CASE("tls session cache: per (host, port), newest first, a TLS 1.3 session offered once", "[tls]") {
  ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  h2coal::detail::tls_session_cache cache;
  cache.store("a.test", 443, made_up_session(1));
  cache.store("a.test", 443, made_up_session(2));
  CHECK(cache.size() == 2);
  CHECK(offered(cache, ctx.get(), "b.test", 443) == -1);   // another host
  CHECK(offered(cache, ctx.get(), "a.test", 8443) == -1);  // another port
  CHECK(offered(cache, ctx.get(), "A.TEST", 443) == 2);    // the newest; host names are case-insensitive
  CHECK(offered(cache, ctx.get(), "a.test", 443) == 1);    // each ticket once (RFC 8446 appendix C.4)
  CHECK(offered(cache, ctx.get(), "a.test", 443) == -1);
  CHECK(cache.size() == 0);

  for (unsigned char i = 1; i <= 6; ++i) cache.store("a.test", 443, made_up_session(i));
  CHECK(cache.size() == h2coal::detail::tls_session_cache::sessions_per_key);  // the newest few
  CHECK(offered(cache, ctx.get(), "a.test", 443) == 6);
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK(offered(cache, ctx.get(), "a.test", 443) == -1);
}

TEST_CASE("tls session cache: a TLS 1.2 session stays to be resumed again", "[tls]") {
  ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  h2coal::detail::tls_session_cache cache;
  cache.store("a.test", 443, made_up_session(7, TLS1_2_VERSION));
  CHECK(offered(cache, ctx.get(), "a.test", 443) == 7);
  CHECK(offered(cache, ctx.get(), "a.test", 443) == 7);
  CHECK(cache.size() == 1);
}

TEST_CASE("tls session cache: expired or unresumable sessions are dropped", "[tls]") {
  ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  h2coal::detail::tls_session_cache cache;
  cache.store("a.test", 443, made_up_session(1, TLS1_3_VERSION, 100, 50));  // expired 50 s ago
  CHECK(cache.size() == 0);
  SSL_SESSION* no_id = SSL_SESSION_new();  // neither an id nor a ticket: nothing to resume with
  cache.store("a.test", 443, no_id);
  CHECK(cache.size() == 0);

  // The newest expires while held: the older one is offered.
  cache.store("a.test", 443, made_up_session(3));
  SSL_SESSION* s = made_up_session(2);
  SSL_SESSION_up_ref(s);  // a reference of our own, to age it
  cache.store("a.test", 443, s);
  CHECK(cache.size() == 2);
  SSL_SESSION_set_time(s, static_cast<long>(std::time(nullptr)) - 1000);
  SSL_SESSION_free(s);
  CHECK(offered(cache, ctx.get(), "a.test", 443) == 3);
  CHECK(cache.size() == 0);
}

TEST_CASE("tls session cache: a bounded number of keys, the least recently used dropped first", "[tls]") {
  ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  h2coal::detail::tls_session_cache cache;
  const std::size_t n = h2coal::detail::tls_session_cache::max_keys;
  for (std::size_t i = 0; i < n; ++i)
    cache.store("h" + std::to_string(i) + ".test", 443, made_up_session(static_cast<unsigned char>(i % 200), TLS1_2_VERSION));
  CHECK(cache.size() == n);
  CHECK(offered(cache, ctx.get(), "h0.test", 443) == 0);  // h0 is now the most recently used; h1 the least
  cache.store("new.test", 443, made_up_session(201, TLS1_2_VERSION));
  CHECK(cache.size() == n);
  CHECK(offered(cache, ctx.get(), "h1.test", 443) == -1);  // dropped
  CHECK(offered(cache, ctx.get(), "h0.test", 443) == 0);
  CHECK(offered(cache, ctx.get(), "h2.test", 443) == 2);
  CHECK(offered(cache, ctx.get(), "new.test", 443) == 201);
}

TEST_CASE("tls session cache: real handshakes: tickets kept, the next handshake resumes with the session's leaf",
          "[tls]") {
  test_ca ca;
  auto server_ctx = server_context(ca.issue({"a.test", "b.test"}));
  auto client_ctx = client_context(ca);
  h2coal::detail::tls_session_cache cache;
  cache.attach(client_ctx->native_handle());

  {
    tls_pair p(client_ctx->native_handle(), server_ctx.get());
    REQUIRE(h2coal::detail::prepare_ssl(p.client, "a.test", true));
    cache.offer(p.client, "a.test", 443);
    REQUIRE(p.handshake());
    CHECK(SSL_session_reused(p.client) == 0);
    p.client_reads();  // TLS 1.3: the tickets arrive after the handshake
    CHECK(cache.size() == 2);  // OpenSSL servers send two
  }
  {
    tls_pair p(client_ctx->native_handle(), server_ctx.get());
    REQUIRE(h2coal::detail::prepare_ssl(p.client, "a.test", true));
    cache.offer(p.client, "a.test", 443);
    CHECK(cache.size() == 1);  // one of the two taken
    REQUIRE(p.handshake());
    CHECK(SSL_session_reused(p.client) == 1);
    auto r = h2coal::detail::read_tls_result(p.client, true);
    CHECK(r.resumed);
    CHECK(r.verified);
    REQUIRE(r.leaf);
    CHECK(r.sans == std::vector<std::string>{"a.test", "b.test"});
    CHECK(h2coal::detail::certificate_covers(r.leaf.get(), "b.test"));
    CHECK_FALSE(h2coal::detail::certificate_covers(r.leaf.get(), "c.test"));
    CHECK(r.version == "TLSv1.3");
    p.client_reads();  // a resumed connection gets a new ticket too (OpenSSL servers send one)
    CHECK(cache.size() == 2);
  }
  {
    // Another host: nothing offered, a full handshake.
    tls_pair p(client_ctx->native_handle(), server_ctx.get());
    REQUIRE(h2coal::detail::prepare_ssl(p.client, "b.test", true));
    cache.offer(p.client, "b.test", 443);
    REQUIRE(p.handshake());
    CHECK(SSL_session_reused(p.client) == 0);
    auto r = h2coal::detail::read_tls_result(p.client, true);
    CHECK_FALSE(r.resumed);
    CHECK(r.verified);
  }
}

TEST_CASE("tls session cache: a connection freed without close_notify: its newest session is not offered",
          "[tls]") {
  // OpenSSL's rule (SSL_free of an established connection that sent no close_notify marks its current
  // session not resumable): the older ticket of the two is offered instead, and a full handshake follows
  // once none is left.
  test_ca ca;
  auto server_ctx = server_context(ca.issue({"a.test"}));
  auto client_ctx = client_context(ca);
  h2coal::detail::tls_session_cache cache;
  cache.attach(client_ctx->native_handle());
  {
    tls_pair p(client_ctx->native_handle(), server_ctx.get());
    REQUIRE(h2coal::detail::prepare_ssl(p.client, "a.test", true));
    cache.offer(p.client, "a.test", 443);
    REQUIRE(p.handshake());
    p.client_reads();
    CHECK(cache.size() == 2);
    p.clean_close = false;
  }
  ctx_ptr plain(SSL_CTX_new(TLS_client_method()));
  CHECK(offered(cache, plain.get(), "a.test", 443) != -1);  // the older one; the newest was dropped unoffered
  CHECK(cache.size() == 0);
}

TEST_CASE("tls session cache: TLS 1.2: the session is kept and resumed again", "[tls]") {
  test_ca ca;
  auto server_ctx = server_context(ca.issue({"a.test"}), TLS1_2_VERSION);
  auto client_ctx = client_context(ca);
  h2coal::detail::tls_session_cache cache;
  cache.attach(client_ctx->native_handle());
  for (int i = 0; i < 3; ++i) {
    INFO("handshake " << i);
    tls_pair p(client_ctx->native_handle(), server_ctx.get());
    REQUIRE(h2coal::detail::prepare_ssl(p.client, "a.test", true));
    cache.offer(p.client, "a.test", 443);
    REQUIRE(p.handshake());
    auto r = h2coal::detail::read_tls_result(p.client, true);
    CHECK(r.version == "TLSv1.2");
    CHECK(r.resumed == (i > 0));
    CHECK(r.verified);
    CHECK(r.sans == std::vector<std::string>{"a.test"});
    CHECK(cache.size() == 1);
  }
}

TEST_CASE("tls session cache: no session of an unverified peer is ever kept", "[tls]") {
  test_ca ca;
  auto server_ctx = server_context(ca.issue({"a.test"}));
  auto client_ctx = client_context(ca, true);  // -k: the pool attaches no cache; here one is, by mistake
  h2coal::detail::tls_session_cache cache;
  cache.attach(client_ctx->native_handle());
  tls_pair p(client_ctx->native_handle(), server_ctx.get());
  REQUIRE(h2coal::detail::prepare_ssl(p.client, "a.test", false));
  cache.offer(p.client, "a.test", 443);
  REQUIRE(p.handshake());
  p.client_reads();
  CHECK(cache.size() == 0);
}

TEST_CASE("tls session cache: tickets that arrive after the cache is gone are dropped", "[tls]") {
  test_ca ca;
  auto server_ctx = server_context(ca.issue({"a.test"}));
  auto client_ctx = client_context(ca);
  auto cache = std::make_unique<h2coal::detail::tls_session_cache>();
  cache->attach(client_ctx->native_handle());
  tls_pair p(client_ctx->native_handle(), server_ctx.get());
  REQUIRE(h2coal::detail::prepare_ssl(p.client, "a.test", true));
  cache->offer(p.client, "a.test", 443);
  cache->offer(p.client, "a.test", 443);  // twice: the first key is let go of, not leaked
  REQUIRE(p.handshake());
  cache.reset();
  p.client_reads();  // the callback finds the cache gone and lets OpenSSL free the sessions
  SUCCEED("no use after free (run under AddressSanitizer to see it)");
}
