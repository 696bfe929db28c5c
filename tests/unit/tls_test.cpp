// tests/unit/tls_test.cpp: tls.hpp without sockets: public-key pins (the SPKI hash, pattern precedence,
// curl's syntax).
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
