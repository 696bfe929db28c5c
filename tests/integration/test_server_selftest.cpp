// SPDX-License-Identifier: BSL-1.0
// tests/integration/test_server_selftest.cpp: the test servers (tests/support) checked before they judge.
//
// test_server's client here is deliberately not h2coal: a bare nghttp2 client session over asio::ssl, so
// that the server can be trusted before it is used to judge the library. raw_server's request side (what
// it records and decodes) is checked with h2coal's own requests, whose bytes the client writes by rules
// tested elsewhere, and with hand-written HTTP/1.1 for what h2coal refuses to send.
#include "catch.hpp"

#include "support/client_fixture.hpp"
#include "support/raw_server.hpp"
#include "support/test_server.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace h2coal::test;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct raw_response {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;
  std::uint32_t error_code = 0;  // from the stream's close
};

std::string generated_body(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = test_body_byte(i);
  return s;
}

// A TLS client stream with SNI, verification against the test CA and one ALPN protocol. Reads run
// asynchronously under a deadline so that a broken server fails the test instead of hanging it.
class raw_tls {
 public:
  raw_tls(std::uint16_t port, const std::string& sni, const std::string& ca_file, const std::string& alpn)
      : ctx_(asio::ssl::context::tls_client), stream_(io_, ctx_) {
    ctx_.load_verify_file(ca_file);
    stream_.set_verify_mode(asio::ssl::verify_peer);
    stream_.set_verify_callback(asio::ssl::host_name_verification(sni));
    SSL_set_tlsext_host_name(stream_.native_handle(), sni.c_str());
    const std::string wire = static_cast<char>(alpn.size()) + alpn;
    SSL_set_alpn_protos(stream_.native_handle(), reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
    stream_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    stream_.handshake(asio::ssl::stream_base::client);
  }

  std::string alpn() {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &p, &len);
    return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
  }

  void write(const std::string& bytes) { asio::write(stream_, asio::buffer(bytes)); }

  // Feeds received bytes to `on_data` until `done()` holds, the peer closes, or the deadline passes.
  // Returns false on timeout.
  bool read_until(const std::function<void(const char*, std::size_t)>& on_data,
                  const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    if (done() || eof_) return true;
    std::function<void()> next = [&] {
      stream_.async_read_some(asio::buffer(buf_), [&](const std::error_code& ec, std::size_t n) {
        if (ec) {
          eof_ = true;
          return;
        }
        on_data(buf_.data(), n);
        if (!done()) next();
      });
    };
    next();
    io_.restart();
    io_.run_for(limit);
    const bool finished = io_.stopped();
    if (!finished) {  // deadline: abandon the pending read
      stream_.next_layer().cancel();
      io_.restart();
      io_.run();
    }
    return finished;
  }

  bool eof() const { return eof_; }

 private:
  asio::io_context io_;
  asio::ssl::context ctx_;
  asio::ssl::stream<tcp::socket> stream_;
  std::array<char, 16 * 1024> buf_{};
  bool eof_ = false;
};

// Just enough HTTP/2 client to drive the server: submit GETs (or a POST), pump, look at what came back.
class raw_h2_client {
 public:
  raw_h2_client(std::uint16_t port, const std::string& sni, const std::string& ca_file)
      : tls_(port, sni, ca_file, "h2"), authority_(sni + ":" + std::to_string(port)) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_close);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_ORIGIN);
    nghttp2_session_client_new2(&session_, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~raw_h2_client() { nghttp2_session_del(session_); }
  raw_h2_client(const raw_h2_client&) = delete;
  raw_h2_client& operator=(const raw_h2_client&) = delete;

  std::int32_t get(const std::string& path, std::string authority = {}) {
    if (authority.empty()) authority = authority_;
    std::vector<std::pair<std::string, std::string>> fields{
        {":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", path}};
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : fields) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()),
                    n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    const std::int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), nullptr, nullptr);
    responses[id];
    return id;
  }

  // Pumps until every submitted stream is closed (or `done`), the connection ends, or 10 s pass.
  bool run(std::function<bool()> done = {}) {
    if (!done) {
      done = [this] {
        for (const auto& [id, r] : responses) {
          if (!r.closed) return false;
        }
        return true;
      };
    }
    flush();
    return tls_.read_until(
        [this](const char* data, std::size_t n) {
          nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), n);
          flush();
        },
        done);
  }

  bool eof() const { return tls_.eof(); }
  std::string alpn() { return tls_.alpn(); }

  std::map<std::int32_t, raw_response> responses;
  std::vector<std::vector<std::string>> origin_frames;
  std::optional<std::int32_t> goaway_last_stream_id;

 private:
  void flush() {
    std::string out;
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (!out.empty() && !tls_.eof()) {
      try {
        tls_.write(out);
      } catch (const std::system_error&) {
        // The server may already have closed; the next read reports it.
      }
    }
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& r = static_cast<raw_h2_client*>(user)->responses[frame->hd.stream_id];
    std::string n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") r.status = std::stoi(v);
    r.headers[n] = v;
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                     void* user) {
    static_cast<raw_h2_client*>(user)->responses[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& self = *static_cast<raw_h2_client*>(user);
    if (frame->hd.type == NGHTTP2_ORIGIN) {
      const auto* origin = static_cast<const nghttp2_ext_origin*>(frame->ext.payload);
      std::vector<std::string> entries;
      for (std::size_t i = 0; i < origin->nov; ++i) {
        entries.emplace_back(reinterpret_cast<const char*>(origin->ov[i].origin), origin->ov[i].origin_len);
      }
      self.origin_frames.push_back(std::move(entries));
    } else if (frame->hd.type == NGHTTP2_GOAWAY) {
      self.goaway_last_stream_id = frame->goaway.last_stream_id;
    }
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code, void* user) {
    auto& r = static_cast<raw_h2_client*>(user)->responses[id];
    r.closed = true;
    r.error_code = error_code;
    return 0;
  }

  raw_tls tls_;
  std::string authority_;
  nghttp2_session* session_ = nullptr;
};

server_options tls_options(const test_ca& ca) {
  server_options opts;
  opts.cert = ca.issue({"a.test", "*.b.test"}, {"127.0.0.1"});
  return opts;
}

}  // namespace

TEST_CASE("test server: GET / over h2 reports the routed host and the connection") {
  test_ca ca;
  test_server server(tls_options(ca));
  raw_h2_client client(server.port(), "a.test", ca.ca_file());
  const auto id = client.get("/");
  REQUIRE(client.run());

  CHECK(client.alpn() == "h2");
  const raw_response& r = client.responses[id];
  CHECK(r.status == 200);
  CHECK(r.body == "host=a.test path=/");
  CHECK(r.headers.at("x-routed-host") == "a.test");
  CHECK(r.headers.at("x-connection") == "0");

  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].sni == "a.test");
  CHECK(requests[0].local_address == "127.0.0.1");
  CHECK(requests[0].method == "GET");
  CHECK(requests[0].path == "/");
  CHECK(requests[0].stream_id == id);
  const auto connections = server.connections();
  REQUIRE(connections.size() == 1);
  CHECK(connections[0].alpn == "h2");
  CHECK(connections[0].streams == 1);
}

TEST_CASE("test server: /bytes/N sends the deterministic body, through flow control when large") {
  test_ca ca;
  test_server server(tls_options(ca));
  raw_h2_client client(server.port(), "x.b.test", ca.ca_file());  // the wildcard SAN covers it
  const auto small = client.get("/bytes/1000");
  const auto large = client.get("/bytes/3000000");  // far beyond the 64 KiB initial windows
  REQUIRE(client.run());
  CHECK(client.responses[small].headers["content-length"] == "1000");
  CHECK(client.responses[small].body == generated_body(1000));
  CHECK(client.responses[large].body == generated_body(3000000));
  CHECK(server.max_open_streams() == 2);
}

TEST_CASE("test server: a request for another host than the SNI is misdirected when asked") {
  test_ca ca;
  auto opts = tls_options(ca);
  opts.misdirect_on_mismatch = true;
  test_server server(opts);
  raw_h2_client client(server.port(), "a.test", ca.ca_file());
  const auto same = client.get("/");
  const auto other = client.get("/", "x.b.test");
  REQUIRE(client.run());
  CHECK(client.responses[same].status == 200);
  CHECK(client.responses[other].status == 421);
  CHECK(client.responses[other].body == "misdirected");
}

TEST_CASE("test server: ORIGIN frames follow the server's SETTINGS") {
  test_ca ca;
  auto opts = tls_options(ca);
  SECTION("the same frames on every connection") {
    opts.origin_frames = {{"https://a.test", "https://x.b.test:8443"}, {"https://y.b.test"}};
    test_server server(opts);
    raw_h2_client client(server.port(), "a.test", ca.ca_file());
    client.get("/");
    REQUIRE(client.run());
    REQUIRE(client.origin_frames.size() == 2);
    CHECK(client.origin_frames[0] == std::vector<std::string>{"https://a.test", "https://x.b.test:8443"});
    CHECK(client.origin_frames[1] == std::vector<std::string>{"https://y.b.test"});
  }
  SECTION("frames chosen by SNI") {
    opts.origin_frames_for_sni = [](const std::string& sni) {
      return std::vector<std::vector<std::string>>{{"https://" + sni}};
    };
    test_server server(opts);
    raw_h2_client client(server.port(), "z.b.test", ca.ca_file());
    client.get("/");
    REQUIRE(client.run());
    REQUIRE(client.origin_frames.size() == 1);
    CHECK(client.origin_frames[0] == std::vector<std::string>{"https://z.b.test"});
  }
}

TEST_CASE("test server: GOAWAY after N streams answers those, refuses the rest, then closes") {
  test_ca ca;
  auto opts = tls_options(ca);
  opts.goaway_after_streams = 2;
  test_server server(opts);
  raw_h2_client client(server.port(), "a.test", ca.ca_file());
  const auto first = client.get("/delay/100");  // still open when the third arrives
  const auto second = client.get("/delay/100");
  const auto third = client.get("/");
  REQUIRE(client.run([&] { return client.eof(); }));  // the server closes once 1 and 3 are done

  REQUIRE(client.goaway_last_stream_id == second);
  CHECK(client.responses[first].status == 200);
  CHECK(client.responses[second].status == 200);
  CHECK(client.responses[third].status == 0);
  CHECK(client.responses[third].closed);
  CHECK(client.responses[third].error_code == NGHTTP2_REFUSED_STREAM);
  CHECK(server.requests().size() == 2);
  CHECK(server.connections().at(0).streams == 2);
}

TEST_CASE("test server: HTTP/1.1 over TLS when the client offers only http/1.1") {
  test_ca ca;
  test_server server(tls_options(ca));  // auto_alpn
  raw_tls tls(server.port(), "a.test", ca.ca_file(), "http/1.1");
  CHECK(tls.alpn() == "http/1.1");
  tls.write(
      "GET /bytes/10 HTTP/1.1\r\nHost: a.test\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
      "GET /chunked/10 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
  std::string received;
  REQUIRE(tls.read_until([&](const char* p, std::size_t n) { received.append(p, n); }, [] { return false; }));
  CHECK(tls.eof());

  const std::string first = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n";
  REQUIRE(received.starts_with(first));
  CHECK(received.find("\r\n\r\n" + generated_body(10) + "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n") !=
        std::string::npos);
  CHECK(received.find("\r\n\r\nabcdeHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n") != std::string::npos);
  CHECK(received.find("connection: close\r\n") != std::string::npos);
  const std::string b = generated_body(10);  // /chunked/10 comes as chunks of 3, 3, 3 and 1 bytes
  CHECK(received.ends_with("\r\n\r\n3\r\n" + b.substr(0, 3) + "\r\n3\r\n" + b.substr(3, 3) + "\r\n3\r\n" +
                           b.substr(6, 3) + "\r\n1\r\n" + b.substr(9) + "\r\n0\r\n\r\n"));

  const auto requests = server.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[1].body == "abcde");
  CHECK(requests[2].stream_id == 0);
  CHECK(server.connections().at(0).alpn == "http/1.1");
}

TEST_CASE("test server: destruction does not wait for a stalled handshake") {
  test_ca ca;
  auto opts = tls_options(ca);
  opts.stall_handshake = true;
  asio::io_context io;
  tcp::socket socket(io);
  const auto start = std::chrono::steady_clock::now();
  {
    test_server server(opts);
    socket.connect({asio::ip::make_address("127.0.0.1"), server.port()});
    while (server.connection_count() == 0) std::this_thread::sleep_for(1ms);
  }
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  char byte = 0;
  std::error_code ec;
  socket.read_some(asio::buffer(&byte, 1), ec);  // the server's socket is closed: end of stream
  CHECK(ec == asio::error::eof);
}

// ---- raw_server: what it records of the client's side --------------------------------------------------

namespace {

const std::string h1_ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// The values of every field named `name` (any case), in order.
std::vector<std::string> values(const raw_fields& fields, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : fields)
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      out.push_back(v);
  return out;
}

// Writes `bytes` on a plain TCP connection and reads until the server closes it (10 s at most).
std::string exchange_plain(std::uint16_t port, const std::string& bytes) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(bytes));
  std::string in;
  bool closed = false;
  asio::async_read(socket, asio::dynamic_buffer(in), [&](std::error_code, std::size_t) { closed = true; });
  io.run_for(10s);
  CHECK(closed);
  return in;
}

}  // namespace

TEST_CASE("raw server: an HTTP/2 request's header block is HPACK-decoded, its DATA collected") {
  client_fixture f;
  raw_server_options ro;
  ro.on_request_complete = [](raw_connection& c, const raw_request& r) { c.write(h2::response(r.stream, "ok")); };
  auto server = f.raw({"raw.test"}, ro);
  h2coal::client c(f.io.get_executor(), f.options());
  h2coal::request post;
  post.method = "POST";
  post.url = test_url("raw.test", server->port(), "/upload?x=1");
  post.headers.add("x-custom", "one");
  post.headers.add("x-custom", "two");
  post.body = std::string(40000, 'p');  // three DATA frames at the default 16384-byte frame size
  auto up = f.fetch(c, post);
  // The second block on the connection may refer to the first one's entries (HPACK's dynamic table).
  auto get = f.get(c, test_url("raw.test", server->port(), "/second"));
  REQUIRE_FALSE(up.ec);
  REQUIRE_FALSE(get.ec);
  CHECK(up.resp.body == "ok");

  const auto reqs = server->requests();
  REQUIRE(reqs.size() == 2);
  const auto authority = "raw.test:" + std::to_string(server->port());
  for (const auto& r : reqs) {
    CHECK(r.connection == 0);
    CHECK(r.end_stream);
    REQUIRE(r.fields.size() >= 4);
    CHECK(r.fields[0].first.starts_with(":"));  // RFC 9113 section 8.3: pseudo-headers come first
    CHECK(values(r.fields, ":scheme") == std::vector<std::string>{"https"});
    CHECK(values(r.fields, ":authority") == std::vector<std::string>{authority});
  }
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/upload?x=1");
  CHECK(values(reqs[0].fields, ":method") == std::vector<std::string>{"POST"});
  CHECK(values(reqs[0].fields, ":path") == std::vector<std::string>{"/upload?x=1"});
  CHECK(values(reqs[0].fields, "x-custom") == std::vector<std::string>{"one", "two"});
  CHECK(reqs[0].body == post.body);
  CHECK(reqs[1].method == "GET");
  CHECK(reqs[1].target == "/second");
  CHECK(reqs[1].body.empty());
  CHECK(reqs[1].stream > reqs[0].stream);

  const auto frames = server->frames(0);
  REQUIRE_FALSE(frames.empty());
  CHECK(frames[0].type == h2::type_settings);  // RFC 9113 section 3.4: right after the preface
  std::size_t headers = 0, data = 0, data_bytes = 0;
  for (const auto& fr : frames) {
    headers += fr.type == h2::type_headers;
    if (fr.type == h2::type_data && fr.stream == reqs[0].stream) {
      ++data;
      data_bytes += fr.payload.size();
    }
  }
  CHECK(headers == 2);
  CHECK(data >= 3);
  CHECK(data_bytes == post.body.size());  // h2coal does not pad
}

TEST_CASE("raw server: an HTTP/1.1 chunked POST is de-chunked; request line and fields are parsed") {
  client_fixture f;
  raw_server_options ro;
  ro.protocol = raw_protocol::http1;
  ro.on_request = [](raw_connection& c, const raw_request&) { c.write(h1_ok); };
  auto server = f.raw({"raw.test"}, ro);
  h2coal::client c(f.io.get_executor(), f.http1_options());
  const std::vector<std::string> pieces{"hello ", "chunked ", "world"};
  std::size_t next = 0;
  h2coal::request post;
  post.method = "POST";
  post.url = test_url("raw.test", server->port(), "/upload");
  post.headers.add("X-Custom", "v");
  // No length: HTTP/1.1 sends it chunked.
  post.source = h2coal::body_source{[&](std::span<char> buf, bool& eof) {
                                      const auto& p = pieces[next++];
                                      const auto n = std::min(buf.size(), p.size());
                                      std::copy_n(p.begin(), n, buf.begin());
                                      eof = next == pieces.size();
                                      return n;
                                    },
                                    {},
                                    std::nullopt,
                                    {},
                                    {}};
  auto r = f.fetch(c, post);
  REQUIRE_FALSE(r.ec);
  CHECK(r.resp.status == 200);

  const auto reqs = server->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/upload");
  CHECK(reqs[0].body == "hello chunked world");
  CHECK(reqs[0].end_stream);
  CHECK_FALSE(reqs[0].framing_conflict);
  CHECK(values(reqs[0].fields, "transfer-encoding") == std::vector<std::string>{"chunked"});
  CHECK(values(reqs[0].fields, "content-length").empty());
  CHECK(values(reqs[0].fields, "x-custom") == std::vector<std::string>{"v"});
  CHECK(values(reqs[0].fields, "host") == std::vector<std::string>{"raw.test:" + std::to_string(server->port())});
  // On the wire: the head, then the chunks as sent, ending with the last chunk.
  const auto wire = server->received(0);
  CHECK(wire.starts_with(reqs[0].head));
  CHECK(wire.ends_with("0\r\n\r\n"));
  CHECK(wire.find("hello ") != std::string::npos);
}

TEST_CASE("raw server: received() holds every byte the client sent, in order") {
  client_fixture f;
  SECTION("HTTP/1.1: two requests on one keep-alive connection") {
    raw_server_options ro;
    ro.protocol = raw_protocol::http1;
    ro.on_request = [](raw_connection& c, const raw_request&) { c.write(h1_ok); };
    auto server = f.raw({"raw.test"}, ro);
    h2coal::client c(f.io.get_executor(), f.http1_options());
    REQUIRE(f.get(c, test_url("raw.test", server->port(), "/first")).resp.status == 200);
    h2coal::request post;
    post.method = "POST";
    post.url = test_url("raw.test", server->port(), "/second");
    post.body = "body";
    REQUIRE(f.fetch(c, post).resp.status == 200);
    const auto reqs = server->requests();
    REQUIRE(reqs.size() == 2);
    CHECK(server->connection_count() == 1);
    CHECK(reqs[0].head.starts_with("GET /first HTTP/1.1\r\n"));
    CHECK(server->received(0) == reqs[0].head + reqs[1].head + "body");
    CHECK(server->received(1).empty());  // no such connection
  }
  SECTION("HTTP/2: the preface, then exactly the frames") {
    raw_server_options ro;
    ro.on_request_complete = [](raw_connection& c, const raw_request& r) { c.write(h2::response(r.stream, "ok")); };
    auto server = f.raw({"raw.test"}, ro);
    h2coal::client c(f.io.get_executor(), f.options());
    REQUIRE(f.get(c, test_url("raw.test", server->port())).resp.status == 200);
    // Frames first: the client may still be sending (a SETTINGS ack), and bytes are recorded before
    // they are cut into frames, so the frames so far rebuild a prefix of the bytes so far.
    const auto frames = server->frames(0);
    const auto wire = server->received(0);
    const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    std::string rebuilt = preface;
    for (const auto& fr : frames) rebuilt += h2::frame(fr.type, fr.flags, fr.stream, fr.payload);
    CHECK(wire.starts_with(rebuilt));
    CHECK(std::count_if(frames.begin(), frames.end(), [](const raw_frame& fr) { return fr.type == h2::type_headers; }) == 1);
  }
}

TEST_CASE("raw server: answer_at_head calls on_request before the body, then frames the body whole") {
  for (bool at_head : {true, false}) {
    INFO("answer_at_head " << at_head);
    client_fixture f;
    std::atomic<raw_server*> self{nullptr};
    std::atomic<std::size_t> seen_body{0}, seen_received{0};
    std::atomic<bool> seen_end{true};
    raw_server_options ro;
    ro.protocol = raw_protocol::http1;
    ro.answer_at_head = at_head;
    ro.on_request = [&](raw_connection&, const raw_request& r) {
      if (r.index != 0) return;
      seen_body = r.body.size();
      seen_end = r.end_stream;
      seen_received = self.load()->received(r.connection).size();
    };
    ro.on_request_complete = [](raw_connection& c, const raw_request&) { c.write(h1_ok); };
    auto server = f.raw({"raw.test"}, ro);
    self = server.get();
    h2coal::client c(f.io.get_executor(), f.http1_options());
    // A body full of request heads: a server that looked for the next head inside it would find some.
    std::string body;
    while (body.size() < (1u << 20)) body += "GET /smuggled HTTP/1.1\r\nHost: raw.test\r\n\r\n";
    h2coal::request post;
    post.method = "POST";
    post.url = test_url("raw.test", server->port(), "/upload");
    post.body = body;
    REQUIRE(f.fetch(c, post).resp.status == 200);
    REQUIRE(f.get(c, test_url("raw.test", server->port(), "/next")).resp.status == 200);

    if (at_head) {
      CHECK(seen_body == 0);
      CHECK_FALSE(seen_end);
      // The server had read at most one piece (16 KiB) when it called on_request; the body is 1 MiB.
      CHECK(seen_received < body.size());
    } else {
      CHECK(seen_body == body.size());
      CHECK(seen_end);
    }
    const auto reqs = server->requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].body == body);
    CHECK(reqs[0].end_stream);
    CHECK(reqs[1].target == "/next");
    CHECK(reqs[1].connection == 0);
  }
}

TEST_CASE("raw server: plain TCP (tls = false) for http:// HTTP/1.1 and h2c") {
  client_fixture f;
  raw_server_options ro;
  ro.tls = false;
  SECTION("HTTP/1.1") {
    ro.protocol = raw_protocol::http1;
    ro.on_request = [](raw_connection& c, const raw_request&) { c.write(h1_ok); };
    auto server = f.raw({"plain.test"}, ro);
    h2coal::client c(f.io.get_executor(), f.options());
    auto r = f.get(c, test_url("plain.test", server->port(), "/plain", "http"));
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.body == "ok");
    CHECK(server->received(0).starts_with("GET /plain HTTP/1.1\r\n"));
    REQUIRE(server->requests().size() == 1);
    CHECK(server->requests()[0].target == "/plain");
  }
  SECTION("h2c with prior knowledge") {
    ro.on_request_complete = [](raw_connection& c, const raw_request& r) { c.write(h2::response(r.stream, "ok")); };
    auto server = f.raw({"plain.test"}, ro);
    auto o = f.options();
    o.version = h2coal::http_version::h2_prior_knowledge;
    h2coal::client c(f.io.get_executor(), o);
    auto r = f.get(c, test_url("plain.test", server->port(), "/plain", "http"));
    REQUIRE_FALSE(r.ec);
    CHECK(r.resp.body == "ok");
    CHECK(server->received(0).starts_with("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    REQUIRE(server->requests().size() == 1);
    CHECK(values(server->requests()[0].fields, ":scheme") == std::vector<std::string>{"http"});
  }
}

TEST_CASE("raw server: an HTTP/1.1 head that frames its body two ways is flagged, and parsed by chunks") {
  raw_server_options ro;
  ro.tls = false;
  ro.protocol = raw_protocol::http1;
  ro.on_request_complete = [](raw_connection& c, const raw_request& r) {
    c.write(h1_ok);
    if (r.index == 1) c.close();
  };
  raw_server server(ro);
  std::string first;
  bool conflict = false;
  raw_fields trailers;
  SECTION("Content-Length and Transfer-Encoding") {
    first = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    conflict = true;
  }
  SECTION("Content-Length twice") {
    first = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc";
    conflict = true;
  }
  SECTION("chunked alone, with an extension and a trailer: no conflict") {
    first = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n";
    trailers = {{"X-Trailer", "t"}};
  }
  CHECK(exchange_plain(server.port(), first + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n") == h1_ok + h1_ok);
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].framing_conflict == conflict);
  CHECK(reqs[0].body == "abc");
  CHECK(reqs[0].trailers == trailers);
  CHECK(reqs[1].target == "/next");
  CHECK_FALSE(reqs[1].framing_conflict);
  CHECK(server.received(0) == first + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST_CASE("raw server: HTTP/2 padding, PRIORITY and CONTINUATION are stripped from what it records") {
  raw_server_options ro;
  ro.tls = false;
  std::atomic<std::size_t> seen_fields{0};
  ro.on_request = [&](raw_connection&, const raw_request& r) { seen_fields = r.fields.size(); };
  ro.on_request_complete = [](raw_connection& c, const raw_request& r) {
    c.write(h2::response(r.stream, "ok"));
    c.close();
  };
  raw_server server(ro);
  const std::string block =
      h2::header_block({{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/p"}, {"x-a", "1"}});
  const std::string pad(3, '\0');
  const std::string priority("\x00\x00\x00\x00\x0f", 5);  // no dependency, weight 16
  const auto split = block.size() / 2;
  const std::string wire =
      std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + h2::settings() +
      h2::frame(h2::type_headers, h2::flag_padded | h2::flag_priority, 1,
                std::string(1, '\x03') + priority + block.substr(0, split) + pad) +
      h2::frame(h2::type_continuation, h2::flag_end_headers, 1, block.substr(split)) +
      h2::frame(h2::type_data, h2::flag_padded, 1, std::string(1, '\x03') + "abc" + pad) +
      h2::frame(h2::type_data, h2::flag_end_stream, 1, "de");
  const auto answer = exchange_plain(server.port(), wire);
  CHECK(answer.find(h2::response(1, "ok")) != std::string::npos);
  CHECK(seen_fields == 5);  // on_request waited for END_HEADERS on the CONTINUATION
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].fields == raw_fields{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/p"}, {"x-a", "1"}});
  CHECK(reqs[0].body == "abcde");
  CHECK(reqs[0].end_stream);
  CHECK(server.received(0) == wire);
  CHECK(server.frames(0).size() == 5);
}
