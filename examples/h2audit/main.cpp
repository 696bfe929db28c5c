// SPDX-License-Identifier: BSL-1.0
// examples/h2audit/main.cpp: h2audit, the operator's tool (DESIGN section 15). For the host names an
// operator owns it resolves each several times, makes one handshake per origin, predicts which names the
// modelled browsers would send over one connection (through h2coal's own policies), then probes each
// predicted pair A -> B: B's path on a connection opened for A against B's own answer. Only GET, only
// the names given. Exit 0 clean, 1 misrouting found, 2 usage, else h2get's code of the first failure.
#include "audit.hpp"
#include "digest.hpp"
#include "exit_codes.hpp"
#include "names_and_trust.hpp"

#include <h2coal/h2coal.hpp>

#include <CLI/CLI.hpp>
#if defined(H2AUDIT_HAS_JSON)
#include "inputs.hpp"
#endif

#include <asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace h2audit;
namespace exit_code = h2tools::exit_code;

struct command_line {
  std::vector<std::string> targets;       // names, host:port or URLs
  std::string file;                       // -f FILE ("-": stdin)
  std::string har;                        // --har FILE: the https origins a page used
  std::string netlog;                     // --netlog FILE: what Chromium pooled (chrome://net-export)
  bool head = false;                      // -I: HEAD instead of GET
  std::vector<std::string> paths;         // --paths host=/path
  h2tools::names_and_trust nt;
  unsigned rounds = 3;
  std::size_t max_requests = 100;
  std::string json_file, html_file;
  double max_time = 30;
};

const char* help_text() {
  return R"(Usage: h2audit [options] <name|host:port|URL>...
       h2audit --netlog <file> [options] [<name|host:port|URL>...]
Tell which of these names browsers would send over one HTTP/2 connection, and whether the servers
answer such shared requests as they answer each name's own (GET or HEAD only, only the names given).
With a Chromium NetLog, also what Chromium did: which names it sent on which name's session.

 -f, --file <file>          Names, host:port or URLs, one per line ('#' comments); "-" is stdin
     --har <file>           The https origins a page used, from a browser's HAR export (DevTools,
                            "Save all as HAR"), each with the first path it fetched there
     --netlog <file>        A Chromium NetLog (chrome://net-export, or chromium --log-net-log): the
                            names Chromium sent on a session opened for another name, beside the
                            prediction; without names, the NetLog's report alone
     --paths <host=/path>   The path to fetch for a name (repeatable; default "/", or the URL's)
 -I, --head                 Fetch with HEAD: the verdict compares status codes only
     --rounds <n>           Resolve every name n times (default 3); answers that differ are reported
     --max-requests <n>     Send at most n probe requests (default 100; two per pair)
     --json <file>          Also write the report as JSON ("-": stdout; schema in docs/h2audit.md)
     --html <file>          Also write one self-contained HTML page: a graph of names, addresses,
                            certificates and shared connections, and the findings with their fixes
     --resolve <host:port:addr[,addr]...>  Resolve host and port to these addresses (repeatable)
     --connect-to <HOST1:PORT1:HOST2:PORT2>  Connect elsewhere for a name, as curl (never shared)
     --dns-servers <addresses>  DNS servers to ask (c-ares builds)
     --cacert <file>        Trust only the CAs in <file> (CURL_CA_BUNDLE too, as curl)
     --connect-timeout <seconds>  Connect time limit per connection (default 10)
 -m, --max-time <seconds>   Time limit per request (default 30)
 -h, --help                 This text

The modelled clients: chromium (the new name's answer holds the connected IP and the certificate
covers it), firefox (the same, and ORIGIN frames, RFC 8336), strict (never).
Verdicts: same (harmless), 421 (the server refuses the shared request: a correct defence),
misrouted (status or body differ), not-shared (h2coal's client did not share it), error.
Exit status: 0 clean, 1 misrouting found, 2 usage, otherwise h2get's code for the first name that
could not be fetched (6 not resolved, 7 no connection, 60 certificate, ...).
)";
}

std::optional<int> parse(int argc, char** argv, command_line& cl) {
  CLI::App app{"h2audit", "h2audit"};
  app.set_help_flag();
  bool help = false;
  auto last = CLI::MultiOptionPolicy::TakeLast;
  app.add_flag("-h,--help", help);
  app.add_option("-f,--file", cl.file)->multi_option_policy(last);
  app.add_option("--har", cl.har)->multi_option_policy(last);
  app.add_option("--netlog", cl.netlog)->multi_option_policy(last);
  app.add_flag("-I,--head", cl.head);
  app.add_option("--paths", cl.paths)->allow_extra_args(false);
  app.add_option("--rounds", cl.rounds)->check(CLI::Range(1u, 100u))->multi_option_policy(last);
  app.add_option("--max-requests", cl.max_requests)->check(CLI::Range(std::size_t{0}, std::size_t{1000000}))->multi_option_policy(last);
  app.add_option("--json", cl.json_file)->multi_option_policy(last);
  app.add_option("--html", cl.html_file)->multi_option_policy(last);
  app.add_option("--resolve", cl.nt.resolve)->allow_extra_args(false);
  app.add_option("--connect-to", cl.nt.connect_to)->allow_extra_args(false);
  app.add_option("--dns-servers", cl.nt.dns_servers)->multi_option_policy(last);
  app.add_option("--cacert", cl.nt.cacert)->multi_option_policy(last);
  cl.nt.connect_timeout = 10;
  app.add_option("--connect-timeout", cl.nt.connect_timeout)->check(CLI::PositiveNumber)->multi_option_policy(last);
  app.add_option("-m,--max-time", cl.max_time)->check(CLI::PositiveNumber)->multi_option_policy(last);
  app.add_option("target", cl.targets);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::cerr << "h2audit: (2) " << e.what() << "\nh2audit: try 'h2audit --help' for more information\n";
    return exit_code::usage;
  }
  if (help) {
    std::cout << help_text();
    return exit_code::ok;
  }
  if (!cl.file.empty()) {
    std::ifstream in_file;
    std::istream* in = &std::cin;
    if (cl.file != "-") {
      in_file.open(cl.file);
      if (!in_file) {
        std::cerr << "h2audit: (2) cannot read '" << cl.file << "' (-f)\n";
        return exit_code::usage;
      }
      in = &in_file;
    }
    for (std::string line; std::getline(*in, line);) {
      const auto start = line.find_first_not_of(" \t\r");
      if (start == std::string::npos || line[start] == '#') continue;
      const auto end = line.find_last_not_of(" \t\r");
      cl.targets.push_back(line.substr(start, end - start + 1));
    }
  }
  if (!cl.har.empty()) {
#if defined(H2AUDIT_HAS_JSON)
    std::ifstream in(cl.har, std::ios::binary);
    if (!in) {
      std::cerr << "h2audit: (2) cannot read '" << cl.har << "' (--har)\n";
      return exit_code::usage;
    }
    auto har = read_har(in);
    if (!har.error.empty()) {
      std::cerr << "h2audit: (2) '" << cl.har << "' is no HAR file (--har): " << har.error << "\n";
      return exit_code::usage;
    }
    // The first URL per origin sets its path.
    cl.targets.insert(cl.targets.end(), har.urls.begin(), har.urls.end());
#else
    std::cerr << "h2audit: (4) --har: not built in (h2audit was built without nlohmann/json)\n";
    return exit_code::not_built_in;
#endif
  }
#if !defined(H2AUDIT_HAS_JSON)
  if (!cl.netlog.empty()) {
    std::cerr << "h2audit: (4) --netlog: not built in (h2audit was built without nlohmann/json)\n";
    return exit_code::not_built_in;
  }
#endif
  if (cl.targets.empty() && !cl.netlog.empty()) return std::nullopt;  // the NetLog alone
  if (cl.targets.empty()) {
    std::cerr << "h2audit: (2) no names given\nh2audit: try 'h2audit --help' for more information\n";
    return exit_code::usage;
  }
  return std::nullopt;
}

// A name, host:port or URL as an origin (https) and a path; nullopt when it is none of them.
std::optional<std::pair<h2coal::origin, std::string>> target_of(const std::string& t) {
  std::error_code ec;
  const std::string url = t.find("://") == std::string::npos ? "https://" + t + "/" : t;
  auto u = h2coal::url::parse(url, ec);
  if (ec || !u.origin.is_tls()) return std::nullopt;
  return std::pair{u.origin, u.target};
}

// Runs the io_context until `done()` holds (every operation of this program ends: the client's requests
// are bounded by their timeouts).
void run_until(asio::io_context& io, const std::function<bool()>& done) {
  io.restart();
  while (!done() && io.run_one() > 0) {
  }
}

// What the trace says about connections: their TLS facts and ORIGIN frames, and the 421s.
struct connection_facts {
  std::string alpn, tls_version;
  std::vector<std::string> sans;
  bool verified = false;
  std::optional<std::vector<std::string>> origin_set;
};
struct trace_log {
  std::map<std::int64_t, connection_facts> conns;
  std::vector<std::int64_t> misdirected_on;  // the connection of each 421 (request.misdirected)

  void on(const h2coal::trace::event& e) {
    auto integer = [&e](std::string_view n) -> std::int64_t {
      const auto* v = e.find(n);
      const auto* i = v ? std::get_if<std::int64_t>(v) : nullptr;
      return i ? *i : 0;
    };
    auto text = [&e](std::string_view n) -> std::string {
      const auto* v = e.find(n);
      const auto* s = v ? std::get_if<std::string>(v) : nullptr;
      return s ? *s : std::string();
    };
    auto list = [&e](std::string_view n) -> std::vector<std::string> {
      const auto* v = e.find(n);
      const auto* l = v ? std::get_if<std::vector<std::string>>(v) : nullptr;
      return l ? *l : std::vector<std::string>{};
    };
    if (e.ev == "conn.ready") {
      auto& c = conns[integer("conn")];
      c.alpn = text("alpn");
      c.tls_version = text("tls_version");
      c.sans = list("peer_sans");
      const auto* v = e.find("verified");
      c.verified = v && std::holds_alternative<bool>(*v) && std::get<bool>(*v);
    } else if (e.ev == "conn.origin_frame") {
      conns[integer("conn")].origin_set = list("origin_set");
    } else if (e.ev == "request.misdirected") {
      misdirected_on.push_back(integer("conn"));
    }
  }
};

struct fetched {
  std::error_code ec;
  h2coal::response resp;
  std::string digest;
};

// GET (or HEAD) `url` on `c`; the body is digested as it streams past, never kept.
fetched get(asio::io_context& io, h2coal::client& c, const std::string& url, bool head) {
  auto digest = std::make_shared<h2tools::sha256_stream>();
  fetched out;
  bool done = false;
  h2coal::request req;
  req.url = url;
  if (head) req.method = "HEAD";
  req.on_body = [digest](std::string_view piece) { digest->update(piece); };
  c.async_request(req, [&](std::error_code ec, h2coal::response r) {
    out.ec = ec;
    out.resp = std::move(r);
    done = true;
  });
  run_until(io, [&] { return done; });
  out.digest = digest->hex_digest();
  return out;
}

std::string url_of(const origin_facts& f) { return f.origin.serialize() + f.path; }

// A client of the options, with the policy given and the trace going to `log`.
std::unique_ptr<h2coal::client> make_client(asio::io_context& io, h2coal::client_options opts, h2coal::any_policy p,
                                            trace_log& log) {
  opts.policies = h2coal::policy_map(std::move(p));
  opts.trace = [&log](const h2coal::trace::event& e) { log.on(e); };
  return std::make_unique<h2coal::client>(io.get_executor(), opts);
}

// The text report on stdout, and the JSON and HTML files asked for; false when one could not be written
// (said on stderr). With --json - stdout is the JSON's alone: the text goes to stderr.
bool write_reports(const command_line& cl, const audit& a) {
  (cl.json_file == "-" ? std::cerr : std::cout) << text_report(a);
  if (!cl.json_file.empty()) {
    const std::string json = json_report(a);
    if (cl.json_file == "-") {
      std::cout << json;
    } else {
      std::ofstream out(cl.json_file, std::ios::binary);
      if (!(out << json)) {
        std::cerr << "h2audit: (23) could not write '" << cl.json_file << "' (--json)\n";
        return false;
      }
    }
  }
  if (!cl.html_file.empty()) {
    std::ofstream out(cl.html_file, std::ios::binary);
    if (!(out << html_report(a))) {
      std::cerr << "h2audit: (23) could not write '" << cl.html_file << "' (--html)\n";
      return false;
    }
  }
  std::cout.flush();
  return true;
}

int run(int argc, char** argv) {
  command_line cl;
  if (auto code = parse(argc, argv, cl)) return *code;

  audit a;
  a.rounds = cl.rounds;
  if (cl.head) a.method = "HEAD";
#if defined(H2AUDIT_HAS_JSON)
  if (!cl.netlog.empty()) {
    std::ifstream in(cl.netlog, std::ios::binary);
    if (!in) {
      std::cerr << "h2audit: (2) cannot read '" << cl.netlog << "' (--netlog)\n";
      return exit_code::usage;
    }
    auto n = read_netlog(in);
    if (!n.error.empty()) {
      std::cerr << "h2audit: (2) '" << cl.netlog << "' is no Chromium NetLog (--netlog): " << n.error << "\n";
      return exit_code::usage;
    }
    n.report.file = cl.netlog;
    a.netlog = std::move(n.report);
  }
#endif
  if (cl.targets.empty()) return write_reports(cl, a) ? exit_code::ok : exit_code::write_error;

  asio::io_context io;
  h2coal::client_options base;
  if (auto f = h2tools::apply(cl.nt, io.get_executor(), base)) {
    std::cerr << "h2audit: (" << f->code << ") " << f->message << "\n";
    return f->code;
  }
  base.connect_timeout = std::chrono::milliseconds(static_cast<long long>(cl.nt.connect_timeout * 1000));
  base.handshake_timeout = base.connect_timeout;
  base.request_timeout = std::chrono::milliseconds(static_cast<long long>(cl.max_time * 1000));

  // The origins, each once, with their paths.
  std::map<std::string, std::string> path_for;
  for (const auto& spec : cl.paths) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 >= spec.size() || spec[eq + 1] != '/') {
      std::cerr << "h2audit: (2) --paths: '" << spec << "' is not host=/path\n";
      return exit_code::usage;
    }
    path_for[spec.substr(0, eq)] = spec.substr(eq + 1);
  }
  for (const auto& t : cl.targets) {
    auto parsed = target_of(t);
    if (!parsed) {
      std::cerr << "h2audit: (3) '" << t << "' is no host name, host:port or https:// URL\n";
      return exit_code::bad_url;
    }
    auto& [o, path] = *parsed;
    if (std::any_of(a.origins.begin(), a.origins.end(), [&o](const origin_facts& f) { return f.origin == o; })) continue;
    origin_facts f;
    f.origin = o;
    f.path = path;
    if (auto it = path_for.find(o.host); it != path_for.end()) f.path = it->second;
    if (auto it = path_for.find(o.authority()); it != path_for.end()) f.path = it->second;
    a.origins.push_back(std::move(f));
  }

  // Gather: every name resolved `rounds` times through the same resolver the client uses.
  for (auto& f : a.origins) {
    f.rerouted = std::any_of(base.connect_to.begin(), base.connect_to.end(),
                             [&f](const h2coal::connect_to_rule& r) { return r.matches(f.origin.host, f.origin.port); });
    std::set<std::string> all;
    std::string last_error;
    for (unsigned r = 0; r < cl.rounds; ++r) {
      bool done = false;
      base.resolver->async_resolve(io.get_executor(), f.origin.host, f.origin.port,
                                   [&](std::error_code ec, h2coal::resolution res) {
                                     std::vector<std::string> addrs;
                                     for (const auto& addr : res.addresses) addrs.push_back(addr.to_string());
                                     std::sort(addrs.begin(), addrs.end());
                                     if (ec) last_error = res.reason.empty() ? ec.message() : ec.message() + " (" + res.reason + ")";
                                     all.insert(addrs.begin(), addrs.end());
                                     f.rounds.push_back(std::move(addrs));
                                     done = true;
                                   });
      run_until(io, [&] { return done; });
    }
    f.addresses.assign(all.begin(), all.end());
    if (f.addresses.empty()) f.resolve_error = last_error.empty() ? "no address" : last_error;  // only when every round failed
    f.answers_differ = std::any_of(f.rounds.begin(), f.rounds.end(), [&f](const auto& r) { return r != f.rounds.front(); });
  }

  // One handshake per origin, on a strict client (each origin its own connection), and its own answer.
  int first_failure = 0;
  {
    trace_log log;
    auto own = make_client(io, base, h2coal::policies::strict(), log);
    for (auto& f : a.origins) {
      if (!f.resolve_error.empty()) {
        f.error = "could not resolve host: " + f.origin.host + " (" + f.resolve_error + ")";
        f.exit_code = exit_code::resolve;
        if (!first_failure) first_failure = f.exit_code;
        continue;
      }
      auto r = get(io, *own, url_of(f), cl.head);
      if (r.ec) {
        h2tools::failure_context ctx;
        ctx.url = url_of(f);
        ctx.has_ca_file = !base.tls.ca_file.empty();
        ctx.detail = r.resp.error_detail;
        auto why = h2tools::describe(r.ec, ctx);
        f.error = why.message;
        f.exit_code = why.code;
        if (!first_failure) first_failure = why.code;
        continue;
      }
      f.status = r.resp.status;
      f.digest = r.digest;
      f.connected_ip = r.resp.remote_address;
      const auto& c = log.conns[static_cast<std::int64_t>(r.resp.connection)];
      f.alpn = c.alpn;
      f.tls_version = c.tls_version;
      f.sans = c.sans;
      f.verified = c.verified;
      f.origin_set = c.origin_set;
    }
  }

  // Predict, then probe each pair: A's path on a fresh client of the model, then B's on it.
  a.pairs = predicted_pairs(a.origins);
  std::size_t sent = 0;
  for (auto& p : a.pairs) {
    if (sent + 2 > cl.max_requests) break;
    const auto& from = a.origins[p.from];
    const auto& to = a.origins[p.to];
    trace_log log;
    auto c = make_client(io, base, policy_for(p.shared_by.front()), log);
    auto opened = get(io, *c, url_of(from), cl.head);
    sent += 2;
    auto probe_failed = [&](const fetched& r, const std::string& url, const std::string& what) {
      h2tools::failure_context ctx;
      ctx.url = url;
      ctx.detail = r.resp.error_detail;
      auto why = h2tools::describe(r.ec, ctx);
      p.result = verdict::error;
      p.detail = what + why.message;
      p.exit_code = why.code;
    };
    if (opened.ec) {
      probe_failed(opened, url_of(from), "the connection for " + from.name() + ": ");
      continue;
    }
    auto shared = get(io, *c, url_of(to), cl.head);
    if (shared.ec) {
      probe_failed(shared, url_of(to), "");
      continue;
    }
    p.status = shared.resp.status;
    p.digest = shared.digest;
    const auto conn = static_cast<std::int64_t>(opened.resp.connection);
    // A 421 on A's connection: the client went again on one of B's own (what it answered there is B's).
    if (std::find(log.misdirected_on.begin(), log.misdirected_on.end(), conn) != log.misdirected_on.end())
      p.result = verdict::misdirected;
    else if (!shared.resp.coalesced || shared.resp.connection != opened.resp.connection) p.result = verdict::not_shared;
    else if (shared.resp.status == to.status && shared.digest == to.digest) p.result = verdict::same;
    else p.result = verdict::misrouted;
  }

  if (!write_reports(cl, a)) return exit_code::write_error;
  for (const auto& f : a.origins)
    if (!f.error.empty()) std::cerr << "h2audit: (" << f.exit_code << ") " << f.error << "\n";
  if (a.misrouted()) return 1;
  if (first_failure) return first_failure;
  // A probe that failed leaves the audit incomplete: not clean.
  for (const auto& p : a.pairs)
    if (p.result == verdict::error) {
      std::cerr << "h2audit: (" << p.exit_code << ") probe " << a.origins[p.from].name() << " -> "
                << a.origins[p.to].name() << ": " << p.detail << "\n";
      return p.exit_code;
    }
  return exit_code::ok;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "h2audit: " << e.what() << "\n";
    return 1;
  }
}
