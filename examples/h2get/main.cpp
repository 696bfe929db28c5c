// SPDX-License-Identifier: BSL-1.0
// examples/h2get/main.cpp: h2get, a curl-like client on h2coal that shows which connection carried
// each request, and why (DESIGN section 7).
//
//   h2get [options...] <url>...      (h2get --help lists the options)
//
// Every URL runs on one h2coal::client, one after another or all at once with -Z. Bodies are held until
// their response is complete (a 421 retry must not mix two answers) and written in URL order. The trace
// hook feeds -v (text), --trace (JSON lines) and --graph (DOT) from the same events.
#include "cli.hpp"
#include "digest.hpp"
#include "exit_codes.hpp"
#include "names_and_trust.hpp"
#include "form.hpp"
#include "graph.hpp"
#include "multipart.hpp"
#include "output.hpp"
#include "progress.hpp"
#include "proxy_options.hpp"
#include "write_out.hpp"

#include <h2coal/h2coal.hpp>
#if defined(H2COAL_HAS_CARES)
#include <h2coal/cares_resolver.hpp>
#endif

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using namespace h2get;

// ---- Errors: one line each, "h2get: (code) message" ----

struct reporter {
  bool quiet = false;  // -s without -S
  progress_meter* meter = nullptr;

  void error(const failure& f) const {
    if (quiet) return;
    if (meter) meter->interrupt();
    std::cerr << "h2get: (" << f.code << ") " << f.message << "\n";
  }
  void warning(const std::string& text) const {
    if (quiet) return;
    if (meter) meter->interrupt();
    std::cerr << "h2get: warning: " << text << "\n";
  }
};

std::string lowercase(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// curl's exit 59 comes before anything is sent: the --ciphers or --tls13-ciphers list OpenSSL cannot use
// (none of its names known), or nothing when both are usable or empty.
std::optional<std::string> unusable_cipher_list(const std::string& tls12, const std::string& tls13) {
  if (tls12.empty() && tls13.empty()) return std::nullopt;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  std::optional<std::string> bad;
  if (!ctx) bad = tls12.empty() ? tls13 : tls12;
  else if (!tls12.empty() && SSL_CTX_set_cipher_list(ctx.get(), tls12.c_str()) != 1) bad = tls12;
  else if (!tls13.empty() && SSL_CTX_set_ciphersuites(ctx.get(), tls13.c_str()) != 1) bad = tls13;
  ERR_clear_error();
  return bad;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::chrono::milliseconds to_ms(double seconds) {
  auto ms = static_cast<long long>(std::ceil(seconds * 1000.0));
  if (seconds > 0 && ms == 0) ms = 1;
  return std::chrono::milliseconds(ms);
}

// curl's --pinnedpubkey hashes: "sha256//" and the base64 of 32 bytes (44 characters), ';'-separated.
bool valid_pins(const std::string& text) {
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(';', start);
    const std::string one = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    constexpr std::string_view prefix = "sha256//";
    if (one.size() != prefix.size() + 44 || one.compare(0, prefix.size(), prefix) != 0 || one.back() != '=') return false;
    for (std::size_t i = prefix.size(); i + 1 < one.size(); ++i) {
      const char c = one[i];
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/')) return false;
    }
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

// ---- The request every URL gets: method, headers, body from -X, -H, -d, -I ----

struct request_template {
  std::string method = "GET";
  h2coal::fields headers;
  std::optional<std::string> authority;  // -H 'Host: x'
  std::string body;
  std::string query;                     // -G: the data, for every URL's query
  std::string upload;                    // -T FILE ("-": stdin), streamed
  std::vector<stored_cookie> cookies;    // -b FILE: matched per URL
  std::shared_ptr<multipart_body> form;  // -F
};

std::optional<std::string> read_stdin() {
  std::string all(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return std::nullopt;
  return all;
}

// One -d, --data-binary, --data-raw or --data-urlencode argument, as curl reads it.
std::optional<failure> data_piece(const command_line::data_part& part, std::string& out) {
  using kind = command_line::data_part::kind;
  auto load = [](const std::string& path, std::string& content) -> std::optional<failure> {
    auto c = path == "-" ? read_stdin() : read_file(path);
    if (!c) return failure{exit_code::read_error, "could not read data from file '" + path + "'"};
    content = std::move(*c);
    return std::nullopt;
  };
  const std::string& v = part.value;
  if (part.how == kind::raw || ((part.how == kind::ascii || part.how == kind::binary) && (v.empty() || v.front() != '@'))) {
    out = v;
    return std::nullopt;
  }
  if (part.how == kind::ascii || part.how == kind::binary) {
    if (auto f = load(v.substr(1), out)) return f;
    if (part.how == kind::ascii) std::erase_if(out, [](char c) { return c == '\r' || c == '\n'; });
    return std::nullopt;
  }
  // --data-urlencode: "content", "=content", "name=content", "@file", "name@file" (curl's manual).
  const auto eq = v.find('='), at = v.find('@');
  std::string name, content;
  if (eq != std::string::npos && (at == std::string::npos || eq < at)) {
    name = v.substr(0, eq);
    content = v.substr(eq + 1);
  } else if (at != std::string::npos) {
    name = v.substr(0, at);
    if (auto f = load(v.substr(at + 1), content)) return f;
  } else {
    content = v;
  }
  out = name.empty() ? url_encode(content) : name + "=" + url_encode(content);
  return std::nullopt;
}

std::optional<failure> build_request_template(const command_line& cl, request_template& rt) {
  // Body: the data options, in order, joined with '&' (curl's -d reads @FILE without CR and LF).
  const bool has_data = !cl.data.empty();
  std::string data;
  for (std::size_t i = 0; i < cl.data.size(); ++i) {
    std::string piece;
    if (auto f = data_piece(cl.data[i], piece)) return f;
    if (i) data += '&';
    data += piece;
  }
  if (cl.get) rt.query = std::move(data);
  else rt.body = std::move(data);
  const bool posts = has_data && !cl.get;
  if (!cl.form.empty()) {
    if (posts || !cl.upload_file.empty() || cl.head || cl.get)
      return failure{exit_code::usage, "you can only select one HTTP request method (-F or " +
                                           std::string(cl.head ? "-I" : cl.get ? "-G" : posts ? "-d" : "-T") + ")"};
    rt.form = std::make_shared<multipart_body>();
    for (const auto& part : cl.form) {
      std::string problem;
      if (!rt.form->add(part, problem))
        return failure{part.find('=') == std::string::npos ? exit_code::usage : exit_code::read_error, problem};
    }
  }
  rt.upload = cl.upload_file;
  if (cl.head && posts) return failure{exit_code::usage, "you can only select one HTTP request method (-I or -d)"};
  if (!rt.upload.empty() && (posts || cl.head))
    return failure{exit_code::usage, "you can only select one HTTP request method (-T or " + std::string(cl.head ? "-I" : "-d") + ")"};
  rt.method = !cl.method.empty() ? cl.method : cl.head ? "HEAD" : !rt.upload.empty() ? "PUT" : posts || rt.form ? "POST" : "GET";
  if (!h2coal::detail::is_token(rt.method))
    return failure{exit_code::usage, "-X: '" + cl.method + "' is not a valid HTTP method"};

  // Headers: defaults first, like curl's User-Agent and Accept; -H "Name:" removes one, "Name;" sends it empty.
  std::vector<std::pair<std::string, std::string>> list;
  if (!cl.user_agent) list.emplace_back("user-agent", "h2get/" H2COAL_VERSION_STRING);
  else if (!cl.user_agent->empty()) list.emplace_back("user-agent", *cl.user_agent);  // -A "": none, as curl
  list.emplace_back("accept", "*/*");
  if (cl.referer) {
    std::string r = *cl.referer;
    if (auto semi = r.rfind(";auto"); semi != std::string::npos && semi + 5 == r.size()) r.resize(semi);
    if (!r.empty()) list.emplace_back("referer", r);
  }
  if (cl.user) {
    // -u user:password (Basic, RFC 7617); without a colon curl would prompt: the password is empty here.
    const std::string pair = cl.user->find(':') == std::string::npos ? *cl.user + ":" : *cl.user;
    list.emplace_back("authorization", "Basic " + base64(pair));
  }
  if (cl.cookie) {
    // -b: "name=value[; ...]" is sent as it is; anything else is a cookie file (one that is missing sends none).
    if (cl.cookie->find('=') != std::string::npos) list.emplace_back("cookie", *cl.cookie);
    else rt.cookies = read_cookie_file(*cl.cookie);
  }
  if (posts) list.emplace_back("content-type", "application/x-www-form-urlencoded");
  if (rt.form) list.emplace_back("content-type", rt.form->content_type());
  if (cl.range && !cl.continue_at) list.emplace_back("range", "bytes=" + *cl.range);
  for (const auto& h : cl.headers) {
    auto colon = h.find(':', !h.empty() && h.front() == ':' ? 1 : 0);  // ":authority: x" as curl takes it
    bool remove = false, empty_value = false;
    std::string name, value;
    if (colon == std::string::npos) {
      if (!h.empty() && h.back() == ';') {
        name = h.substr(0, h.size() - 1);
        empty_value = true;
      } else {
        return failure{exit_code::usage, "-H: '" + h + "' is not \"Name: value\""};
      }
    } else {
      name = h.substr(0, colon);
      value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      remove = value.empty();
    }
    const std::string key = lowercase(name);
    if (key != ":authority" && !h2coal::detail::is_token(name))
      return failure{exit_code::usage, "-H: '" + name + "' is not a valid header name"};
    if (key == "host" || key == ":authority") {
      // curl's -H 'Host: x': another authority than the URL's (request::authority); routed by the URL and
      // never coalesced (DESIGN section 10). "Host:" alone goes back to the URL's.
      if (remove || empty_value) rt.authority.reset();
      else if (!h2coal::detail::is_authority(value)) return failure{exit_code::usage, "-H: '" + value + "' is not a valid Host"};
      else rt.authority = value;
      continue;
    }
    if (key == "content-length" || key == "te")
      return failure{exit_code::usage, "-H: '" + name + "' frames the message; h2coal sets it from the body itself"};
    if (h2coal::detail::is_connection_specific(key))
      return failure{exit_code::usage, "-H: '" + name + "' is a connection-specific header h2coal manages itself"};
    if (!h2coal::detail::is_field_value(value)) return failure{exit_code::usage, "-H: the value of '" + name + "' has a forbidden character"};
    // A user header replaces a default of the same name (curl's rule), and later -H add to earlier ones.
    std::erase_if(list, [&](const auto& f) {
      return f.first == key && (f.first == "user-agent" || f.first == "accept" || f.first == "content-type" ||
                                f.first == "referer" || f.first == "authorization" || f.first == "cookie");
    });
    if (remove) continue;
    list.emplace_back(name, empty_value ? std::string() : value);
  }
  for (auto& [n, v] : list) rt.headers.add(n, v);
  return std::nullopt;
}

// ---- One URL ----

struct transfer {
  std::size_t index = 0;
  std::string url;             // as sent (a scheme-less URL gets http://, as curl does)
  std::string output;          // a file, or "" for stdout
  std::unique_ptr<body_output> out;  // where the body goes as it arrives (made when the response starts)
  std::unique_ptr<sha256_stream> digest;  // --probe: the body's SHA-256, as it streamed past
  std::string body_digest;     // ... once complete
  std::unique_ptr<asio::cancellation_signal> cancel;  // a write that failed ends the transfer
  failure local;               // h2get's own reason to have ended it (write error, --max-filesize)
  bool discard = false;        // -f and an HTTP error: nothing is written
  std::uint64_t received = 0;  // body bytes
  bool remote_named = false;   // -O (or --remote-name-all) named its file: -J may rename it
  std::string name_problem;    // -O and a URL without a file name: the transfer fails (23)
  std::uint64_t resume_from = 0;  // -C: the byte the body starts at
  std::unique_ptr<asio::steady_timer> pace;  // --limit-rate: resumes the paused body
  std::chrono::steady_clock::time_point first_byte{};
  std::error_code ec;
  h2coal::response resp;
  bool started = false;        // async_request called
  bool done = false;
  failure result;
  std::size_t connections_at_end = 0;
};

// -O: the file name is the last segment of the URL's path (no query, no fragment), as curl 7.88 takes it.
std::string remote_file_name(const std::string& url) {
  std::string rest = url;
  if (auto p = rest.find("://"); p != std::string::npos) rest = rest.substr(p + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const auto slash = rest.find('/');
  if (slash == std::string::npos) return {};
  const std::string path = rest.substr(slash);
  return path.substr(path.rfind('/') + 1);
}

// -J: the file name of a Content-Disposition field (RFC 6266 `filename`, quoted or a token), its last
// segment only: a name with a path in it never leaves the output folder. Empty when there is none.
std::string disposition_file_name(std::string_view value) {
  std::size_t pos = 0;
  while ((pos = value.find("filename", pos)) != std::string_view::npos) {
    const bool starts_param = pos == 0 || value[pos - 1] == ';' || value[pos - 1] == ' ' || value[pos - 1] == '\t';
    std::size_t p = pos + 8;
    pos = p;
    if (!starts_param) continue;
    while (p < value.size() && (value[p] == ' ' || value[p] == '\t')) ++p;
    if (p >= value.size() || value[p] != '=') continue;  // filename*= (RFC 5987) is not taken, as curl
    ++p;
    while (p < value.size() && (value[p] == ' ' || value[p] == '\t')) ++p;
    std::string name;
    if (p < value.size() && value[p] == '"') {
      for (++p; p < value.size() && value[p] != '"'; ++p) {
        if (value[p] == '\\' && p + 1 < value.size()) ++p;
        name += value[p];
      }
    } else {
      while (p < value.size() && value[p] != ';' && value[p] != ' ' && value[p] != '\t') name += value[p++];
    }
    const auto cut = name.find_last_of("/\\");
    if (cut != std::string::npos) name.erase(0, cut + 1);
    if (name == "." || name == "..") name.clear();
    return name;
  }
  return {};
}

struct probe_result {
  std::size_t index = 0;
  std::error_code ec;
  h2coal::response resp;
};

// ---- The run: one client, every URL, then the probe ----

class session {
 public:
  session(asio::io_context& io, const command_line& cl, request_template rt, h2coal::client_options opts,
          reporter& rep, progress_meter& meter)
      : cl_(cl), rt_(std::move(rt)), opts_(std::move(opts)), rep_(rep), meter_(meter), io_(io) {
    for (std::size_t i = 0; i < cl_.urls.size(); ++i) {
      transfer t;
      t.index = i;
      t.url = cl_.urls[i].find("://") == std::string::npos ? "http://" + cl_.urls[i] : cl_.urls[i];
      if (!rt_.query.empty()) t.url = add_query(t.url, rt_.query);
      if (!rt_.upload.empty() && rt_.upload != "-" && remote_file_name(t.url).empty()) {
        // -T FILE to a URL without a file part: the local file's name is appended, as curl does.
        const auto base = std::filesystem::path(rt_.upload).filename().string();
        const auto cut = t.url.find_first_of("?#", t.url.find("://") + 3);
        std::string head = t.url.substr(0, cut), tail = cut == std::string::npos ? "" : t.url.substr(cut);
        if (head.find('/', head.find("://") + 3) == std::string::npos) head += '/';
        t.url = head + base + tail;
      }
      choose_output(t);
      t.out = std::make_unique<body_output>(t.output, cl_.create_dirs);
      t.cancel = std::make_unique<asio::cancellation_signal>();
      if (cl_.probe) t.digest = std::make_unique<sha256_stream>();
      transfers_.push_back(std::move(t));
    }
    if (!transfers_.empty()) transfers_.front().out->go_direct();  // the first one's turn on stdout
    auto user_hook = opts_.trace;
    opts_.trace = [this, user_hook](const h2coal::trace::event& e) {
      if (cl_.graph_file.size()) graph_.on_event(e);
      if (user_hook) user_hook(e);
    };
    client_ = std::make_unique<h2coal::client>(io_.get_executor(), opts_);
    jar_ = rt_.cookies;
    cookie_engine_ = !cl_.cookie_jar.empty() || (cl_.cookie && cl_.cookie->find('=') == std::string::npos);
  }

  void run() {
    if (cl_.parallel) {
      for (std::size_t i = 0; i < transfers_.size(); ++i) start(i);
    } else {
      start(0);
    }
    io_.run();
  }

  const std::vector<transfer>& transfers() const { return transfers_; }
  const std::vector<stored_cookie>& cookies() const { return jar_; }
  const std::vector<probe_result>& probes() const { return probes_; }
  const h2coal::client& client() const { return *client_; }
  connection_graph& graph() { return graph_; }
  bool output_failed() const { return output_failed_; }

 private:
  // -L, --max-redirs, --compressed (DESIGN section 12).
  void apply_request_features(h2coal::request& req) const {
    req.follow_redirects = cl_.location;
    req.max_redirects = cl_.max_redirs < 0 ? 1000000u : static_cast<unsigned>(cl_.max_redirs);
    req.decompress = cl_.compressed;
    if (cl_.retry > 0) req.idempotent = true;  // curl's --retry goes again whatever the method
  }

  // The output of transfer t: -o FILE or -O (in order; --remote-name-all for the rest), under
  // --output-dir; none (stdout) otherwise.
  void choose_output(transfer& t) const {
    const command_line::output_spec* spec = t.index < cl_.outputs.size() ? &cl_.outputs[t.index] : nullptr;
    std::string name;
    if (spec && !spec->none && !spec->remote_name) {
      if (spec->file == "-") return;
      name = spec->file;
    } else if ((spec && !spec->none) || cl_.remote_name_all) {
      name = remote_file_name(t.url);
      t.remote_named = true;
      if (name.empty()) t.name_problem = "remote file name has no length";
    }
    if (name.empty()) return;
    if (!cl_.output_dir.empty() && name.front() != '/') name = cl_.output_dir + "/" + name;
    t.output = std::move(name);
  }

  // An upload (-T): the file streamed as the connection takes it, again from its start for a retry;
  // stdin once, with no length (chunked on HTTP/1.1).
  bool attach_upload(h2coal::request& req) {
    if (rt_.form) {
      req.source = rt_.form->source();
      return true;
    }
    if (rt_.upload.empty()) return true;
    if (rt_.upload == "-") {
      req.source = h2coal::body_source{};
      req.source->read = [](std::span<char> buf, bool& eof) {
        const auto n = std::fread(buf.data(), 1, buf.size(), stdin);
        if (n < buf.size()) eof = true;
        return n;
      };
      return true;
    }
    std::shared_ptr<std::FILE> f(std::fopen(rt_.upload.c_str(), "rb"), [](std::FILE* p) {
      if (p) std::fclose(p);
    });
    std::error_code ec;
    const auto size = std::filesystem::file_size(rt_.upload, ec);
    if (!f || ec) return false;
    req.source = h2coal::body_source{};
    req.source->length = static_cast<std::size_t>(size);
    req.source->read = [f](std::span<char> buf, bool& eof) {
      const auto n = std::fread(buf.data(), 1, buf.size(), f.get());
      if (n < buf.size()) eof = true;
      return n;
    };
    req.source->rewind = [f] { return std::fseek(f.get(), 0, SEEK_SET) == 0; };
    return true;
  }

  // The response started: its output is made now (curl creates -o files only then), the header block
  // written first with -i or -I.
  void on_head(std::size_t i, const h2coal::response& head) {
    auto& t = transfers_[i];
    const int status = head.status;
    const auto& headers = head.headers;
    if (cl_.fail && !cl_.fail_with_body && status >= 400) {
      t.discard = true;  // curl -f: nothing of an HTTP error is written
      return;
    }
    if (t.resume_from > 0) {
      // -C: 416 says the file is whole already (curl takes it as done); anything but a 206 that starts
      // where the file ends cannot be added to it.
      if (status == 416) {
        t.discard = true;
        return;
      }
      if (status >= 200 && status < 300) {
        const auto range = headers.get("content-range");
        const std::string want = "bytes " + std::to_string(t.resume_from) + "-";
        if (status != 206 || !range || range->substr(0, want.size()) != want)
          return abort(i, {exit_code::range_error, "HTTP server doesn't seem to support byte ranges. Cannot resume."});
      }
    }
    // The body's length when the server said (and it is a plain number): for --max-filesize and the meter.
    std::optional<std::uint64_t> length;
    if (auto field = headers.get("content-length");
        field && !field->empty() && field->size() < 19 && field->find_first_not_of("0123456789") == std::string_view::npos)
      length = std::stoull(std::string(*field));
    if (cl_.max_filesize && length && *length > static_cast<std::uint64_t>(*cl_.max_filesize))
      return abort(i, {exit_code::too_large, "maximum file size exceeded"});
    if (cl_.remote_header_name && t.remote_named) {
      if (auto cd = headers.get("content-disposition")) {
        if (auto name = disposition_file_name(*cd); !name.empty()) {
          if (!cl_.output_dir.empty()) name = cl_.output_dir + "/" + name;
          std::error_code fec;
          if (std::filesystem::exists(name, fec))
            return abort(i, {exit_code::write_error, "refusing to overwrite " + name + ": file exists (-J)"});
          t.output = name;
          t.out->rename(name);
        }
      }
    }
    meter_.begin(cl_.head ? 0 : length.value_or(0));
    if (!t.out->open()) return abort(i, {exit_code::write_error, "failure writing output to destination: " + t.out->problem()});
    write_head(i, head);
  }

  // A redirect that -L follows: its head goes where the final one's goes (-D, -i, -I), as curl writes
  // every hop's; its body is never delivered.
  void on_hop(std::size_t i, const h2coal::response& head) {
    auto& t = transfers_[i];
    if (t.local.code) return;
    if ((cl_.include || cl_.head) && !t.out->open())
      return abort(i, {exit_code::write_error, "failure writing output to destination: " + t.out->problem()});
    write_head(i, head);
  }

  // -D and -i/-I: a head's status line and fields, to the dump file and the output.
  void write_head(std::size_t i, const h2coal::response& head) {
    auto& t = transfers_[i];
    // curl's status line: "HTTP/2 200 " (HTTP/2 has no reason phrase; curl keeps the space), and
    // "HTTP/1.1 200 OK" with the server's phrase.
    std::string block = "HTTP/" + head.http_version + " " + std::to_string(head.status) + " " + head.reason + "\r\n";
    for (const auto& [n, v] : head.headers) block += n + ": " + v + "\r\n";
    block += "\r\n";
    if (!cl_.dump_header.empty()) {
      bool ok = true;
      if (cl_.dump_header == "-") {
        ok = t.out->to_stdout() ? t.out->write(block) : std::fwrite(block.data(), 1, block.size(), stdout) == block.size();
      } else {
        if (!dump_) dump_.reset(std::fopen(cl_.dump_header.c_str(), "wb"));
        ok = dump_ && std::fwrite(block.data(), 1, block.size(), dump_.get()) == block.size();
      }
      if (!ok) return abort(i, {exit_code::write_error, "failure writing the header fields to " + cl_.dump_header + " (-D)"});
    }
    if (cl_.include || cl_.head) {
      if (!t.out->write(block)) return abort(i, {exit_code::write_error, "failure writing output to destination: " + t.out->problem()});
    }
  }

  // A piece of the body: written at once (or held until stdout's turn comes), never kept.
  void on_piece(std::size_t i, std::string_view bytes) {
    auto& t = transfers_[i];
    if (t.local.code) return;
    t.received += bytes.size();
    meter_.received(bytes.size());
    if (t.digest) t.digest->update(bytes);
    if (cl_.max_filesize && t.received > static_cast<std::uint64_t>(*cl_.max_filesize))
      return abort(i, {exit_code::too_large, "maximum file size exceeded"});
    if (t.discard || cl_.head) return;
    if (!t.out->write(bytes)) abort(i, {exit_code::write_error, "failure writing output to destination: " + t.out->problem()});
  }

  // Ends transfer i for h2get's own reason (the library completes it with error::cancelled).
  void abort(std::size_t i, failure why) {
    auto& t = transfers_[i];
    if (t.local.code) return;
    t.local = std::move(why);
    t.cancel->emit(asio::cancellation_type::terminal);
  }

  void start(std::size_t i) {
    auto& t = transfers_[i];
    h2coal::request req;
    req.method = rt_.method;
    req.url = t.url;
    req.headers = rt_.headers;
    req.authority = rt_.authority;
    req.body = rt_.body;
    if (cl_.continue_at) {
      // -C -: where the output file ends; -C N: N. A Range only when there is something to skip.
      t.resume_from = 0;
      if (*cl_.continue_at == "-") {
        std::error_code fec;
        if (!t.output.empty()) {
          const auto size = std::filesystem::file_size(t.output, fec);
          if (!fec) t.resume_from = size;
        }
      } else {
        t.resume_from = std::stoull(*cl_.continue_at);
      }
      if (t.resume_from > 0) {
        req.headers.add("range", "bytes=" + std::to_string(t.resume_from) + "-");
        t.out->append();
      }
    }
    if (!jar_.empty()) {
      std::error_code uec;
      auto u = h2coal::url::parse(t.url, uec);
      if (!uec) {
        const auto c = cookie_header(jar_, u.origin.host, u.target.substr(0, u.target.find('?')), u.origin.is_tls());
        if (!c.empty()) req.headers.add("cookie", c);
      }
    }
    apply_request_features(req);
    if (!t.name_problem.empty()) {
      t.local = {exit_code::write_error, t.name_problem};
      return complete(i, h2coal::error::cancelled, {});
    }
    if (!attach_upload(req)) {
      t.local = {exit_code::read_error, "cannot read the file to upload '" + rt_.upload + "' (-T)"};
      return complete(i, h2coal::error::cancelled, {});
    }
    req.on_response = [this, i](const h2coal::response& head) { on_head(i, head); };
    if (cl_.location && (cl_.include || cl_.head || !cl_.dump_header.empty()))
      req.on_redirect = [this, i](const h2coal::response& head) { on_hop(i, head); };
    if (!cl_.limit_rate) {
      req.on_body = [this, i](std::string_view bytes) { on_piece(i, bytes); };
    } else {
      // --limit-rate: after each piece, a body ahead of the rate pauses until the rate catches up (the
      // library keeps the stream's window shut meanwhile: the server waits, nothing is buffered here).
      req.on_body = [this, i](std::string_view bytes, const h2coal::resume_handle& resume) {
        auto& tr = transfers_[i];
        const auto now = std::chrono::steady_clock::now();
        if (tr.received == 0) tr.first_byte = now;
        on_piece(i, bytes);
        const auto due = tr.first_byte + std::chrono::microseconds(tr.received * 1000000 / cl_.limit_rate);
        if (due <= now || tr.local.code) return h2coal::body_action::proceed;
        if (!tr.pace) tr.pace = std::make_unique<asio::steady_timer>(io_);
        tr.pace->expires_at(due);
        tr.pace->async_wait([resume](std::error_code ec) {
          if (!ec) resume();
        });
        return h2coal::body_action::pause;
      };
    }
    if (cl_.verbose) {
      std::string lines = "> " + req.method + " " + req.url + "\n";
      for (const auto& [n, v] : req.headers) lines += "> " + n + ": " + v + "\n";
      if (!req.body.empty()) lines += "> [" + std::to_string(req.body.size()) + " bytes of data]\n";
      std::cerr << lines;
    }
    t.started = true;
    client_->async_request(std::move(req), asio::bind_cancellation_slot(t.cancel->slot(), [this, i](std::error_code ec, h2coal::response r) {
      complete(i, ec, std::move(r));
    }));
  }

  void complete(std::size_t i, std::error_code ec, h2coal::response r) {
    auto& done = transfers_[i];
    done.ec = ec;
    done.resp = std::move(r);
    done.done = true;
    done.connections_at_end = client_->connections().size();
    if (cookie_engine_ && !ec) {
      // The cookie engine (-b FILE or -c): what the final response set, for later URLs and for -c.
      std::error_code uec;
      auto u = h2coal::url::parse(done.resp.effective_url.empty() ? done.url : done.resp.effective_url, uec);
      if (!uec)
        for (const auto& [n, v] : done.resp.headers)
          if (lowercase(n) == "set-cookie")
            store_set_cookie(jar_, v, u.origin.host, u.target.substr(0, u.target.find('?')));
    }
    if (done.digest) done.body_digest = done.digest->hex_digest();
    meter_.transfer_done();
    flush_in_order();
    if (!cl_.parallel && i + 1 < transfers_.size()) {
      // Not from inside this completion: the next transfer starts on a fresh turn of the executor.
      asio::post(io_, [this, i] { start(i + 1); });
    } else if (next_write_ == transfers_.size()) {
      all_done();
    }
  }

  // Finished transfers are reported in URL order; the first unfinished one then gets stdout's turn.
  void flush_in_order() {
    while (next_write_ < transfers_.size() && transfers_[next_write_].done) finish(transfers_[next_write_++]);
    if (next_write_ < transfers_.size()) {
      auto& t = transfers_[next_write_];
      if (!t.out->go_direct()) abort(next_write_, {exit_code::write_error, "failure writing output to destination: " + t.out->problem()});
    }
  }

 public:
  // The proxy a URL went through, for the proxy errors' messages.
  void add_proxy(failure_context& ctx, const h2coal::response& resp) const {
    ctx.proxy_status = resp.proxy_status;
    std::error_code ec;
    auto u = h2coal::url::parse(ctx.url, ec);
    if (ec) return;
    if (const auto* p = opts_.proxy.for_origin(u.origin)) {
      ctx.proxy_host = p->host;
      ctx.proxy_port = p->port;
    }
  }

 private:
  // Writes one finished transfer: error line, or headers and body; then -w.
  void finish(transfer& t) {
    failure_context ctx;
    ctx.url = t.url;
    ctx.has_client_cert = !cl_.cert.empty();
    ctx.has_ca_file = !cl_.cacert.empty();
    ctx.status = t.resp.status;
    ctx.detail = t.resp.error_detail;
    add_proxy(ctx, t.resp);
    const bool wrote = t.out->finish();
    if (t.local.code) {
      t.result = t.local;
      rep_.error(t.result);
    } else if (t.ec) {
      t.result = describe(t.ec, ctx);
      rep_.error(t.result);
    } else if (!wrote) {
      t.result = {exit_code::write_error, "failure writing output to destination: " + t.out->problem()};
      output_failed_ = true;
      rep_.error(t.result);
    } else {
      if (cl_.verbose) {
        std::string lines = "* " + t.url + ": connection " + std::to_string(t.resp.connection);
        if (t.resp.coalesced) lines += " (coalesced, " + t.resp.basis + ")";
        if (t.resp.attempts > 1) lines += ", " + std::to_string(t.resp.attempts) + " attempts";
        lines += "\n< HTTP/" + t.resp.http_version + " " + std::to_string(t.resp.status) + "\n";
        for (const auto& [n, v] : t.resp.headers) lines += "< " + n + ": " + v + "\n";
        std::cerr << lines;
      }
      if ((cl_.fail || cl_.fail_with_body) && t.resp.status >= 400) {
        t.result = {exit_code::http_error, "the requested URL returned error: " + std::to_string(t.resp.status)};
        rep_.error(t.result);
      }
    }
    if (t.result.code && cl_.remove_on_error) t.out->remove();
    if (!cl_.write_out.empty()) {
      transfer_facts f;
      f.url = t.url;
      f.url_effective = t.resp.effective_url.empty() ? t.url : t.resp.effective_url;
      f.redirects = t.resp.redirects;
      f.timings = t.resp.timings;
      f.remote_ip = t.resp.remote_address;
      f.remote_port = t.resp.remote_port;
      f.local_ip = t.resp.local_address;
      f.local_port = t.resp.local_port;
      f.size_upload = t.resp.bytes_sent;
      f.size_header = t.resp.header_bytes;
      f.content_type = std::string(t.resp.headers.get("content-type").value_or(""));
      if (auto p = t.url.find("://"); p != std::string::npos) f.scheme = t.url.substr(0, p);
      f.status = t.resp.status;
      f.http_version = t.resp.http_version;
      f.size = t.resp.body_bytes;
      f.exit_code = t.result.code;
      f.error = t.result.message;
      f.connection = t.resp.connection;
      f.coalesced = t.resp.coalesced;
      f.basis = t.resp.basis;
      f.retries = t.resp.attempts > 0 ? t.resp.attempts - 1 : 0;
      f.connections = t.connections_at_end;
      f.headers = &t.resp.headers;
      f.num_connects = t.resp.connects;
      if (!cl_.location && t.resp.status >= 300 && t.resp.status < 400)
        if (auto loc = t.resp.headers.get("location")) {
          std::error_code uec;
          auto base = h2coal::url::parse(f.url_effective, uec);
          if (!uec) {
            auto target = h2coal::url::resolve(base, *loc, uec);
            if (!uec) f.redirect_url = target.to_string();
          }
        }
      write_stdout(expand_write_out(cl_.write_out, f, [this](const std::string& w) { rep_.warning(w); }));
    }
  }

  // -w's text: stdout, after the transfer's body.
  bool write_stdout(const std::string& bytes) {
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) return fail_output();
    if (std::fflush(stdout) != 0) return fail_output();
    return true;
  }

  bool fail_output() {
    output_failed_ = true;
    return false;
  }

  void all_done() {
    if (cl_.probe) return start_probe();
    close();
  }

  // --probe: every response the policy coalesced is fetched again on a fresh connection dedicated to its
  // origin (a second client under the strict policy: exact origin only), then compared.
  void start_probe() {
    std::vector<std::size_t> todo;
    for (const auto& t : transfers_)
      if (!t.ec && t.resp.coalesced) todo.push_back(t.index);
    if (todo.empty()) return close();
    auto o = opts_;
    o.trace = {};
    o.policies = h2coal::policy_map(h2coal::policies::strict());
    probe_client_ = std::make_unique<h2coal::client>(io_.get_executor(), o);
    probes_.resize(todo.size());
    probes_left_ = todo.size();
    for (std::size_t k = 0; k < todo.size(); ++k) {
      const auto& t = transfers_[todo[k]];
      h2coal::request req;
      req.method = rt_.method;
      req.url = t.url;
      req.headers = rt_.headers;
    req.authority = rt_.authority;
      req.body = rt_.body;
      apply_request_features(req);
      probes_[k].index = t.index;
      probe_client_->async_request(std::move(req), [this, k](std::error_code ec, h2coal::response r) {
        probes_[k].ec = ec;
        probes_[k].resp = std::move(r);
        if (--probes_left_ == 0) close();
      });
    }
  }

  void close() {
    client_->close();
    if (probe_client_) probe_client_->close();
  }

  const command_line& cl_;
  request_template rt_;
  h2coal::client_options opts_;
  reporter& rep_;
  progress_meter& meter_;
  asio::io_context& io_;  // run()'s: the resolver (c-ares) lives on it too
  std::unique_ptr<h2coal::client> client_;
  std::unique_ptr<h2coal::client> probe_client_;
  std::vector<transfer> transfers_;
  std::vector<probe_result> probes_;
  std::size_t probes_left_ = 0;
  std::size_t next_write_ = 0;
  std::vector<stored_cookie> jar_;  // the cookie engine's cookies
  struct file_closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, file_closer> dump_;  // -D FILE, made at the first response
  bool cookie_engine_ = false;
  connection_graph graph_;
  bool output_failed_ = false;
};

// ---- Reports after the run ----

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// -v's closing table: each connection, its remote (and proxy), SNI, ALPN, and the origins and requests it carried.
void print_connection_table(const std::vector<h2coal::connection_summary>& conns) {
  std::vector<std::vector<std::string>> rows = {{"conn", "remote", "SNI", "ALPN", "requests", "origins"}};
  for (const auto& c : conns) {
    std::string origins;
    for (const auto& o : c.origins) origins += (origins.empty() ? "" : " ") + o;
    // Through a proxy the remote is the proxy's address: say so.
    std::string remote = c.remote.empty() ? "-" : c.remote;
    if (!c.proxy.empty()) remote += " (proxy " + c.proxy + ")";
    rows.push_back({std::to_string(c.id), remote, c.sni.empty() ? "-" : c.sni,
                    c.alpn.empty() ? "-" : c.alpn, std::to_string(c.requests), origins.empty() ? "-" : origins});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out = "* connections opened: " + std::to_string(conns.size()) + "\n";
  for (const auto& r : rows) {
    out += "*   ";
    for (std::size_t i = 0; i < r.size(); ++i) out += i + 1 < r.size() ? pad(r[i], width[i] + 2) : r[i];
    out += "\n";
  }
  std::cerr << out;
}

// --probe's verdicts on stderr; returns the number of misrouted responses (and sets probe_error when a
// probe request itself failed).
std::size_t report_probe(const session& s, const reporter& rep, int& probe_error) {
  const auto& transfers = s.transfers();
  const auto conns = s.client().connections();
  auto initial_origin = [&conns](std::uint64_t id) {
    for (const auto& c : conns)
      if (c.id == id) return c.origin;
    return std::string("?");
  };
  std::size_t coalesced = 0, misrouted = 0;
  for (const auto& t : transfers) coalesced += !t.ec && t.resp.coalesced;
  std::string out;
  if (coalesced == 0) {
    std::cerr << "h2get: probe: no response was coalesced: nothing to compare, nothing misrouted\n";
    return 0;
  }
  std::vector<std::string> names;
  for (const auto& p : s.probes()) {
    const auto& t = transfers[p.index];
    const std::string got = t.body_digest;
    std::error_code pe;
    auto u = h2coal::url::parse(t.url, pe);
    const std::string origin = pe ? t.url : u.origin.serialize();
    out += "h2get: probe: " + t.url + "\n";
    out += "h2get: probe:   coalesced  connection " + std::to_string(t.resp.connection) + " (opened for " +
           initial_origin(t.resp.connection) + ", " + t.resp.basis + "): status " + std::to_string(t.resp.status) +
           ", sha256 " + got.substr(0, 16) + "\n";
    if (p.ec) {
      failure_context ctx;
      ctx.url = t.url;
      ctx.status = p.resp.status;
      ctx.detail = p.resp.error_detail;
      s.add_proxy(ctx, p.resp);
      failure f = describe(p.ec, ctx);
      out += "h2get: probe:   dedicated  connection failed: (" + std::to_string(f.code) + ") " + f.message + "\n";
      out += "h2get: probe:   verdict    inconclusive\n";
      if (!probe_error) probe_error = f.code;
      continue;
    }
    const std::string want = sha256_hex(p.resp.body);
    out += "h2get: probe:   dedicated  own connection to " + origin + ": status " + std::to_string(p.resp.status) +
           ", sha256 " + want.substr(0, 16) + "\n";
    const bool same = p.resp.status == t.resp.status && want == got;
    out += std::string("h2get: probe:   verdict    ") +
           (same ? "consistent" : "MISROUTED: the shared connection answered for another origin") + "\n";
    if (!same) {
      ++misrouted;
      if (std::find(names.begin(), names.end(), origin) == names.end()) names.push_back(origin);
    }
  }
  out += "h2get: probe: " + std::to_string(coalesced) + " coalesced response" + (coalesced == 1 ? "" : "s") +
         " checked, " + std::to_string(misrouted) + " misrouted";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : ": ") + names[i];
  out += "\n";
  (void)rep;
  std::cerr << out;
  return misrouted;
}

// Runs `dot -Tsvg -o file` with the DOT text on its stdin. False when dot is missing or fails.
bool render_svg(const std::string& dot_text, const std::string& file) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string a0 = "dot", a1 = "-Tsvg", a2 = "-o", a3 = file;
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "dot", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    return false;
  }
  std::size_t off = 0;
  while (off < dot_text.size()) {
    auto n = ::write(fds[1], dot_text.data() + off, dot_text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  close(fds[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return off == dot_text.size() && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// --graph: DOT text, or SVG through Graphviz when the name ends in .svg (DOT beside it when dot is missing).
std::optional<failure> write_graph(const command_line& cl, session& s, const reporter& rep) {
  auto& g = s.graph();
  g.add_summaries(s.client().connections());
  const std::string title = "h2get --policy " + cl.policy + ": which origins went over which connection";
  const std::string text = g.dot(title);
  std::string file = cl.graph_file;
  if (file.size() > 4 && lowercase(file.substr(file.size() - 4)) == ".svg") {
    if (render_svg(text, file)) return std::nullopt;
    file = file.substr(0, file.size() - 4) + ".dot";
    rep.warning("could not render SVG with Graphviz 'dot' (is it installed?); wrote DOT to '" + file + "'");
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out.write(text.data(), static_cast<std::streamsize>(text.size())))
    return failure{exit_code::write_error, "could not write the graph to '" + file + "'"};
  return std::nullopt;
}

int run(int argc, char** argv) {
  command_line cl;
  if (auto code = parse_command_line(argc, argv, cl)) return *code;

  reporter rep;
  rep.quiet = cl.silent && !cl.show_error;

  if (cl.write_out.size() > 1 && cl.write_out.front() == '@') {  // -w @FILE (@- stdin): the format from there
    const std::string path = cl.write_out.substr(1);
    auto text = path == "-" ? read_stdin() : read_file(path);
    if (!text) {
      rep.error({exit_code::read_error, "cannot read the --write-out format from '" + path + "'"});
      return exit_code::read_error;
    }
    cl.write_out = std::move(*text);
  }

  request_template rt;
  if (auto f = build_request_template(cl, rt)) {
    rep.error(*f);
    return f->code;
  }

  // One io_context for the run: the client's, and the c-ares resolver's (which must go before it).
  asio::io_context io;
  h2coal::client_options opts;

  // Names and trust, as h2audit reads them too: --resolve's fixed answers over DNS, through c-ares where
  // built in (as curl built with c-ares does; --dns-servers picks the servers), else the system's
  // resolver; --connect-to; --cacert or CURL_CA_BUNDLE.
  h2tools::names_and_trust nt{cl.resolve, cl.connect_to, cl.dns_servers, cl.cacert, cl.connect_timeout};
  if (auto f = h2tools::apply(nt, io.get_executor(), opts)) {
    rep.error(*f);
    return f->code;
  }
  cl.cacert = opts.tls.ca_file;  // CURL_CA_BUNDLE's, when it stood in
  // A connection that went silent (a NAT or balancer dropped it) is found by PING instead of holding the
  // transfer until --max-time (DESIGN section 14).
  opts.read_idle_timeout = std::chrono::seconds(15);
  opts.tls.insecure = cl.insecure;
  for (const auto& [file, what] : {std::pair{cl.cert, "--cert"}, std::pair{cl.key, "--key"}})
    if (!file.empty() && !h2tools::readable(file)) {
      rep.error({exit_code::client_cert, std::string("cannot read '") + file + "' (" + what + ")"});
      return exit_code::client_cert;
    }
  opts.tls.client_cert_file = cl.cert;
  opts.tls.client_key_file = cl.key;
  opts.tls.session_resumption = !cl.no_sessionid;
  if (cl.tls_max == "1.0" || cl.tls_max == "1.1") {
    rep.error({exit_code::not_built_in, "--tls-max " + cl.tls_max + ": h2coal speaks TLS 1.2 and 1.3 only"});
    return exit_code::not_built_in;
  }
  opts.tls.min_version = cl.tls_min == "1.3" ? h2coal::tls_version::tls1_3 : h2coal::tls_version::tls1_2;
  if (cl.tls_max != "default")
    opts.tls.max_version = cl.tls_max == "1.3" ? h2coal::tls_version::tls1_3 : h2coal::tls_version::tls1_2;
  if (opts.tls.max_version && *opts.tls.max_version < opts.tls.min_version) {
    rep.error({exit_code::usage, "--tls-max " + cl.tls_max + " is older than --tlsv" + cl.tls_min});
    return exit_code::usage;
  }
  opts.tls.ciphers = cl.ciphers;
  opts.tls.tls13_ciphers = cl.tls13_ciphers;
  if (auto bad = unusable_cipher_list(cl.ciphers, cl.tls13_ciphers)) {
    rep.error({exit_code::cipher, "failed setting cipher list: '" + *bad + "'"});
    return exit_code::cipher;
  }
  if (!cl.pinned_public_key.empty()) {
    if (!valid_pins(cl.pinned_public_key)) {
      rep.error({exit_code::usage, "--pinnedpubkey: '" + cl.pinned_public_key +
                                       "' is not sha256//BASE64[;sha256//BASE64...] (key files are not supported)"});
      return exit_code::usage;
    }
    opts.tls.pinned_public_keys.push_back({"*", cl.pinned_public_key});  // curl's: for every host
  }
  if (auto f = configure_proxy(cl, opts.proxy)) {
    rep.error(*f);
    return f->code;
  }
  if (!cl.proxy_cacert.empty() && !h2tools::readable(cl.proxy_cacert)) {
    rep.error({exit_code::ca_file, "cannot read the CA file '" + cl.proxy_cacert + "' (--proxy-cacert)"});
    return exit_code::ca_file;
  }
  opts.ip_family = cl.ip_family == command_line::ip::v4   ? h2coal::ip_family::v4
                   : cl.ip_family == command_line::ip::v6 ? h2coal::ip_family::v6
                                                          : h2coal::ip_family::any;
  opts.version = cl.version == command_line::http::http1_1 ? h2coal::http_version::http1_only
                 : cl.version == command_line::http::h2_prior_knowledge ? h2coal::http_version::h2_prior_knowledge
                                                                        : h2coal::http_version::automatic;
  const auto match = cl.ip_match == "any" ? h2coal::ip_match::any_overlap : h2coal::ip_match::connected;
  opts.policies = h2coal::policy_map(cl.policy == "strict"    ? h2coal::policies::strict()
                                     : cl.policy == "browser" ? h2coal::policies::browser(match)
                                                              : h2coal::policies::origin(match));
  if (cl.connect_timeout >= 0) {
    // curl's --connect-timeout covers the TCP connect and the TLS handshake.
    opts.connect_timeout = to_ms(cl.connect_timeout);
    opts.handshake_timeout = to_ms(cl.connect_timeout);
  }
  if (cl.max_time > 0) opts.request_timeout = to_ms(cl.max_time);
  if (cl.retry > 0) {
    // curl's --retry: 1 s doubling up to 10 minutes, no jitter; --retry-delay makes it constant.
    h2coal::retry_policy p;
    p.attempts = static_cast<unsigned>(std::min<long>(cl.retry, 1000000)) + 1;
    p.base_delay = cl.retry_delay > 0 ? to_ms(cl.retry_delay) : std::chrono::milliseconds(1000);
    p.max_delay = cl.retry_delay > 0 ? to_ms(cl.retry_delay) : std::chrono::milliseconds(600000);
    p.jitter = 0;
    if (cl.retry_max_time > 0) p.max_elapsed = to_ms(cl.retry_max_time);
    // curl's --retry-all-errors: every failure (for a request that may be sent twice), and with -f every
    // HTTP error status too.
    p.all_errors = cl.retry_all_errors;
    if (cl.retry_all_errors && cl.fail)
      for (int s = 400; s < 600; ++s)
        if (std::find(p.statuses.begin(), p.statuses.end(), s) == p.statuses.end()) p.statuses.push_back(s);
    opts.retry = p;
  }
  // curl sends Expect: 100-continue for bodies over 1 MiB (or of unknown length) on HTTP/1.1 only. The
  // protocol is known per connection, the option per client: on where every URL will be HTTP/1.1.
  const bool all_http1 = cl.version == command_line::http::http1_1 ||
                         (cl.version == command_line::http::automatic &&
                          std::all_of(cl.urls.begin(), cl.urls.end(), [](const std::string& u) { return u.rfind("https://", 0) != 0; }));
  if (all_http1) opts.expect_continue_threshold = 1024 * 1024;
  opts.expect_continue_timeout = to_ms(cl.expect100_timeout);

  // Trace sinks: -v as text on stderr, --trace as JSON lines (a file, or stderr for "-").
  std::ofstream trace_out;
  std::vector<h2coal::trace::hook> sinks;
  if (cl.verbose) sinks.push_back(h2coal::trace::text(std::cerr));
  if (!cl.trace_file.empty()) {
    if (cl.trace_file == "-") {
      sinks.push_back(h2coal::trace::json_lines(std::cerr));
    } else {
      trace_out.open(cl.trace_file, std::ios::binary | std::ios::trunc);
      if (!trace_out) {
        rep.error({exit_code::write_error, "cannot open the trace file '" + cl.trace_file + "'"});
        return exit_code::write_error;
      }
      sinks.push_back(h2coal::trace::json_lines(trace_out));
    }
  }
  opts.trace = h2coal::trace::fan_out(std::move(sinks));

  if (cl.output_options > cl.urls.size()) rep.warning("got more output options than URLs");
  if (cl.verbose && cl.insecure && cl.policy != "strict")
    rep.warning("-k turns coalescing off: unverified connections are never shared");

  // The meter only where a person watches stderr, and never over a body printed to the same terminal.
  bool stdout_gets_body = std::any_of(cl.outputs.begin(), cl.outputs.end(), [&cl](const auto& o) {
    return o.none ? !cl.remote_name_all : !o.remote_name && o.file == "-";
  });
  bool meter_on = !cl.silent && !cl.no_progress_meter && !cl.verbose && isatty(STDERR_FILENO) &&
                  !(stdout_gets_body && isatty(STDOUT_FILENO));
  progress_meter meter(!meter_on           ? progress_meter::style::off
                       : cl.parallel      ? progress_meter::style::parallel
                       : cl.progress_bar  ? progress_meter::style::bar
                                          : progress_meter::style::columns,
                       cl.urls.size());
  rep.meter = &meter;

  session s(io, cl, std::move(rt), std::move(opts), rep, meter);
  s.run();
  meter.finish();
  trace_out.flush();

  if (cl.verbose) print_connection_table(s.client().connections());
  if (!cl.cookie_jar.empty()) {
    const std::string text = netscape_cookie_file(s.cookies());
    bool ok = true;
    if (cl.cookie_jar == "-") {
      ok = std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
    } else {
      std::ofstream jar(cl.cookie_jar, std::ios::binary | std::ios::trunc);
      ok = static_cast<bool>(jar.write(text.data(), static_cast<std::streamsize>(text.size())));
    }
    if (!ok) rep.warning("failed to save cookies in " + cl.cookie_jar);  // curl warns and keeps its exit code
  }

  // curl's rule: with several URLs, the last one's result is the exit code.
  int code = s.transfers().empty() ? exit_code::ok : s.transfers().back().result.code;
  if (cl.probe) {
    int probe_error = 0;
    std::size_t misrouted = report_probe(s, rep, probe_error);
    if (misrouted) code = exit_code::misrouted;
    else if (!code) code = probe_error;
  }
  if (!cl.graph_file.empty())
    if (auto f = write_graph(cl, s, rep)) {
      rep.error(*f);
      if (!code) code = f->code;
    }
  if (!cl.trace_file.empty() && cl.trace_file != "-" && !trace_out) {
    rep.error({exit_code::write_error, "could not write the trace file '" + cl.trace_file + "'"});
    if (!code) code = exit_code::write_error;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout is a write error (23), as in curl, not a crash
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "h2get: (2) " << e.what() << "\n";
    return exit_code::usage;
  }
}
