// SPDX-License-Identifier: BSL-1.0
// examples/common/exit_codes.hpp: the tools' exit codes (h2get, h2audit), with curl's meanings, and the
// one-line error text.
//
// curl's numbers are a contract scripts rely on ("exit 6 means the name did not resolve"), so h2get keeps
// them: every h2coal::error maps to the curl code of the same failure class. Codes curl does not have
// (the --probe verdict) sit outside curl's range.
#pragma once

#include <h2coal/error.hpp>
#include <h2coal/url.hpp>

#include <cstdint>
#include <string>
#include <system_error>

namespace h2tools {

namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int unsupported_protocol = 1;  // CURLE_UNSUPPORTED_PROTOCOL
inline constexpr int usage = 2;                 // CURLE_FAILED_INIT: bad option or argument
inline constexpr int bad_url = 3;               // CURLE_URL_MALFORMAT
inline constexpr int not_built_in = 4;          // CURLE_NOT_BUILT_IN (--dns-servers without c-ares)
inline constexpr int resolve_proxy = 5;         // CURLE_COULDNT_RESOLVE_PROXY (also a bad proxy URL)
inline constexpr int resolve = 6;               // CURLE_COULDNT_RESOLVE_HOST
inline constexpr int connect = 7;               // CURLE_COULDNT_CONNECT
inline constexpr int weird_reply = 8;           // CURLE_WEIRD_SERVER_REPLY
inline constexpr int http2 = 16;                // CURLE_HTTP2: HTTP/2 framing layer
inline constexpr int http_error = 22;           // CURLE_HTTP_RETURNED_ERROR (--fail)
inline constexpr int write_error = 23;          // CURLE_WRITE_ERROR
inline constexpr int read_error = 26;           // CURLE_READ_ERROR (-d @FILE)
inline constexpr int timeout = 28;              // CURLE_OPERATION_TIMEDOUT
inline constexpr int range_error = 33;          // CURLE_RANGE_ERROR (-C and a server without ranges)
inline constexpr int tls = 35;                  // CURLE_SSL_CONNECT_ERROR
inline constexpr int aborted = 42;              // CURLE_ABORTED_BY_CALLBACK
inline constexpr int empty_reply = 52;          // CURLE_GOT_NOTHING
inline constexpr int send_error = 55;           // CURLE_SEND_ERROR
inline constexpr int recv_error = 56;           // CURLE_RECV_ERROR
inline constexpr int client_cert = 58;          // CURLE_SSL_CERTPROBLEM
inline constexpr int cipher = 59;               // CURLE_SSL_CIPHER: --ciphers, --tls13-ciphers
inline constexpr int certificate = 60;          // CURLE_PEER_FAILED_VERIFICATION
inline constexpr int too_many_redirects = 47;   // CURLE_TOO_MANY_REDIRECTS
inline constexpr int bad_content_encoding = 61; // CURLE_BAD_CONTENT_ENCODING
inline constexpr int too_large = 63;            // CURLE_FILESIZE_EXCEEDED
inline constexpr int send_rewind = 65;          // CURLE_SEND_FAIL_REWIND
inline constexpr int ca_file = 77;              // CURLE_SSL_CACERT_BADFILE
inline constexpr int pinned_public_key = 90;    // CURLE_SSL_PINNEDPUBKEYNOTMATCH
inline constexpr int http2_stream = 92;         // CURLE_HTTP2_STREAM
inline constexpr int proxy = 97;                // CURLE_PROXY: a SOCKS5 or proxy handshake failure
/// h2get's own: --probe found a response that differs from its origin's own answer.
inline constexpr int misrouted = 120;
}  // namespace exit_code

/// What went wrong with one transfer: curl's code and the sentence after "h2get: (code) ".
struct failure {
  int code = exit_code::ok;
  std::string message;
  explicit operator bool() const noexcept { return code != exit_code::ok; }
};

/// Context for the message: the URL as given, and what the command line configured for TLS.
struct failure_context {
  std::string url;
  bool has_client_cert = false;
  bool has_ca_file = false;
  int status = 0;  ///< a response status, when one arrived before the failure
  std::string detail;  ///< response::error_detail ("NXDOMAIN", ...), added to the message in parentheses
  std::string proxy_host;  ///< the proxy the URL went through, when one did (for the proxy errors)
  std::uint16_t proxy_port = 0;
  int proxy_status = 0;  ///< response::proxy_status: what the proxy answered CONNECT with
};

inline failure describe_code(std::error_code ec, const failure_context& ctx);

/// curl's code and a one-line message for a request that completed with `ec`, with what the library
/// knows beyond the code (response::error_detail) in parentheses.
inline failure describe(std::error_code ec, const failure_context& ctx) {
  failure f = describe_code(ec, ctx);
  if (!ctx.detail.empty() && f.message.find(ctx.detail) == std::string::npos) f.message += " (" + ctx.detail + ")";
  return f;
}

inline failure describe_code(std::error_code ec, const failure_context& ctx) {
  std::error_code parse_ec;
  auto u = h2coal::url::parse(ctx.url, parse_ec);
  const std::string host = parse_ec ? ctx.url : u.origin.host;
  const std::string port = parse_ec ? std::string("?") : std::to_string(u.origin.port);
  const std::string what = ec.message();
  const std::string proxy_host = ctx.proxy_host.find(':') != std::string::npos ? "[" + ctx.proxy_host + "]" : ctx.proxy_host;
  const std::string proxy_port = std::to_string(ctx.proxy_port);
  if (ec.category() != h2coal::error_category())
    return {exit_code::recv_error, ctx.url + ": " + what};
  using h2coal::error;
  switch (static_cast<error>(ec.value())) {
    case error::invalid_url:
      return {exit_code::bad_url, "URL rejected: malformed URL '" + ctx.url + "'"};
    case error::unsupported_scheme:
      return {exit_code::unsupported_protocol, "protocol not supported in '" + ctx.url + "' (only http and https)"};
    case error::invalid_header:
      return {exit_code::usage, "a request header has a forbidden name or value"};
    case error::invalid_method:
      return {exit_code::usage, "the request method is not a valid HTTP token"};
    case error::invalid_option:
      if (ctx.has_client_cert) return {exit_code::client_cert, "could not use the client certificate or key"};
      if (ctx.has_ca_file) return {exit_code::ca_file, "could not load the CA certificates of --cacert"};
      return {exit_code::usage, what};
    case error::host_not_found:
      return {exit_code::resolve, "could not resolve host: " + host};
    case error::connection_refused:
    case error::connect_failed:
      return {exit_code::connect, "failed to connect to " + host + " port " + port + ": " + what};
    case error::resolve_timeout:
      return {exit_code::timeout, "resolving " + host + " timed out"};
    case error::connect_timeout:
      return {exit_code::timeout, "connection to " + host + " port " + port + " timed out"};
    case error::tls_handshake_timeout:
      return {exit_code::timeout, "TLS handshake with " + host + " port " + port + " timed out"};
    case error::request_timeout:
      return {exit_code::timeout, "operation timed out: " + ctx.url};
    // Through a proxy (DESIGN section 13), with curl's codes: 5, 7, 35, 56, 97 and 28.
    case error::proxy_not_resolved:
      return {exit_code::resolve_proxy, "could not resolve proxy: " + proxy_host};
    case error::proxy_refused:
    case error::proxy_connect_failed:
      return {exit_code::connect, "failed to connect to proxy " + proxy_host + " port " + proxy_port + ": " + what};
    case error::proxy_tls_failed:
      return {exit_code::tls, "TLS connection to proxy " + proxy_host + " port " + proxy_port + " failed: " + what};
    case error::proxy_tunnel_failed:
    case error::proxy_auth_required:
      if (ctx.proxy_status != 0)
        return {exit_code::recv_error, "CONNECT tunnel failed, response " + std::to_string(ctx.proxy_status)};
      return {exit_code::recv_error, "CONNECT tunnel failed: " + what};
    case error::proxy_timeout:
      return {exit_code::timeout, "proxy " + proxy_host + " port " + proxy_port + " did not open the tunnel in time"};
    case error::proxy_protocol_error:
    case error::socks_general_failure:
    case error::socks_not_allowed:
    case error::socks_network_unreachable:
    case error::socks_host_unreachable:
    case error::socks_connection_refused:
    case error::socks_ttl_expired:
    case error::socks_command_not_supported:
    case error::socks_address_not_supported:
      return {exit_code::proxy, what + " (proxy " + proxy_host + " port " + proxy_port + ")"};
    case error::tls_handshake_failed:
    case error::alpn_mismatch:
      return {exit_code::tls, "TLS connection to " + host + " port " + port + " failed: " + what};
    case error::certificate_untrusted:
    case error::certificate_name_mismatch:
    case error::certificate_invalid:
      return {exit_code::certificate, "certificate for " + host + " is not valid: " + what};
    case error::public_key_mismatch:
      return {exit_code::pinned_public_key, "public key of " + host + " does not match the pinned public keys"};
    case error::cancelled:
      return {exit_code::aborted, what};
    case error::body_too_large:
      return {exit_code::too_large, what};
    case error::body_not_replayable:
      return {exit_code::send_rewind, what};
    case error::body_length_mismatch:
      return {exit_code::send_error, what};
    case error::streams_unavailable:
      return {exit_code::http2, what};
    case error::too_many_redirects:
      return {exit_code::too_many_redirects, what};
    case error::insecure_redirect:  // curl: "Protocol \"http\" not supported or disabled" for a refused scheme
      return {exit_code::unsupported_protocol, what};
    case error::invalid_redirect:
      return {exit_code::bad_url, what};
    case error::decoding_failed:
      return {exit_code::bad_content_encoding, what};
    case error::connection_closed:
      if (ctx.status == 0) return {exit_code::empty_reply, "empty reply from server: " + what};
      return {exit_code::recv_error, what};
    case error::headers_too_large:
    case error::connection_dead:
    case error::too_many_retries:
    case error::client_shutdown:
    case error::misdirected:
      return {exit_code::recv_error, what};
    case error::protocol_error:
      return {exit_code::weird_reply, what};
    case error::goaway:
      return {exit_code::http2, what};
    case error::stream_reset:
    case error::refused_stream:
    case error::h2_protocol_error:
    case error::h2_internal_error:
    case error::h2_flow_control_error:
    case error::h2_settings_timeout:
    case error::h2_stream_closed:
    case error::h2_frame_size_error:
    case error::h2_cancel:
    case error::h2_compression_error:
    case error::h2_connect_error:
    case error::h2_enhance_your_calm:
    case error::h2_inadequate_security:
    case error::h2_http_1_1_required:
      return {exit_code::http2_stream, what};
  }
  return {exit_code::recv_error, what};
}

}  // namespace h2tools
