// SPDX-License-Identifier: BSL-1.0
// tests/support/dns_server.cpp: RFC 1035 messages over UDP, one io_context on one thread.
#include "support/dns_server.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

#include <array>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

namespace h2coal::test {

namespace {

using udp = asio::ip::udp;

// RFC 1035 section 4.1.1 header flags and RCODEs; RFC 6891 OPT.
constexpr std::uint16_t flag_qr = 0x8000, flag_aa = 0x0400, flag_rd = 0x0100, flag_ra = 0x0080;
constexpr std::uint8_t rcode_formerr = 1, rcode_servfail = 2, rcode_nxdomain = 3, rcode_notimp = 4, rcode_refused = 5;
constexpr std::uint16_t type_opt = 41, class_in = 1;
constexpr std::size_t header_size = 12, plain_udp_limit = 512, edns_udp_limit = 1232;

std::string lowercase(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string normalize(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return lowercase(std::move(name));
}

class reader {
 public:
  explicit reader(std::string_view b) : b_(b) {}
  bool u8(std::uint8_t& v) {
    if (at_ + 1 > b_.size()) return false;
    v = static_cast<std::uint8_t>(b_[at_++]);
    return true;
  }
  bool u16(std::uint16_t& v) {
    std::uint8_t hi = 0, lo = 0;
    if (!u8(hi) || !u8(lo)) return false;
    v = static_cast<std::uint16_t>(hi << 8 | lo);
    return true;
  }
  bool u32(std::uint32_t& v) {
    std::uint16_t hi = 0, lo = 0;
    if (!u16(hi) || !u16(lo)) return false;
    v = static_cast<std::uint32_t>(hi) << 16 | lo;
    return true;
  }
  bool skip(std::size_t n) {
    if (at_ + n > b_.size()) return false;
    at_ += n;
    return true;
  }
  // RFC 1035 section 3.1 / 4.1.4: labels of 1..63 bytes ending in the root label, at most 255 bytes on the
  // wire. A question never needs compression, so a pointer (or the reserved 01/10 label types) is refused.
  bool name(std::string& out) {
    out.clear();
    std::size_t wire = 0;
    while (true) {
      std::uint8_t len = 0;
      if (!u8(len)) return false;
      ++wire;
      if (len == 0) break;
      if (len & 0xc0) return false;
      if (len > 63 || at_ + len > b_.size()) return false;
      wire += len;
      if (wire > 255) return false;
      if (!out.empty()) out += '.';
      out.append(b_.substr(at_, len));
      at_ += len;
    }
    return wire <= 255;
  }
  std::size_t offset() const { return at_; }
  bool at_end() const { return at_ == b_.size(); }

 private:
  std::string_view b_;
  std::size_t at_ = 0;
};

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

std::string header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an, std::uint16_t ar) {
  std::string h;
  put16(h, id);
  put16(h, flags);
  put16(h, qd);
  put16(h, an);
  put16(h, 0);
  put16(h, ar);
  return h;
}

// An OPT pseudo-record (RFC 6891 section 6.1.2): root name, our UDP payload size, version 0, no options.
std::string opt_record() {
  std::string r(1, '\0');
  put16(r, type_opt);
  put16(r, static_cast<std::uint16_t>(edns_udp_limit));
  put32(r, 0);
  put16(r, 0);
  return r;
}

}  // namespace

namespace detail {

class dns_core {
 public:
  explicit dns_core(const std::string& address)
      : socket_(io_, udp::endpoint(asio::ip::make_address(address), 0)) {
    receive();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~dns_core() {
    io_.stop();
    thread_.join();
  }

  udp::endpoint local() const { return socket_.local_endpoint(); }

  void set(const std::string& name, dns_records r) {
    std::lock_guard<std::mutex> lock(mutex_);
    table_[normalize(name)] = std::move(r);
  }
  void set_mode(const std::string& name, dns_mode m) {
    std::lock_guard<std::mutex> lock(mutex_);
    table_[normalize(name)].mode = m;
  }
  void remove(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    table_.erase(normalize(name));
  }
  std::size_t queries(const std::string& name, std::optional<std::uint16_t> type) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t n = 0;
    for (const auto& [k, count] : counts_)
      if ((name.empty() || k.first == normalize(name)) && (!type || k.second == *type)) n += count;
    return n;
  }
  std::size_t malformed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return malformed_;
  }

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buffer_), peer_, [this](std::error_code ec, std::size_t n) {
      if (ec == asio::error::operation_aborted || !socket_.is_open()) return;
      if (!ec) {
        auto reply = answer(std::string_view(buffer_.data(), n));
        if (!reply.empty()) socket_.send_to(asio::buffer(reply), peer_, 0, ec);
      }
      receive();
    });
  }

  std::string formerr(std::uint16_t id, std::uint16_t flags) {
    ++malformed_;
    return header(id, static_cast<std::uint16_t>(flag_qr | (flags & 0x7800) | rcode_formerr), 0, 0, 0);
  }

  // One query in, one reply out ("" to stay silent).
  std::string answer(std::string_view msg) {
    std::lock_guard<std::mutex> lock(mutex_);
    reader in(msg);
    std::uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
    if (!in.u16(id) || !in.u16(flags) || !in.u16(qd) || !in.u16(an) || !in.u16(ns) || !in.u16(ar)) {
      ++malformed_;
      return {};  // not even a header: nobody to answer
    }
    if (flags & flag_qr) {
      ++malformed_;
      return {};  // a response sent to a server
    }
    const std::uint16_t opcode = (flags >> 11) & 0xf;
    if (opcode != 0) {
      ++malformed_;
      return header(id, static_cast<std::uint16_t>(flag_qr | (flags & 0x7800) | rcode_notimp), 0, 0, 0);
    }
    if (qd != 1 || an != 0 || ns != 0 || ar > 1) return formerr(id, flags);
    std::string qname;
    std::uint16_t qtype = 0, qclass = 0;
    if (!in.name(qname) || !in.u16(qtype) || !in.u16(qclass)) return formerr(id, flags);
    const std::size_t question_end = in.offset();
    bool edns = false;
    if (ar == 1) {
      // RFC 6891 section 6.1.2: the OPT record, root-named, version 0, its options well-formed.
      std::string root;
      std::uint16_t type = 0, payload = 0, rdlen = 0;
      std::uint32_t ext = 0;
      if (!in.name(root) || !root.empty() || !in.u16(type) || type != type_opt || !in.u16(payload) ||
          !in.u32(ext) || ((ext >> 16) & 0xff) != 0 || !in.u16(rdlen))
        return formerr(id, flags);
      std::size_t left = rdlen;
      while (left > 0) {
        std::uint16_t code = 0, len = 0;
        if (left < 4 || !in.u16(code) || !in.u16(len) || left - 4 < len || !in.skip(len)) return formerr(id, flags);
        left -= 4u + len;
      }
      edns = true;
    }
    if (!in.at_end() || qclass != class_in) return formerr(id, flags);

    const std::string name = normalize(qname);
    ++counts_[{name, qtype}];
    auto it = table_.find(name);
    std::uint8_t rcode = 0;
    std::vector<std::string> rdata;
    std::uint32_t ttl = 0;
    if (it == table_.end()) {
      rcode = rcode_nxdomain;
    } else {
      const auto& r = it->second;
      switch (r.mode) {
        case dns_mode::silent: return {};
        case dns_mode::nxdomain: rcode = rcode_nxdomain; break;
        case dns_mode::servfail: rcode = rcode_servfail; break;
        case dns_mode::refused: rcode = rcode_refused; break;
        case dns_mode::hold_aaaa:
          if (qtype == static_cast<std::uint16_t>(dns_type::aaaa)) return {};
          [[fallthrough]];
        case dns_mode::answer:
          if (qtype == static_cast<std::uint16_t>(dns_type::a)) {
            ttl = r.ttl;
            for (const auto& a : r.a) {
              const auto b = asio::ip::make_address_v4(a).to_bytes();
              rdata.emplace_back(b.begin(), b.end());
            }
          } else if (qtype == static_cast<std::uint16_t>(dns_type::aaaa)) {
            ttl = r.aaaa_ttl.value_or(r.ttl);
            for (const auto& a : r.aaaa) {
              const auto b = asio::ip::make_address_v6(a).to_bytes();
              rdata.emplace_back(b.begin(), b.end());
            }
          }
          break;
      }
    }

    // Answers while they fit (RFC 1035 section 4.2.1: 512 bytes without EDNS; TC when some did not).
    const std::size_t limit = edns ? edns_udp_limit : plain_udp_limit;
    const std::string question(msg.substr(header_size, question_end - header_size));
    const std::string opt = edns ? opt_record() : std::string();
    std::string records;
    std::uint16_t count = 0;
    bool truncated = false;
    for (const auto& d : rdata) {
      std::string rr;
      put16(rr, static_cast<std::uint16_t>(0xc000 | header_size));  // the name: a pointer to the question's
      put16(rr, qtype);
      put16(rr, class_in);
      put32(rr, ttl);
      put16(rr, static_cast<std::uint16_t>(d.size()));
      rr += d;
      if (header_size + question.size() + records.size() + rr.size() + opt.size() > limit) {
        truncated = true;
        break;
      }
      records += rr;
      ++count;
    }
    std::uint16_t out_flags = static_cast<std::uint16_t>(flag_qr | flag_aa | (flags & flag_rd) | flag_ra | rcode);
    if (truncated) out_flags |= 0x0200;
    return header(id, out_flags, 1, count, edns ? 1 : 0) + question + records + opt;
  }

  asio::io_context io_;
  udp::socket socket_;
  udp::endpoint peer_;
  std::array<char, 65536> buffer_{};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, dns_records> table_;
  std::map<std::pair<std::string, std::uint16_t>, std::size_t> counts_;
  std::size_t malformed_ = 0;
};

}  // namespace detail

dns_server::dns_server(const std::string& address) : core_(std::make_unique<detail::dns_core>(address)) {}

dns_server::~dns_server() = default;

std::string dns_server::address() const { return core_->local().address().to_string(); }

std::uint16_t dns_server::port() const { return core_->local().port(); }

std::string dns_server::servers() const {
  const auto e = core_->local();
  const std::string a = e.address().to_string();
  return (e.address().is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(e.port());
}

void dns_server::set(const std::string& name, dns_records records) { core_->set(name, std::move(records)); }

void dns_server::set_mode(const std::string& name, dns_mode mode) { core_->set_mode(name, mode); }

void dns_server::remove(const std::string& name) { core_->remove(name); }

std::size_t dns_server::queries(const std::string& name, dns_type type) const {
  return core_->queries(name, static_cast<std::uint16_t>(type));
}

std::size_t dns_server::queries(const std::string& name) const { return core_->queries(name, std::nullopt); }

std::size_t dns_server::total_queries() const { return core_->queries("", std::nullopt); }

std::size_t dns_server::malformed() const { return core_->malformed(); }

}  // namespace h2coal::test
