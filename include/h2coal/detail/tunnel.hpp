// SPDX-License-Identifier: BSL-1.0
// h2coal/detail/tunnel.hpp: the proxy handshakes that open a tunnel, as byte codecs (DESIGN section 13).
//
// HTTP CONNECT (RFC 9110 section 9.3.6) and SOCKS5 (RFC 1928, with RFC 1929 user/password). As the HTTP
// engines, they do no I/O: the dialer sends what take_output() gives, reads at most read_limit() bytes
// and feeds them in, until the tunnel is open or failed. Nothing the proxy sends beyond its answer is
// accepted: the origin's TLS (or h2c) client speaks first, so such bytes are a broken proxy.
#pragma once

#include <h2coal/error.hpp>

#include <llhttp.h>
#include <openssl/evp.h>

#include <asio/ip/address.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace h2coal::detail {

class tunnel_protocol {
 public:
  enum class status { more, open, failed };

  virtual ~tunnel_protocol() = default;
  /// Bytes to send before reading again (empty: none now).
  virtual std::string take_output() = 0;
  /// The most the next read may take: never past the end of the proxy's answer where its length is known.
  virtual std::size_t read_limit() const = 0;
  /// Takes bytes the proxy sent (at most read_limit()).
  virtual status feed(std::string_view in) = 0;
  /// The proxy closed the connection before the tunnel was open.
  virtual void closed() { fail(error::proxy_protocol_error, "the proxy closed the connection during the handshake"); }

  std::error_code error() const noexcept { return error_; }
  /// What a person should read beside the error ("CONNECT answered 403 Forbidden").
  const std::string& detail() const noexcept { return detail_; }
  /// CONNECT's status, or the SOCKS5 reply code; -1 before the proxy answered.
  int reply() const noexcept { return reply_; }

 protected:
  status fail(std::error_code ec, std::string detail) {
    error_ = ec;
    detail_ = std::move(detail);
    return status::failed;
  }

  std::error_code error_;
  std::string detail_;
  int reply_ = -1;
};

inline std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

/// "Basic base64(user:password)" (RFC 7617), for Proxy-Authorization.
inline std::string basic_credentials(std::string_view user, std::string_view password) {
  std::string pair;
  pair.reserve(user.size() + 1 + password.size());
  pair.append(user).append(":").append(password);
  return "Basic " + base64(pair);
}

/// host:port as an authority: brackets around an IPv6 literal (RFC 9110 section 9.3.6 authority-form).
inline std::string authority_form(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) out.append("[").append(host).append("]");
  else out.append(host);
  return out.append(":").append(std::to_string(port));
}

// ---- HTTP CONNECT ----
class http_connect final : public tunnel_protocol {
 public:
  /// The proxy's answer head may not be longer than this (an endless header is a broken proxy).
  static constexpr std::size_t max_head = 64 * 1024;

  http_connect(std::string_view host, std::uint16_t port, std::string_view proxy_authorization) {
    const std::string target = authority_form(host, port);
    out_.reserve(128 + proxy_authorization.size());
    out_.append("CONNECT ").append(target).append(" HTTP/1.1\r\nHost: ").append(target).append("\r\n");
    if (!proxy_authorization.empty()) out_.append("Proxy-Authorization: ").append(proxy_authorization).append("\r\n");
    out_.append("User-Agent: h2coal/" H2COAL_VERSION_STRING "\r\nProxy-Connection: Keep-Alive\r\n\r\n");
    llhttp_settings_init(&settings_);
    settings_.on_status = &http_connect::on_status;
    settings_.on_headers_complete = &http_connect::on_headers_complete;
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
  }

  http_connect(const http_connect&) = delete;
  http_connect& operator=(const http_connect&) = delete;

  std::string take_output() override { return std::exchange(out_, std::string{}); }
  std::size_t read_limit() const override { return 4096; }

  status feed(std::string_view in) override {
    seen_ += in.size();
    const llhttp_errno_t e = llhttp_execute(&parser_, in.data(), in.size());
    if (e == HPE_PAUSED_UPGRADE) {  // the head is complete (on_headers_complete returned 2)
      const char* stop = llhttp_get_error_pos(&parser_);
      const std::size_t used = stop ? static_cast<std::size_t>(stop - in.data()) : in.size();
      reply_ = status_;
      if (status_ == 407)
        return fail(error::proxy_auth_required, "CONNECT tunnel failed, response 407" + reason_suffix());
      if (status_ < 200 || status_ > 299)
        return fail(error::proxy_tunnel_failed, "CONNECT tunnel failed, response " + std::to_string(status_) + reason_suffix());
      if (used < in.size())
        return fail(error::proxy_protocol_error, "the proxy sent bytes after its CONNECT answer");
      return status::open;
    }
    if (e != HPE_OK) {
      const char* why = llhttp_get_error_reason(&parser_);
      return fail(error::proxy_protocol_error, std::string("malformed CONNECT answer: ") + (why ? why : llhttp_errno_name(e)));
    }
    if (seen_ > max_head) return fail(error::proxy_protocol_error, "the proxy's CONNECT answer head is too long");
    return status::more;
  }

 private:
  std::string reason_suffix() const { return reason_.empty() ? std::string{} : " " + reason_; }

  static int on_status(llhttp_t* p, const char* at, std::size_t len) {
    auto& self = *static_cast<http_connect*>(p->data);
    const std::size_t room = 128 - std::min<std::size_t>(128, self.reason_.size());
    self.reason_.append(at, std::min(len, room));
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    auto& self = *static_cast<http_connect*>(p->data);
    const int st = llhttp_get_status_code(p);
    if (st >= 100 && st < 200) {  // an interim answer: the final one follows
      self.reason_.clear();
      return 1;
    }
    self.status_ = st;
    return 2;  // no body is read: stop here (HPE_PAUSED_UPGRADE)
  }

  std::string out_;
  llhttp_settings_t settings_{};
  llhttp_t parser_{};
  std::size_t seen_ = 0;
  int status_ = 0;
  std::string reason_;
};

// ---- SOCKS5 (RFC 1928) with username/password (RFC 1929) ----
class socks5_connect final : public tunnel_protocol {
 public:
  /// `address` set: socks5 (the client resolved the host); else socks5h (the proxy resolves `host`).
  socks5_connect(std::string host, std::uint16_t port, std::optional<asio::ip::address> address, std::string user,
                 std::string password)
      : host_(std::move(host)), port_(port), address_(address), user_(std::move(user)), password_(std::move(password)) {
    // Greeting (RFC 1928 section 3): version 5, the methods: no authentication, and user/password when we
    // have credentials.
    out_.push_back('\x05');
    if (user_.empty()) out_.append("\x01\x00", 2);
    else out_.append("\x02\x00\x02", 3);
    need_ = 2;
  }

  std::string take_output() override { return std::exchange(out_, std::string{}); }
  std::size_t read_limit() const override { return need_ - in_.size(); }

  status feed(std::string_view in) override {
    in_.append(in);
    // One stage per complete piece; the reply's bound address only lengthens what is awaited.
    while (in_.size() >= need_) {
      const auto* b = reinterpret_cast<const unsigned char*>(in_.data());
      switch (stage_) {
        case stage::method:
          if (b[0] != 5) return fail(error::proxy_protocol_error, "not a SOCKS5 proxy (version " + std::to_string(b[0]) + ")");
          if (b[1] == 0x00) return send_request();
          if (b[1] == 0x02 && !user_.empty()) return send_credentials();
          if (b[1] == 0xff)
            return fail(error::proxy_auth_required, user_.empty() ? "the SOCKS5 proxy requires authentication"
                                                                  : "the SOCKS5 proxy accepts none of the offered methods");
          return fail(error::proxy_protocol_error, "the SOCKS5 proxy chose a method not offered");
        case stage::auth:
          // RFC 1929 section 2: version 1, status 0 = success.
          if (b[0] != 1) return fail(error::proxy_protocol_error, "malformed SOCKS5 authentication reply");
          if (b[1] != 0) return fail(error::proxy_auth_required, "the SOCKS5 proxy refused the user name or password");
          return send_request();
        case stage::reply_head:
          if (b[0] != 5) return fail(error::proxy_protocol_error, "malformed SOCKS5 reply");
          reply_ = b[1];
          if (b[1] != 0) return fail(reply_error(b[1]), "SOCKS5 reply " + std::to_string(b[1]));
          // The bound address follows: its length depends on its type.
          switch (b[3]) {
            case 0x01: need_ += 4 + 2; stage_ = stage::reply_rest; break;
            case 0x04: need_ += 16 + 2; stage_ = stage::reply_rest; break;
            case 0x03: need_ += 1; stage_ = stage::reply_name_length; break;
            default: return fail(error::proxy_protocol_error, "SOCKS5 reply with an unknown address type");
          }
          break;
        case stage::reply_name_length:
          need_ += static_cast<std::size_t>(b[4]) + 2;
          stage_ = stage::reply_rest;
          break;
        case stage::reply_rest:
          if (in_.size() > need_) return fail(error::proxy_protocol_error, "the proxy sent bytes after its SOCKS5 reply");
          return status::open;
      }
    }
    return status::more;
  }

 private:
  enum class stage { method, auth, reply_head, reply_name_length, reply_rest };

  status send_credentials() {
    if (user_.size() > 255 || password_.size() > 255)
      return fail(error::proxy_auth_required, "SOCKS5 user names and passwords are at most 255 bytes");
    out_.push_back('\x01');
    out_.push_back(static_cast<char>(user_.size()));
    out_.append(user_);
    out_.push_back(static_cast<char>(password_.size()));
    out_.append(password_);
    next(stage::auth, 2);
    return status::more;
  }

  status send_request() {
    out_.append("\x05\x01\x00", 3);  // version, CONNECT, reserved
    if (address_ && address_->is_v4()) {
      out_.push_back('\x01');
      const auto bytes = address_->to_v4().to_bytes();
      out_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    } else if (address_) {
      out_.push_back('\x04');
      const auto bytes = address_->to_v6().to_bytes();
      out_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    } else {
      if (host_.empty() || host_.size() > 255) return fail(error::socks_address_not_supported, "host names sent to a SOCKS5 proxy are 1 to 255 bytes");
      out_.push_back('\x03');
      out_.push_back(static_cast<char>(host_.size()));
      out_.append(host_);
    }
    out_.push_back(static_cast<char>(port_ >> 8));
    out_.push_back(static_cast<char>(port_ & 0xff));
    next(stage::reply_head, 4);  // version, reply, reserved, address type; the address follows
    return status::more;
  }

  void next(stage s, std::size_t need) {
    stage_ = s;
    in_.clear();
    need_ = need;
  }

  static h2coal::error reply_error(unsigned code) {
    switch (code) {
      case 1: return error::socks_general_failure;
      case 2: return error::socks_not_allowed;
      case 3: return error::socks_network_unreachable;
      case 4: return error::socks_host_unreachable;
      case 5: return error::socks_connection_refused;
      case 6: return error::socks_ttl_expired;
      case 7: return error::socks_command_not_supported;
      default: return error::socks_address_not_supported;
    }
  }

  std::string host_;
  std::uint16_t port_;
  std::optional<asio::ip::address> address_;
  std::string user_, password_;
  std::string out_;
  std::string in_;
  std::size_t need_ = 0;
  stage stage_ = stage::method;
};

}  // namespace h2coal::detail
