// SPDX-License-Identifier: BSL-1.0
// tests/support/test_ca.cpp: CA and leaf certificates built with the OpenSSL 3 API.
#include "support/test_ca.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace h2coal::test {
namespace {

template <auto Free>
struct ossl_deleter {
  template <class T>
  void operator()(T* p) const { Free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, ossl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, ossl_deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, ossl_deleter<BIO_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, ossl_deleter<GENERAL_NAMES_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, ossl_deleter<X509_EXTENSION_free>>;

[[noreturn]] void fail(const std::string& what) {
  char buf[256] = "no OpenSSL error queued";
  if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  throw std::runtime_error("test_ca: " + what + ": " + buf);
}

void check(int ok, const char* what) {
  if (ok != 1) fail(what);
}

pkey_ptr make_key() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) fail("EVP_EC_gen");
  return key;
}

std::string to_pem(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string to_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

x509_ptr read_cert(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) fail("PEM_read_bio_X509");
  return cert;
}

pkey_ptr read_key(const std::string& pem) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail("PEM_read_bio_PrivateKey");
  return key;
}

// An extension given in openssl.cnf syntax ("critical,CA:TRUE"); the context supplies subject and issuer
// so that subjectKeyIdentifier/authorityKeyIdentifier can be computed.
void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext) fail(std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
  check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

// The subjectAltName is built name by name rather than through the config syntax, so that names are
// written exactly as the test gave them (commas, wildcards and all).
void add_san(X509* cert, const std::vector<std::string>& dns_names,
             const std::vector<std::string>& ip_addresses) {
  names_ptr names(GENERAL_NAMES_new());
  for (const auto& dns : dns_names) {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (!s || ASN1_STRING_set(s, dns.data(), static_cast<int>(dns.size())) != 1) fail("dNSName");
    GENERAL_NAME* gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_DNS, s);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  for (const auto& ip : ip_addresses) {
    ASN1_OCTET_STRING* bytes = a2i_IPADDRESS(ip.c_str());
    if (!bytes) fail("not an IP address: " + ip);
    GENERAL_NAME* gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_IPADD, bytes);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  check(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT),
        "subjectAltName");
}

// A certificate with everything but extensions and signature: random serial, validity now-1h .. now+1d.
x509_ptr new_cert(EVP_PKEY* key, const std::string& cn, X509* issuer) {
  x509_ptr cert(X509_new());
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

  std::unique_ptr<BIGNUM, ossl_deleter<BN_free>> serial(BN_new());
  check(BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
  if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) fail("serial");

  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600)) fail("notBefore");
  if (!X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 3600)) fail("notAfter");

  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
        "CN");
  check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name), "issuer");
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  return cert;
}

struct leaf_spec {
  std::string cn;
  const char* eku;
  const std::vector<std::string>* dns_names = nullptr;
  const std::vector<std::string>* ip_addresses = nullptr;
};

cert_pair issue_leaf(const std::string& ca_cert_pem, const std::string& ca_key_pem,
                     const leaf_spec& spec) {
  x509_ptr ca_cert = read_cert(ca_cert_pem);
  pkey_ptr ca_key = read_key(ca_key_pem);
  pkey_ptr key = make_key();
  x509_ptr cert = new_cert(key.get(), spec.cn, ca_cert.get());
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, spec.eku);
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  if (spec.dns_names && (!spec.dns_names->empty() || !spec.ip_addresses->empty())) {
    add_san(cert.get(), *spec.dns_names, *spec.ip_addresses);
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) fail("X509_sign");
  return {to_pem(cert.get()), to_pem(key.get())};
}

}  // namespace

test_ca::test_ca() {
  pkey_ptr key = make_key();
  x509_ptr cert = new_cert(key.get(), "h2coal test CA", nullptr);
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) fail("X509_sign (CA)");
  cert_pem_ = to_pem(cert.get());
  key_pem_ = to_pem(key.get());
  ca_file_ = dir_.write_temp_file(cert_pem_, "-ca.pem");
}

cert_pair test_ca::issue(const std::vector<std::string>& dns_names,
                         const std::vector<std::string>& ip_addresses) const {
  if (dns_names.empty() && ip_addresses.empty()) {
    throw std::invalid_argument("test_ca::issue: needs at least one name");
  }
  leaf_spec spec{dns_names.empty() ? ip_addresses.front() : dns_names.front(), "serverAuth",
                 &dns_names, &ip_addresses};
  return issue_leaf(cert_pem_, key_pem_, spec);
}

cert_pair test_ca::issue_named(const std::string& cn, const std::vector<std::string>& dns_names,
                               const std::vector<std::string>& ip_addresses) const {
  leaf_spec spec{cn, "serverAuth", &dns_names, &ip_addresses};
  return issue_leaf(cert_pem_, key_pem_, spec);
}

cert_pair test_ca::issue_client(const std::string& cn) const {
  return issue_leaf(cert_pem_, key_pem_, leaf_spec{cn, "clientAuth"});
}

}  // namespace h2coal::test
