// tests/integration/test_server_selftest.cpp: the test server (tests/support) checked by a tiny raw client.
//
// The client here is deliberately not h2coal: a bare nghttp2 client session over asio::ssl, so that the
// server can be trusted before it is used to judge the library.
#include "catch.hpp"

#include "support/test_server.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <nghttp2/nghttp2.h>

#include <array>
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
