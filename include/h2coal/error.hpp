// SPDX-License-Identifier: BSL-1.0
// h2coal/error.hpp: the h2coal error category.
//
// Every failure of a request reaches its completion handler as a std::error_code; no exception leaves an
// asynchronous path. HTTP/2 error codes a peer sends (RST_STREAM, GOAWAY) map onto h2_* values.
#pragma once

#include <h2coal/config.hpp>

#include <cstdint>
#include <string>
#include <system_error>
#include <type_traits>

namespace h2coal {

enum class error {
  // Bad input from the caller.
  invalid_url = 1,            ///< The URL could not be parsed.
  unsupported_scheme,         ///< The URL's scheme is neither http nor https.
  invalid_header,             ///< A header field is malformed (CR, LF, NUL, ...) or would frame the message
                              ///< otherwise than the request does (Content-Length, Transfer-Encoding, Host, ...).
  invalid_method,             ///< The method is empty or not an HTTP token.
  invalid_option,             ///< A client option is contradictory or out of range.
  // Name resolution and connecting.
  host_not_found,             ///< The host name did not resolve to any address.
  connection_refused,         ///< Every address refused the connection.
  connect_failed,             ///< Connecting failed for another reason (unreachable, reset).
  connect_timeout,            ///< No address accepted the connection in time.
  resolve_timeout,            ///< The DNS servers did not answer in time.
  // TLS.
  tls_handshake_failed,       ///< The TLS handshake failed (protocol, alert, no shared cipher).
  tls_handshake_timeout,      ///< The server did not complete the TLS handshake in time.
  certificate_untrusted,      ///< The server's certificate chain is not signed by a trusted CA.
  certificate_name_mismatch,  ///< The server's certificate is valid but not for the requested host.
  certificate_invalid,        ///< The server's certificate is expired, not yet valid, or malformed.
  alpn_mismatch,              ///< The server did not agree on any protocol we offered.
  public_key_mismatch,        ///< The server's public key matches none of the pins for the host.

  // Reaching the server through a proxy (DESIGN section 13).
  proxy_not_resolved,         ///< The proxy's host name did not resolve.
  proxy_refused,              ///< The proxy refused the connection (every address).
  proxy_connect_failed,       ///< Connecting to the proxy failed or timed out.
  proxy_tls_failed,           ///< The TLS handshake with an https:// proxy failed (or its certificate).
  proxy_tunnel_failed,        ///< The proxy answered CONNECT with a non-2xx status (response::proxy_status).
  proxy_auth_required,        ///< The proxy wants credentials, or refused the ones sent (407, SOCKS5 auth).
  proxy_protocol_error,       ///< The proxy's answer is not valid HTTP/1.1 or SOCKS5, or too long.
  proxy_timeout,              ///< The proxy did not complete the tunnel in time.
  socks_general_failure,      ///< SOCKS5 reply 1: general SOCKS server failure.
  socks_not_allowed,          ///< SOCKS5 reply 2: connection not allowed by ruleset.
  socks_network_unreachable,  ///< SOCKS5 reply 3: network unreachable.
  socks_host_unreachable,     ///< SOCKS5 reply 4: host unreachable (or not resolved by the proxy).
  socks_connection_refused,   ///< SOCKS5 reply 5: the target refused the proxy's connection.
  socks_ttl_expired,          ///< SOCKS5 reply 6: TTL expired.
  socks_command_not_supported,///< SOCKS5 reply 7: command not supported.
  socks_address_not_supported,///< SOCKS5 reply 8 (or another code): address type not supported.
  // Requests.
  request_timeout,            ///< The whole request took longer than its timeout.
  cancelled,                  ///< The request was cancelled through its cancellation slot.
  body_too_large,             ///< The response body exceeded the configured limit.
  headers_too_large,          ///< The response header block exceeded the configured limit.
  body_not_replayable,        ///< A retry was needed but the request body is a stream without rewind.
  misdirected,                ///< 421 Misdirected Request twice (returned as a response, not used as an error).
  body_length_mismatch,       ///< The request body source gave more or fewer bytes than its declared length.
  streams_unavailable,        ///< The server allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0) for too long.
  too_many_redirects,         ///< More redirects than request::max_redirects, or a redirect loop.
  insecure_redirect,          ///< A redirect from https to http, refused (request::allow_insecure_redirects).
  invalid_redirect,           ///< A redirect's Location is not a URL that can be followed.
  decoding_failed,            ///< The response body is not valid in its Content-Encoding (corrupt or truncated).
  // Connections.
  connection_closed,          ///< The server closed the connection before the response was complete.
  connection_dead,            ///< The connection stopped answering: no ACK to the health check's PING in time.
  protocol_error,             ///< The server broke HTTP/1.1 or HTTP/2 framing rules.
  stream_reset,               ///< The server reset the stream (RST_STREAM) with an unmapped error code.
  refused_stream,             ///< The server refused the stream twice (REFUSED_STREAM).
  goaway,                     ///< The connection went away and the request could not be retried.
  too_many_retries,           ///< The request was retried as often as allowed and still failed.
  client_shutdown,            ///< The client was destroyed while the request was outstanding.
  // HTTP/2 error codes received from the peer (RFC 9113 section 7).
  h2_protocol_error,
  h2_internal_error,
  h2_flow_control_error,
  h2_settings_timeout,
  h2_stream_closed,
  h2_frame_size_error,
  h2_cancel,
  h2_compression_error,
  h2_connect_error,
  h2_enhance_your_calm,
  h2_inadequate_security,
  h2_http_1_1_required,
};

namespace detail {

class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "h2coal"; }

  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::invalid_url: return "the URL could not be parsed";
      case error::unsupported_scheme: return "the URL's scheme is not http or https";
      case error::invalid_header:
        return "a request header field is malformed or contradicts the request's own framing "
               "(Host, Content-Length, Transfer-Encoding: use request::authority and the body instead)";
      case error::invalid_method: return "the request method is not a valid HTTP token";
      case error::invalid_option: return "a client option is invalid";
      case error::host_not_found: return "the host name could not be resolved";
      case error::connection_refused: return "the server refused the connection";
      case error::connect_failed: return "could not connect to the server";
      case error::connect_timeout: return "connecting to the server timed out";
      case error::resolve_timeout: return "the DNS servers did not answer in time";
      case error::tls_handshake_failed: return "the TLS handshake failed";
      case error::tls_handshake_timeout: return "the TLS handshake timed out";
      case error::certificate_untrusted: return "the server certificate is not signed by a trusted CA";
      case error::certificate_name_mismatch: return "the server certificate does not cover the host name";
      case error::certificate_invalid: return "the server certificate is expired or invalid";
      case error::alpn_mismatch: return "the server does not speak a protocol we offered (ALPN)";
      case error::public_key_mismatch: return "the server's public key matches none of the keys pinned for the host";
      case error::proxy_not_resolved: return "the proxy's host name could not be resolved";
      case error::proxy_refused: return "the proxy refused the connection";
      case error::proxy_connect_failed: return "could not connect to the proxy";
      case error::proxy_tls_failed: return "the TLS handshake with the proxy failed";
      case error::proxy_tunnel_failed: return "the proxy refused to open the tunnel (CONNECT answered non-2xx)";
      case error::proxy_auth_required: return "the proxy requires authentication (407), or refused the credentials";
      case error::proxy_protocol_error: return "the proxy's answer is malformed";
      case error::proxy_timeout: return "the proxy did not open the tunnel in time";
      case error::socks_general_failure: return "SOCKS5 proxy: general server failure";
      case error::socks_not_allowed: return "SOCKS5 proxy: connection not allowed by its rules";
      case error::socks_network_unreachable: return "SOCKS5 proxy: network unreachable";
      case error::socks_host_unreachable: return "SOCKS5 proxy: host unreachable";
      case error::socks_connection_refused: return "SOCKS5 proxy: the target refused the connection";
      case error::socks_ttl_expired: return "SOCKS5 proxy: TTL expired";
      case error::socks_command_not_supported: return "SOCKS5 proxy: command not supported";
      case error::socks_address_not_supported: return "SOCKS5 proxy: address type not supported";
      case error::request_timeout: return "the request timed out";
      case error::cancelled: return "the request was cancelled";
      case error::body_too_large: return "the response body exceeds the configured limit";
      case error::headers_too_large: return "the response headers exceed the configured limit";
      case error::body_not_replayable: return "the request body is a stream that cannot be replayed";
      case error::misdirected: return "the server answered 421 Misdirected Request";
      case error::body_length_mismatch:
        return "the request body source gave more or fewer bytes than its declared length (the connection was closed)";
      case error::too_many_redirects: return "too many redirects (over the request's limit, or a loop)";
      case error::insecure_redirect: return "a redirect from https to http was refused";
      case error::invalid_redirect: return "the redirect's Location is not a URL that can be followed";
      case error::decoding_failed: return "the response body is corrupt or truncated in its Content-Encoding";
      case error::streams_unavailable:
        return "the server allows no streams on its connection (SETTINGS_MAX_CONCURRENT_STREAMS 0)";
      case error::connection_closed:
        return "the server closed the connection before the response ended (the request may have been processed)";
      case error::protocol_error: return "the server violated the HTTP protocol";
      case error::stream_reset: return "the server reset the stream";
      case error::refused_stream: return "the server refused the stream";
      case error::goaway: return "the server closed the connection (GOAWAY) and the request was not retried";
      case error::too_many_retries: return "the request was retried too often";
      case error::connection_dead:
        return "the connection stopped answering (no PING acknowledgement within ping_timeout)";
      case error::client_shutdown: return "the client was shut down";
      case error::h2_protocol_error: return "HTTP/2 protocol error (PROTOCOL_ERROR)";
      case error::h2_internal_error: return "HTTP/2 internal error at the peer (INTERNAL_ERROR)";
      case error::h2_flow_control_error: return "HTTP/2 flow-control error (FLOW_CONTROL_ERROR)";
      case error::h2_settings_timeout: return "HTTP/2 settings timeout (SETTINGS_TIMEOUT)";
      case error::h2_stream_closed: return "HTTP/2 stream closed (STREAM_CLOSED)";
      case error::h2_frame_size_error: return "HTTP/2 frame size error (FRAME_SIZE_ERROR)";
      case error::h2_cancel: return "the peer cancelled the HTTP/2 stream (CANCEL)";
      case error::h2_compression_error: return "HTTP/2 header compression error (COMPRESSION_ERROR)";
      case error::h2_connect_error: return "HTTP/2 CONNECT error (CONNECT_ERROR)";
      case error::h2_enhance_your_calm: return "the peer asks to slow down (ENHANCE_YOUR_CALM)";
      case error::h2_inadequate_security: return "the peer finds the TLS settings inadequate (INADEQUATE_SECURITY)";
      case error::h2_http_1_1_required: return "the peer requires HTTP/1.1 (HTTP_1_1_REQUIRED)";
    }
    return "unknown h2coal error";
  }
};

}  // namespace detail

/// The category of every h2coal::error value.
inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl instance;
  return instance;
}

inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// Maps an HTTP/2 error code (RFC 9113 section 7) received from a peer to an h2coal error.
inline error from_h2_error_code(std::uint32_t code) noexcept {
  switch (code) {
    case 0x1: return error::h2_protocol_error;
    case 0x2: return error::h2_internal_error;
    case 0x3: return error::h2_flow_control_error;
    case 0x4: return error::h2_settings_timeout;
    case 0x5: return error::h2_stream_closed;
    case 0x6: return error::h2_frame_size_error;
    case 0x7: return error::refused_stream;
    case 0x8: return error::h2_cancel;
    case 0x9: return error::h2_compression_error;
    case 0xa: return error::h2_connect_error;
    case 0xb: return error::h2_enhance_your_calm;
    case 0xc: return error::h2_inadequate_security;
    case 0xd: return error::h2_http_1_1_required;
    default: return error::stream_reset;
  }
}

}  // namespace h2coal

template <>
struct std::is_error_code_enum<h2coal::error> : std::true_type {};
