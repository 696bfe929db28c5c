// SPDX-License-Identifier: BSL-1.0
// h2coal/tls.hpp: TLS settings, the client's SSL context, and what a handshake established.
//
// The handshake verifies the chain and the host name with OpenSSL's own checks (SSL_set1_host or
// X509_VERIFY_PARAM_set1_ip_asc). The leaf is kept, so the pool can later ask whether the same
// certificate covers another host exactly as a fresh handshake would (RFC 9113 section 9.1.1).
//
// Also here: the client's TLS session cache (DESIGN section 11), and public-key pinning (curl's
// --pinnedpubkey), checked at every handshake and again for every host coalesced onto a connection.
#pragma once

#include <h2coal/error.hpp>
#include <h2coal/tls_options.hpp>
#include <h2coal/url.hpp>

#include <asio/ip/address.hpp>
#include <asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace h2coal {

/// What the TLS handshake of one connection established.
struct tls_result {
  std::string alpn;                 ///< "h2", "http/1.1", or "" when none was agreed
  std::string version;              ///< "TLSv1.3", ...
  std::vector<std::string> sans;    ///< the leaf's dNSName and iPAddress entries, as text
  bool verified = false;            ///< chain and host name verified
  /// A client certificate was sent in the handshake (tls_options::client_cert_file).
  bool client_cert_sent = false;
  /// The handshake resumed a session (RFC 8446 section 2.2): leaf, SANs and `verified` are the session's,
  /// from the full handshake that made it for the same host and port.
  bool resumed = false;
  std::shared_ptr<X509> leaf;       ///< the peer's leaf certificate (nullptr without TLS)
};

namespace detail {

inline bool is_ip_literal(std::string_view host) {
  std::error_code ec;
  std::string h(host);
  asio::ip::make_address(h, ec);
  return !ec;
}

// The same rule for the handshake's host check and for coalescing: no partial wildcards ("a*.test", RFC
// 6125 section 6.4.3), and names come from subjectAltName only, never from the subject's CN: OpenSSL
// falls back to the CN when a leaf has no dNSName SAN (one with only an IP SAN, say), which RFC 6125
// section 6.4.4 deprecates and browsers refuse (RFC 9110 section 4.3.4 names SANs).
inline constexpr unsigned int host_check_flags =
    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;

/// Whether `leaf` names `host` (a DNS name or an IP literal) in its subjectAltName.
inline bool certificate_covers(X509* leaf, std::string_view host) {
  if (!leaf || host.empty()) return false;
  std::string h(host);
  if (is_ip_literal(h)) return X509_check_ip_asc(leaf, h.c_str(), 0) == 1;
  return X509_check_host(leaf, h.data(), h.size(), host_check_flags, nullptr) == 1;
}

inline std::vector<std::string> subject_alt_names(X509* leaf) {
  std::vector<std::string> out;
  if (!leaf) return out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const unsigned char* p = ASN1_STRING_get0_data(gn->d.dNSName);
      out.emplace_back(reinterpret_cast<const char*>(p), static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)));
    } else if (gn->type == GEN_IPADD) {
      const unsigned char* p = ASN1_STRING_get0_data(gn->d.iPAddress);
      int len = ASN1_STRING_length(gn->d.iPAddress);
      if (len == 4) {
        out.push_back(asio::ip::address_v4({p[0], p[1], p[2], p[3]}).to_string());
      } else if (len == 16) {
        asio::ip::address_v6::bytes_type b;
        std::copy(p, p + 16, b.begin());
        out.push_back(asio::ip::address_v6(b).to_string());
      }
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

/// Maps a failed verification (SSL_get_verify_result) to the error a person needs.
inline error verify_error(long result) {
  switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
      return error::certificate_name_mismatch;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_CERT_REVOKED:
      return error::certificate_invalid;
    default:
      return error::certificate_untrusted;
  }
}

/// ALPN protocol list in wire format.
inline std::string alpn_wire(const std::vector<std::string>& protos) {
  std::string out;
  for (const auto& p : protos) {
    out.push_back(static_cast<char>(p.size()));
    out += p;
  }
  return out;
}

// ---- Public-key pinning (curl's --pinnedpubkey) ----

/// The base64 SHA-256 of `cert`'s DER SubjectPublicKeyInfo: what a "sha256//" pin names (RFC 7469
/// section 2.4's hash). Empty when `cert` is null or has no readable key.
inline std::string spki_sha256_base64(X509* cert) {
  if (!cert) return {};
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  const bool ok = EVP_Digest(der, static_cast<std::size_t>(len), md, &md_len, EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  if (!ok) return {};
  std::string out(4 * ((md_len + 2) / 3) + 1, '\0');  // EVP_EncodeBlock writes a NUL after the text
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), md, static_cast<int>(md_len));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

/// A host pattern as policy_map reads one: lowercase, without a trailing dot or IPv6 brackets; a wildcard
/// keeps the suffix from its dot (".corp.example"), "*" is the empty suffix. nullopt when malformed.
struct pin_pattern {
  std::string text;
  bool wildcard = false;
};

inline std::optional<pin_pattern> parse_pin_pattern(std::string_view pattern) {
  std::string p = ascii_lowercase(pattern);
  if (p.size() > 1 && p.back() == '.' && p[p.size() - 2] != '*' && p[p.size() - 2] != '.') p.pop_back();
  if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
  bool wildcard = false;
  if (p == "*") {
    wildcard = true;
    p.clear();
  } else if (p.size() > 2 && p.compare(0, 2, "*.") == 0) {
    wildcard = true;
    p.erase(0, 1);
  }
  if ((!wildcard && p.empty()) || p.find('*') != std::string::npos) return std::nullopt;
  return pin_pattern{std::move(p), wildcard};
}

/// The pins that apply to `host`: the most specific pattern naming it, as policy_map::for_host picks (the
/// exact host, else the longest "*.suffix", else "*"). nullptr when none does: the host is not pinned.
inline const public_key_pin* pins_for(const tls_options& o, std::string_view host) {
  if (o.pinned_public_keys.empty()) return nullptr;
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const public_key_pin* best = nullptr;
  std::size_t best_length = 0;
  for (const auto& pin : o.pinned_public_keys) {
    auto p = parse_pin_pattern(pin.host_pattern);
    if (!p) continue;  // make_client_context refuses such options; never a match
    if (!p->wildcard) {
      if (iequals(p->text, host)) return &pin;
      continue;
    }
    const bool match = p->text.empty() || (host.size() > p->text.size() &&
                                           iequals(host.substr(host.size() - p->text.size()), p->text));
    if (match && (!best || p->text.size() > best_length)) {
      best = &pin;
      best_length = p->text.size();
    }
  }
  return best;
}

/// Whether `pins` is curl's syntax: "sha256//" and the base64 of 32 bytes (44 characters, canonical, with
/// its padding), one or more separated by ';'.
inline bool valid_pins(std::string_view pins) {
  constexpr std::string_view prefix = "sha256//";
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (pins.empty()) return false;
  for (;;) {
    const auto end = pins.find(';');
    const std::string_view one = pins.substr(0, end);
    if (one.size() != prefix.size() + 44 || one.substr(0, prefix.size()) != prefix) return false;
    const std::string_view b64 = one.substr(prefix.size());
    if (b64[43] != '=') return false;
    for (std::size_t i = 0; i < 43; ++i)
      if (alphabet.find(b64[i]) == std::string_view::npos) return false;
    if (alphabet.find(b64[42]) % 4 != 0) return false;  // 256 bits leave the last digit's 2 low bits unused
    if (end == std::string_view::npos) return true;
    pins.remove_prefix(end + 1);
  }
}

/// Whether the pins let `leaf` serve `host`: true when no pattern names the host; else only when the
/// leaf's public key is one of the pins.
inline bool pins_allow(const tls_options& o, X509* leaf, std::string_view host) {
  const public_key_pin* pin = pins_for(o, host);
  if (!pin) return true;
  const std::string mine = spki_sha256_base64(leaf);
  if (mine.empty()) return false;
  std::string_view pins = pin->pins;
  for (;;) {
    const auto end = pins.find(';');
    const std::string_view one = pins.substr(0, end);
    if (one.size() == 8 + mine.size() && one.substr(0, 8) == "sha256//" && one.substr(8) == mine) return true;
    if (end == std::string_view::npos) return false;
    pins.remove_prefix(end + 1);
  }
}

// ---- TLS session resumption (RFC 8446 section 2.2, RFC 5077) ----

/// The sessions of one client (one partition), keyed by (lowercase SNI host, port): a session is offered
/// only for the host and port it was made for, and only sessions of fully verified handshakes are kept.
/// The newest few per key, a bounded number of keys (the least recently used go first), none expired. A
/// TLS 1.3 session is taken out when offered: a ticket is used once (RFC 8446 appendix C.4); a TLS 1.2
/// session stays, as the server may resume it again.
///
/// OpenSSL hands new sessions over through the SSL_CTX's callback, also after the handshake (TLS 1.3
/// NewSessionTicket arrives with the first reads): the SSL object carries its key and a weak reference to
/// the cache, so an SSL that outlives the cache stores nothing.
class tls_session_cache {
 public:
  static constexpr std::size_t sessions_per_key = 4;
  static constexpr std::size_t max_keys = 256;

  tls_session_cache() : state_(std::make_shared<state>()) {}
  tls_session_cache(const tls_session_cache&) = delete;
  tls_session_cache& operator=(const tls_session_cache&) = delete;

  /// Client session caching on `ctx` (OpenSSL's internal store off: this cache is the store).
  void attach(SSL_CTX* ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &tls_session_cache::on_new_session);
  }

  /// Before the handshake of `ssl` with `host`:`port`: names the key the sessions it brings are kept
  /// under, and sets the newest session stored for that key, if any.
  void offer(SSL* ssl, std::string_view host, std::uint16_t port) {
    const int index = tag_index();
    if (index < 0) return;
    key k{ascii_lowercase(host), port};
    auto* previous = static_cast<ssl_tag*>(SSL_get_ex_data(ssl, index));
    auto* tag = new ssl_tag{state_, k};
    if (SSL_set_ex_data(ssl, index, tag) != 1) {
      delete tag;
      return;
    }
    delete previous;
    if (auto s = state_->take(k)) SSL_set_session(ssl, s.get());
  }

  /// Keeps `session` (its reference is taken) for `host`:`port`, unless it cannot be resumed or expired.
  /// The new-session callback's way in, after its checks; tests call it directly.
  void store(std::string_view host, std::uint16_t port, SSL_SESSION* session) {
    state_->store(key{ascii_lowercase(host), port}, session);
  }

  void clear() {
    std::lock_guard lock(state_->mutex);
    state_->entries.clear();
    state_->index.clear();
  }

  /// Sessions held, over every key.
  std::size_t size() const {
    std::lock_guard lock(state_->mutex);
    std::size_t n = 0;
    for (const auto& e : state_->entries) n += e.sessions.size();
    return n;
  }

 private:
  using key = std::pair<std::string, std::uint16_t>;
  using session_ptr = std::shared_ptr<SSL_SESSION>;

  static bool usable(SSL_SESSION* s, long long now) {
    if (SSL_SESSION_is_resumable(s) != 1) return false;
    return static_cast<long long>(SSL_SESSION_get_time(s)) + static_cast<long long>(SSL_SESSION_get_timeout(s)) > now;
  }

  struct state {
    struct entry {
      key k;
      std::deque<session_ptr> sessions;  // newest first
    };
    mutable std::mutex mutex;
    std::list<entry> entries;  // most recently used first
    std::map<key, std::list<entry>::iterator> index;

    void store(const key& k, SSL_SESSION* raw) {
      session_ptr s(raw, SSL_SESSION_free);
      const long long now = static_cast<long long>(std::time(nullptr));
      if (!usable(raw, now)) return;
      std::lock_guard lock(mutex);
      auto it = index.find(k);
      if (it == index.end()) {
        entries.push_front(entry{k, {}});
        it = index.emplace(k, entries.begin()).first;
      } else {
        entries.splice(entries.begin(), entries, it->second);
      }
      auto& list = it->second->sessions;
      std::erase_if(list, [now](const session_ptr& p) { return !usable(p.get(), now); });
      list.push_front(std::move(s));
      while (list.size() > sessions_per_key) list.pop_back();
      while (entries.size() > max_keys) {
        index.erase(entries.back().k);
        entries.pop_back();
      }
    }

    session_ptr take(const key& k) {
      const long long now = static_cast<long long>(std::time(nullptr));
      std::lock_guard lock(mutex);
      auto it = index.find(k);
      if (it == index.end()) return nullptr;
      auto& list = it->second->sessions;
      std::erase_if(list, [now](const session_ptr& p) { return !usable(p.get(), now); });
      if (list.empty()) {
        entries.erase(it->second);
        index.erase(it);
        return nullptr;
      }
      entries.splice(entries.begin(), entries, it->second);
      session_ptr s = list.front();
      if (SSL_SESSION_get_protocol_version(s.get()) >= TLS1_3_VERSION) list.pop_front();
      if (list.empty()) {
        entries.erase(it->second);
        index.erase(it);
      }
      return s;
    }
  };

  // What offer() leaves on an SSL object for the callback.
  struct ssl_tag {
    std::weak_ptr<state> cache;
    key k;
  };

  static void free_tag(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<ssl_tag*>(ptr); }

  static int tag_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &tls_session_cache::free_tag);
    return index;
  }

  // Returns 1 when the cache took the reference to `session`, 0 to let OpenSSL drop it.
  static int on_new_session(SSL* ssl, SSL_SESSION* session) {
    const int index = tag_index();
    if (index < 0) return 0;
    auto* tag = static_cast<ssl_tag*>(SSL_get_ex_data(ssl, index));
    if (!tag) return 0;
    auto st = tag->cache.lock();
    if (!st) return 0;
    // Only what a full verification proved may be resumed later: no session of an unverified peer.
    if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0 || SSL_get_verify_result(ssl) != X509_V_OK ||
        SSL_SESSION_get0_peer(session) == nullptr)
      return 0;
    st->store(tag->k, session);  // owns the reference from here on, kept or not
    return 1;
  }

  std::shared_ptr<state> state_;
};

/// Builds the client's SSL context. Errors (bad CA file, bad client certificate, a malformed pin or pin
/// pattern) come back in ec as error::invalid_option.
inline std::shared_ptr<asio::ssl::context> make_client_context(const tls_options& o,
                                                               const std::vector<std::string>& alpn,
                                                               std::error_code& ec) {
  ec.clear();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  auto version = [](tls_version v) { return v == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; };
  // TLS 1.2 at least (RFC 9113 section 9.2); the bounds the options ask for, which must leave one version.
  if (o.max_version && *o.max_version < o.min_version) {
    ec = error::invalid_option;
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(native, version(o.min_version));
  if (o.max_version) SSL_CTX_set_max_proto_version(native, version(*o.max_version));
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if ((!o.ciphers.empty() && SSL_CTX_set_cipher_list(native, o.ciphers.c_str()) != 1) ||
      (!o.tls13_ciphers.empty() && SSL_CTX_set_ciphersuites(native, o.tls13_ciphers.c_str()) != 1)) {
    ERR_clear_error();  // OpenSSL queued why; the error code says it
    ec = error::invalid_option;
    return nullptr;
  }
  if (o.insecure) {
    ctx->set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_peer);
    if (o.use_system_trust) ctx->set_default_verify_paths(ec);
    ec.clear();  // a machine without a system store can still trust ca_file
    if (!o.ca_file.empty()) {
      ctx->load_verify_file(o.ca_file, ec);
      if (ec) {
        ec = error::invalid_option;
        return nullptr;
      }
    }
  }
  if (!o.client_cert_file.empty()) {
    ctx->use_certificate_chain_file(o.client_cert_file, ec);
    if (!ec)
      ctx->use_private_key_file(o.client_key_file.empty() ? o.client_cert_file : o.client_key_file,
                                asio::ssl::context::pem, ec);
    if (ec) {
      ec = error::invalid_option;
      return nullptr;
    }
  }
  for (const auto& pin : o.pinned_public_keys) {
    if (!parse_pin_pattern(pin.host_pattern) || !valid_pins(pin.pins)) {
      ec = error::invalid_option;
      return nullptr;
    }
  }
  auto wire = alpn_wire(alpn);
  if (!wire.empty() &&
      SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size())) != 0) {
    ec = error::invalid_option;
    return nullptr;
  }
  return ctx;
}

/// Prepares one SSL object for a handshake with `host`: SNI (not for IP literals, RFC 6066 section 3)
/// and the host or IP check that verification will apply.
inline bool prepare_ssl(SSL* ssl, const std::string& host, bool verify) {
  bool ip = is_ip_literal(host);
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
  if (!verify) return true;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, host_check_flags);
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
}

/// Reads what the finished handshake established.
inline tls_result read_tls_result(SSL* ssl, bool verify) {
  tls_result r;
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &len);
  if (proto) r.alpn.assign(reinterpret_cast<const char*>(proto), len);
  r.version = SSL_get_version(ssl);
  if (X509* leaf = SSL_get1_peer_certificate(ssl)) {
    r.leaf = std::shared_ptr<X509>(leaf, X509_free);
    r.sans = subject_alt_names(leaf);
  }
  r.verified = verify && r.leaf && SSL_get_verify_result(ssl) == X509_V_OK;
  // A configured client certificate counts as sent: the safe reading, since a server may ask for it
  // after the handshake (TLS 1.3 post-handshake authentication).
  r.client_cert_sent = SSL_get_certificate(ssl) != nullptr;
  // Resumed: OpenSSL answers the peer certificate and the verify result from the session.
  r.resumed = SSL_session_reused(ssl) == 1;
  return r;
}

}  // namespace detail
}  // namespace h2coal
