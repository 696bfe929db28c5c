// SPDX-License-Identifier: BSL-1.0
// examples/h2get/cli.hpp: h2get's command line (DESIGN section 7), parsed with CLI11, spelled as curl.
//
// Parsing only: what the options mean for the client is main.cpp's business. Errors are reported as
// curl does for a bad option (exit 2) and never throw out of parse().
#pragma once

#include "exit_codes.hpp"
#include "glob.hpp"
#include "write_out.hpp"

#include <h2coal/config.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace h2get {
using namespace h2tools;  // the tools' exit codes and failures (examples/common)

struct command_line {
  std::vector<std::string> urls;
  std::vector<std::string> resolve;  // --resolve HOST:PORT:ADDR[,ADDR...]
  std::vector<std::string> connect_to;  // --connect-to HOST1:PORT1:HOST2:PORT2
  // TLS versions (curl --tlsv1.x: the oldest allowed; --tls-max: the newest offered) and cipher lists.
  std::string tls_min = "1.2", tls_max = "default";
  std::string ciphers, tls13_ciphers;
  std::vector<std::string> headers;  // -H "Name: value"
  // -d, --data-binary, --data-raw, --data-urlencode, in command-line order, joined with '&'.
  struct data_part {
    enum class kind { ascii, binary, raw, urlencode } how = kind::ascii;
    std::string value;
  };
  std::vector<data_part> data;
  // -o FILE and -O, in command-line order: each names the output of the next URL (curl's rule).
  struct output_spec {
    bool remote_name = false;  // -O: the last segment of the URL's path
    std::string file;          // -o
    bool none = false;         // no -o or -O for this URL: stdout (or --remote-name-all)
  };
  std::vector<output_spec> outputs;  // after parsing: one per URL, globs expanded
  std::size_t output_options = 0;    // how many -o and -O were given
  bool globoff = false;              // -g
  bool progress_bar = false;         // -#
  bool remote_name_all = false;      // --remote-name-all: -O for every URL without an output
  bool remote_header_name = false;   // -J: -O takes the name Content-Disposition gives
  std::string output_dir;            // --output-dir
  bool create_dirs = false, remove_on_error = false, fail_with_body = false, get = false, no_progress_meter = false;
  std::optional<long long> max_filesize;  // --max-filesize bytes (exit 63)
  std::optional<std::string> user_agent, referer, user, cookie;  // -A, -e, -u, -b
  std::string cookie_jar;            // -c FILE: the cookies known at the end ("-": stdout)
  std::vector<std::string> form;     // -F name=content, in order
  std::string dump_header;           // -D FILE ("-": stdout)
  std::string upload_file;           // -T FILE ("-": stdin)
  std::optional<std::string> range;  // -r RANGE: "Range: bytes=RANGE"
  std::optional<std::string> continue_at;  // -C OFFSET or -C - (the output file's size)
  std::uint64_t limit_rate = 0;      // --limit-rate, bytes per second (0: none)
  std::optional<std::string> dns_servers;  // --dns-servers ADDR[:PORT][,...] (c-ares)
  std::string pinned_public_key;           // --pinnedpubkey sha256//BASE64[;sha256//BASE64...]
  enum class ip { any, v4, v6 } ip_family = ip::any;  // -4 / -6, the later one wins
  bool no_sessionid = false;
  // Proxies (DESIGN section 13), as curl: the last of -x, --socks5 and --socks5-hostname wins and
  // becomes a proxy URL here ("socks5://" + HOST:PORT); an empty -x turns proxies off, the
  // environment's too. Without any of them the environment's variables apply.
  std::optional<std::string> proxy;
  std::string proxy_option;                // the option `proxy` came from, for messages
  std::optional<std::string> noproxy;      // --noproxy: replaces no_proxy / NO_PROXY
  std::optional<std::string> proxy_user;   // -U user:password, replaces the proxy URL's credentials
  std::string proxy_cacert;                // --proxy-cacert: trust for an https:// proxy, as --cacert
  bool proxy_insecure = false;             // --proxy-insecure
  std::string policy = "origin";
  std::string ip_match = "connected";
  std::string cacert, cert, key, method, trace_file, graph_file, write_out;
  double connect_timeout = -1;  // seconds; negative: the library's default
  double max_time = -1;
  // Request features (DESIGN section 12), as curl: -L, --max-redirs, --compressed, --retry.
  bool location = false;
  long max_redirs = 50;         // curl's default; -1: no limit
  bool compressed = false;
  long retry = 0;               // retries, on top of the first attempt
  double retry_delay = 0;       // seconds between retries; 0: backoff from 1 s, doubling
  double retry_max_time = 0;    // seconds: no retry starts later than this after the first attempt
  bool retry_all_errors = false;  // --retry-all-errors
  double expect100_timeout = 1;
  enum class http { automatic, http1_1, h2_prior_knowledge } version = http::automatic;
  bool insecure = false, include = false, head = false, parallel = false, silent = false, show_error = false,
       verbose = false, fail = false, probe = false;
};

inline const char* help_text() {
  return R"(Usage: h2get [options...] <url>...
Fetch URLs on one HTTP/2 client whose connection pool may coalesce origins, and show
which connection carried each request and why. Options are spelled as curl spells them.

 -4, --ipv4                 Connect over IPv4 only (the later of -4 and -6 wins)
 -6, --ipv6                 Connect over IPv6 only
 -A, --user-agent <name>    Send this User-Agent ("" sends none)
 -c, --cookie-jar <file>    Write the cookies the servers set (and those of a -b file) to <file>
                            at the end, in the Netscape format; "-" is stdout. Received cookies
                            go with the later URLs of the same run
 -C, --continue-at <offset>  Resume at <offset> bytes, or "-": where the output file ends (a
                            server that ignores the range: exit 33; the whole file there: done)
 -b, --cookie <data|file>   Send cookies: "name=value; ..." as given, else read a cookie file
                            (Netscape format, as curl -c writes) and send the ones that match
 -K, --config <file>        Read options from <file> (curl's syntax: "option = value" lines, '#'
                            comments, quoted values); "-" reads stdin
 -d, --data <data>          HTTP POST data; @FILE reads a file (CR and LF removed), @- stdin;
                            repeatable, joined with '&' (with the other --data options, in order)
     --data-binary <data>   As -d, but @FILE is sent byte for byte
     --data-raw <data>      As -d, but '@' is not special
     --data-urlencode <data>  Percent-encoded data: content, =content, name=content, @file,
                            name@file
 -D, --dump-header <file>   Write each response's status line and header fields to <file> ("-":
                            stdout), all transfers in one file
 -e, --referer <URL>        Send this Referer (";auto" is accepted and ignored)
     --cacert <file>        Trust only the CA certificates in <file> (PEM), not the system's store,
                            as curl does (the library's tls_options::ca_file alone adds to it)
 -E, --cert <file>          Client certificate file (PEM)
     --connect-timeout <seconds>  Maximum time for connecting (resolving, TCP and TLS handshake)
     --connect-to <HOST1:PORT1:HOST2:PORT2>  Connect to HOST2:PORT2 for requests to HOST1:PORT1
                            (repeatable; an empty part means any, or unchanged); the request, SNI and
                            certificate check stay HOST1's, and such a connection is never shared
     --ciphers <list>       TLS 1.2 cipher list, in OpenSSL's syntax (exit 59 when none is usable)
     --tls13-ciphers <list>  TLS 1.3 cipher suites, colon-separated
     --tlsv1.2, --tlsv1.3   Use TLS 1.2 or 1.3 at least (--tlsv1, --tlsv1.0, --tlsv1.1: h2coal speaks
                            TLS 1.2 and newer anyway)
     --tls-max <version>    Offer at most TLS <version>: 1.2, 1.3 or default
     --dns-servers <addresses>  DNS servers to ask instead of the system's: ip[:port],... (IPv6 in
                            brackets before a port); needs h2get built with c-ares (else exit 4)
 -F, --form <name=content>  A multipart/form-data POST part (repeatable): name=value, name=@file
                            (a file, its type from the extension or ";type="), name=<file (its text)
 -f, --fail                 Fail with no output on HTTP errors (status >= 400, exit 22)
     --fail-with-body       Exit 22 on HTTP errors, but write the body
     --create-dirs          Create the folders a -o, -O or --output-dir file needs
 -#, --progress-bar         A bar of '#' instead of curl's columns as the progress meter
 -g, --globoff              No URL globbing: "{a,b}" and "[1-3]" are sent as they are
 -G, --get                  Put the data options in the URL's query and send a GET (HEAD with -I)
     --graph <file>         Write which origins went over which connection as Graphviz DOT;
                            rendered as SVG when the name ends in .svg and `dot` is installed
     --compressed           Ask for a compressed body (gzip, deflate, br, zstd) and decode it
     --expect100-timeout <seconds>  How long a body over 1 MiB waits for 100 Continue
 -H, --header <header>      Extra header "Name: value" (repeatable); "Name:" removes a default one
 -h, --help <category>      Help for a category's options ("category" lists them, "all" shows all)
     --http1.1              Use HTTP/1.1 only
     --http2                HTTP/2 where the server offers it by ALPN, else HTTP/1.1 (the default)
     --http2-prior-knowledge  HTTP/2 without upgrade for http:// (h2c); only h2 in ALPN for https://
 -I, --head                 Show the response headers only (HEAD request)
 -i, --include              Include the response headers in the output
 -k, --insecure             Do not verify the server certificate (turns coalescing off)
     --ip-match <rule>      Address rule of the browser and origin policies: connected (the
                            connected IP is among the host's addresses) or any (any overlap)
     --key <file>           Private key file (PEM) for --cert
 -L, --location             Follow redirects (301, 302, 303, 307, 308); credentials are not sent to
                            another origin; https to http is refused (exit 1)
 -m, --max-time <seconds>   Maximum time for each transfer (redirects and retries included)
     --limit-rate <speed>   Receive at most <speed> bytes per second (k, m, g: KiB, MiB, GiB); the
                            server is held back by flow control, nothing piles up
     --max-filesize <bytes>  Fail (exit 63) when the body would be larger than this; told by
                            Content-Length before anything is written, else when the limit is passed
     --max-redirs <num>     At most this many redirects with -L (default 50; -1: no limit; exit 47)
     --no-progress-meter    No progress meter, but error messages as usual
     --no-sessionid         Do not resume TLS sessions (every handshake is a full one)
     --noproxy <no-proxy-list>  Hosts that go direct: comma list of names (domain suffixes),
                            IP addresses, CIDR ranges, host:port, or "*"; replaces no_proxy
 -o, --output <file>        Write the body to <file> instead of stdout (repeatable, in URL order;
                            "-" is stdout); made once the response starts, as the bytes arrive
 -O, --remote-name          Write the body to a file named as the URL's last path segment
 -J, --remote-header-name   With -O: the name Content-Disposition gives (its last segment only,
                            never a path elsewhere); an existing file is not overwritten (exit 23)
     --output-dir <dir>     Put the -o and -O files in <dir>
     --remote-name-all      -O for every URL that has no -o or -O of its own
     --remove-on-error      Remove the output file when the transfer fails
 -Z, --parallel             Run the transfers concurrently (output still in URL order)
     --pinnedpubkey <hashes>  sha256//BASE64[;sha256//BASE64...]: every server's public key must
                            match one of these SHA-256 hashes of its SubjectPublicKeyInfo (exit 90)
     --policy <name>        Coalescing policy: strict, browser or origin (default: origin)
     --probe                Fetch every coalesced URL again on a connection of its own; report
                            "misrouted" when status or body differ (exit 120)
 -x, --proxy <[protocol://][user:password@]host[:port]>  Use this proxy: http:// (the default),
                            https://, socks5:// or socks5h://; port 1080 (443 for https://);
                            "" uses no proxy, not even the environment's. Without -x, curl's
                            variables apply: https_proxy, HTTPS_PROXY, http_proxy, all_proxy,
                            ALL_PROXY, no_proxy, NO_PROXY
     --proxy-cacert <file>  Trust only the CA certificates in <file> for an https:// proxy (as
                            --cacert)
     --proxy-insecure       Do not verify an https:// proxy's certificate
 -U, --proxy-user <user:password>  Proxy user and password (replace those of the proxy URL)
     --resolve <host:port:addr[,addr]...>  Resolve host and port to these addresses (repeatable);
                            other names go to DNS (c-ares when built in, else the system's resolver)
 -X, --request <method>     Request method to use
     --retry <num>          Retry up to <num> times after a transient error: a timeout, a failed
                            connection, or status 408, 429, 500, 502, 503, 504 (Retry-After
                            honoured); waits 1 s, doubling up to 10 minutes
     --retry-all-errors     With --retry: retry after any error (a connection lost, a TLS or
                            protocol error, ...), and with -f after any HTTP error status; only for
                            requests that may be sent twice (GET, PUT, ...), before any output
     --retry-delay <seconds>  Wait this long between retries instead
     --retry-max-time <seconds>  Start no retry later than this after the transfer began
 -r, --range <range>        Ask for these bytes only: "Range: bytes=<range>"
 -S, --show-error           Show error messages even with -s
 -T, --upload-file <file>   PUT <file>, streamed (the URL gets its name when it has no file part);
                            "-" reads stdin
 -u, --user <user:password>  Basic authentication (a user without ':' gets an empty password)
     --url <url>            A URL, as an argument would be
 -s, --silent               Silent mode: no progress meter, no error messages
     --socks5 <host[:port]> SOCKS5 proxy; h2get resolves the names (= -x socks5://host:port)
     --socks5-hostname <host[:port]>  SOCKS5 proxy that resolves the names (= -x socks5h://...)
     --trace <file>         Write every pool decision and connection event as JSON lines ("-": stderr)
 -v, --verbose              Pool decisions and connection events on stderr, then the connection table
 -V, --version              Show the version and quit
 -w, --write-out <format>   Print <format> after each transfer, e.g. '%{http_code} %{connection}\n'
)";
}

inline const char* exit_codes_help() {
  return R"(
Exit codes (curl's meanings): 0 success, 1 unsupported protocol, 2 bad option, 3 bad URL,
4 feature not built in, 5 could not resolve the proxy (or a proxy URL's syntax is bad), 6 could not
resolve host, 7 could not connect (to the host or the proxy; also an unsupported proxy scheme),
16 HTTP/2 error, 22 HTTP error with --fail, 23 write error, 26 read error, 33 -C and a server
that ignores the range, 63 --max-filesize exceeded, 28 timeout (resolving
included), 35 TLS handshake error (with the host or an https:// proxy), 52 empty reply, 56 receive
error (also a proxy's CONNECT answered non-2xx, 407 included), 58 client certificate problem,
60 server certificate not valid, 77 bad --cacert or --proxy-cacert file, 90 public key does not
match --pinnedpubkey, 92 HTTP/2 stream error, 97 SOCKS5 proxy error; h2get's own: 120 --probe found
a misrouted response; 47 too many redirects, 61 a body not valid in its Content-Encoding.
With several URLs the last one's result is the exit code, as in curl.
)";
}

/// curl's help categories that h2get has options in, and h2get's own (coalescing), with curl's words.
inline const std::vector<std::pair<std::string, std::string>>& help_categories() {
  static const std::vector<std::pair<std::string, std::string>> all = {
      {"auth", "Different types of authentication methods"},
      {"coalescing", "Which connection carries which request, and showing it (h2get's own)"},
      {"connection", "Low level networking operations"},
      {"curl", "The command line tool itself"},
      {"dns", "General DNS options"},
      {"http", "HTTP and HTTPS protocol options"},
      {"output", "Filesystem output"},
      {"post", "HTTP Post specific options"},
      {"proxy", "All options related to proxies"},
      {"tls", "All TLS/SSL related options"},
      {"upload", "All options for uploads"},
      {"verbose", "Options related to any kind of command line output of curl"},
  };
  return all;
}

/// The categories of an option (its long name), as curl files it; "important" ones are in plain --help.
inline std::string help_categories_of(std::string_view long_name) {
  static const std::map<std::string, std::string, std::less<>> of = {
      {"--cacert", "tls"}, {"--cert", "tls"}, {"--ciphers", "tls"}, {"--compressed", "http"},
      {"--config", "curl"}, {"--connect-timeout", "connection"}, {"--connect-to", "connection dns"},
      {"--continue-at", "connection"}, {"--cookie", "http"}, {"--cookie-jar", "http"}, {"--create-dirs", "output"},
      {"--data", "important post"}, {"--data-binary", "post"}, {"--data-raw", "post"}, {"--data-urlencode", "post"},
      {"--dns-servers", "dns"}, {"--dump-header", "http output"}, {"--expect100-timeout", "http"},
      {"--fail", "important http"}, {"--fail-with-body", "http output"}, {"--form", "http upload post"},
      {"--get", "http upload"}, {"--globoff", "curl"}, {"--graph", "coalescing verbose"}, {"--head", "http"},
      {"--header", "http"}, {"--help", "important curl"}, {"--http1.1", "http"}, {"--http2", "http"},
      {"--http2-prior-knowledge", "http"}, {"--include", "important http"}, {"--insecure", "tls"},
      {"--ip-match", "coalescing"}, {"--ipv4", "connection dns"}, {"--ipv6", "connection dns"}, {"--key", "tls"},
      {"--limit-rate", "connection"}, {"--location", "http"}, {"--max-filesize", "connection"},
      {"--max-redirs", "http"}, {"--max-time", "connection"}, {"--no-progress-meter", "verbose"},
      {"--no-sessionid", "tls"}, {"--noproxy", "proxy"}, {"--output", "important output"},
      {"--output-dir", "output"}, {"--parallel", "connection curl"}, {"--pinnedpubkey", "tls"},
      {"--policy", "important coalescing"}, {"--probe", "important coalescing"}, {"--progress-bar", "verbose"},
      {"--proxy", "proxy"}, {"--proxy-cacert", "proxy tls"}, {"--proxy-insecure", "proxy tls"},
      {"--proxy-user", "proxy auth"}, {"--range", "http"}, {"--referer", "http"}, {"--remote-header-name", "output"},
      {"--remote-name", "important output"}, {"--remote-name-all", "output"}, {"--remove-on-error", "output"},
      {"--request", "connection"}, {"--resolve", "connection dns"}, {"--retry", "curl"},
      {"--retry-all-errors", "curl"}, {"--retry-delay", "curl"}, {"--retry-max-time", "curl"},
      {"--show-error", "curl"}, {"--silent", "important verbose"}, {"--socks5", "proxy"},
      {"--socks5-hostname", "proxy"}, {"--tls-max", "tls"}, {"--tls13-ciphers", "tls"}, {"--tlsv1.2", "tls"},
      {"--trace", "coalescing verbose"}, {"--upload-file", "important upload"}, {"--url", "curl"},
      {"--user", "important auth"}, {"--user-agent", "important http"}, {"--verbose", "important verbose coalescing"},
      {"--version", "important curl"}, {"--write-out", "verbose"},
  };
  auto it = of.find(long_name);
  return it == of.end() ? std::string("misc") : it->second;
}

/// curl's --help: without a category the important options and how to see the rest; "all" every option
/// in the order of its long name (as curl's --help all), then the -w variables and the exit codes;
/// "category" the list of categories; a category its options.
inline std::string help_for(const std::string& category) {
  const std::string usage = "Usage: h2get [options...] <url>...\n";
  auto category_list = [] {
    std::string out;
    for (const auto& [name, what] : help_categories()) out += " " + name + std::string(12 - name.size(), ' ') + what + "\n";
    return out;
  };
  if (category == "category") return usage + category_list();
  // The option entries of the full text: a line that starts an option, then its continuation lines.
  std::vector<std::pair<std::string, std::string>> entries;  // (long name, text)
  std::string intro;  // the lines before the first option
  std::istringstream in(help_text());
  for (std::string line; std::getline(in, line);) {
    const bool starts = line.size() > 5 && (line[1] == '-' || line.compare(0, 7, "     --") == 0);
    if (starts) {
      const auto at = line.find("--");
      const auto end = line.find_first_of(" ,<", at);
      entries.emplace_back(line.substr(at, end - at), line + "\n");
    } else if (!entries.empty() && line.compare(0, 10, "          ") == 0) {
      entries.back().second += line + "\n";
    } else if (entries.empty()) {
      intro += line + "\n";
    }
  }
  if (category == "all") {
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out = intro;
    for (const auto& e : entries) out += e.second;
    return out + write_out_variables_help() + exit_codes_help();
  }
  auto in_category = [](const std::string& cats, const std::string& c) {
    std::istringstream words(cats);
    for (std::string w; words >> w;)
      if (w == c) return true;
    return false;
  };
  const std::string wanted = category.empty() ? "important" : category;
  std::string out = usage;
  if (!category.empty()) {
    auto known = std::find_if(help_categories().begin(), help_categories().end(),
                              [&category](const auto& c) { return c.first == category; });
    if (known == help_categories().end())
      return usage + "Invalid category provided, here is a list of all categories:\n\n" + category_list();
    out += known->first + ": " + known->second + "\n";
  }
  for (const auto& [name, text] : entries)
    if (in_category(help_categories_of(name), wanted)) out += text;
  if (category.empty())
    out += "\nThis is not the full help, this menu is stripped into categories.\n"
           "Use \"--help category\" to get an overview of all categories.\n"
           "For all options use the manual or \"--help all\".\n";
  return out;
}

/// One line of a -K file split as curl does: "option value", "option = value", "option: value", with or
/// without the leading dashes of a long option; a value in double quotes may hold spaces and the escapes
/// \\ \" \t \n \r \v. Returns the words (none for a blank line or a comment); false on a bad line.
inline bool config_line_words(std::string line, std::vector<std::string>& words, std::string& problem) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::size_t p = 0;
  while (p < line.size() && is_space(line[p])) ++p;
  if (p == line.size() || line[p] == '#') return true;
  std::size_t start = p;
  while (p < line.size() && !is_space(line[p]) && line[p] != '=' && line[p] != ':') ++p;
  std::string option = line.substr(start, p - start);
  if (option.empty()) {
    problem = "no option name";
    return false;
  }
  if (option[0] != '-') option = "--" + option;
  words.push_back(option);
  while (p < line.size() && is_space(line[p])) ++p;
  if (p < line.size() && (line[p] == '=' || line[p] == ':')) ++p;
  while (p < line.size() && is_space(line[p])) ++p;
  if (p == line.size()) return true;  // an option without a value (a flag)
  std::string value;
  if (line[p] == '"') {
    for (++p; p < line.size() && line[p] != '"'; ++p) {
      if (line[p] == '\\' && p + 1 < line.size()) {
        const char e = line[++p];
        value += e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 'v' ? '\v' : e;
      } else {
        value += line[p];
      }
    }
    if (p == line.size()) {
      problem = "unterminated quote";
      return false;
    }
  } else {
    start = p;
    while (p < line.size() && !is_space(line[p])) ++p;
    value = line.substr(start, p - start);
  }
  words.push_back(value);
  return true;
}

/// The command line with every -K/--config FILE replaced, where it stands, by the options in that file
/// ("-" is stdin; files may name files, ten deep at most). Empty optional and `problem` set on failure.
inline std::optional<std::vector<std::string>> expand_config(std::vector<std::string> args, std::string& problem,
                                                              int depth = 0) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::optional<std::string> file;
    if (a == "-K" || a == "--config") {
      if (i + 1 >= args.size()) {
        problem = a + ": needs a file";
        return std::nullopt;
      }
      file = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      file = a.substr(9);
    } else if (a.size() > 2 && a.rfind("-K", 0) == 0) {
      file = a.substr(2);
    }
    if (!file) {
      out.push_back(a);
      continue;
    }
    if (depth >= 10) {
      problem = "-K: config files nested too deep";
      return std::nullopt;
    }
    std::ifstream in_file;
    std::istream* in = &std::cin;
    if (*file != "-") {
      in_file.open(*file, std::ios::binary);
      if (!in_file) {
        problem = "-K: cannot read the config file '" + *file + "'";
        return std::nullopt;
      }
      in = &in_file;
    }
    std::vector<std::string> words;
    std::size_t number = 0;
    for (std::string line; std::getline(*in, line);) {
      ++number;
      std::string why;
      if (!config_line_words(line, words, why)) {
        problem = "-K: " + *file + ":" + std::to_string(number) + ": " + why;
        return std::nullopt;
      }
    }
    auto nested = expand_config(std::move(words), problem, depth + 1);
    if (!nested) return std::nullopt;
    out.insert(out.end(), nested->begin(), nested->end());
  }
  return out;
}

/// Parses argv into `cl`. Returns an exit code when h2get must stop now (help, version, bad usage).
inline std::optional<int> parse_command_line(int argc, char** argv, command_line& cl) {
  CLI::App app{"h2get", "h2get"};
  app.set_help_flag();  // replaced by a curl-like text below
  bool version = false, http11 = false, h2pk = false, ipv4 = false, ipv6 = false;

  auto last = CLI::MultiOptionPolicy::TakeLast;
  auto flag = [&](const std::string& names, bool& target) {
    app.add_flag(names, target)->multi_option_policy(last);
  };
  std::string help_category;  // --help [category]
  auto* ohelp = app.add_option("-h,--help", help_category)->expected(0, 1)->multi_option_policy(last);
  flag("-V,--version", version);
  flag("-k,--insecure", cl.insecure);
  flag("-i,--include", cl.include);
  flag("-I,--head", cl.head);
  flag("-Z,--parallel", cl.parallel);
  flag("-s,--silent", cl.silent);
  flag("-S,--show-error", cl.show_error);
  flag("-v,--verbose", cl.verbose);
  flag("-f,--fail", cl.fail);
  flag("--probe", cl.probe);
  flag("--no-sessionid", cl.no_sessionid);
  flag("-L,--location", cl.location);
  flag("--compressed", cl.compressed);
  flag("--retry-all-errors", cl.retry_all_errors);
  app.add_option("--max-redirs", cl.max_redirs)->check(CLI::Range(-1L, 1000000L))->multi_option_policy(last);
  app.add_option("--retry", cl.retry)->check(CLI::Range(0L, 1000000L))->multi_option_policy(last);
  app.add_option("--retry-delay", cl.retry_delay)->check(CLI::NonNegativeNumber)->multi_option_policy(last);
  app.add_option("--retry-max-time", cl.retry_max_time)->check(CLI::NonNegativeNumber)->multi_option_policy(last);
  app.add_option("--expect100-timeout", cl.expect100_timeout)->check(CLI::NonNegativeNumber)->multi_option_policy(last);
  auto* o4 = app.add_flag("-4,--ipv4", ipv4)->multi_option_policy(last);
  auto* o6 = app.add_flag("-6,--ipv6", ipv6)->multi_option_policy(last);
  auto* o11 = app.add_flag("--http1.1", http11)->multi_option_policy(last);
  auto* opk = app.add_flag("--http2-prior-knowledge", h2pk)->multi_option_policy(last);

  app.add_option("--policy", cl.policy)->check(CLI::IsMember({"strict", "browser", "origin"}))->multi_option_policy(last);
  app.add_option("--ip-match", cl.ip_match)->check(CLI::IsMember({"connected", "any"}))->multi_option_policy(last);
  app.add_option("--resolve", cl.resolve)->type_name("HOST:PORT:ADDR[,ADDR...]")->allow_extra_args(false);
  app.add_option("--connect-to", cl.connect_to)->type_name("HOST1:PORT1:HOST2:PORT2")->allow_extra_args(false);
  bool tls10 = false, tls11 = false, tls12 = false, tls13 = false;
  auto* ot1 = app.add_flag("--tlsv1,--tlsv1.0", tls10)->multi_option_policy(last);
  auto* ot11 = app.add_flag("--tlsv1.1", tls11)->multi_option_policy(last);
  auto* ot12 = app.add_flag("--tlsv1.2", tls12)->multi_option_policy(last);
  auto* ot13 = app.add_flag("--tlsv1.3", tls13)->multi_option_policy(last);
  app.add_option("--tls-max", cl.tls_max)->check(CLI::IsMember({"1.0", "1.1", "1.2", "1.3", "default"}))->multi_option_policy(last);
  app.add_option("--ciphers", cl.ciphers)->multi_option_policy(last);
  app.add_option("--tls13-ciphers", cl.tls13_ciphers)->multi_option_policy(last);
  app.add_option("--cacert", cl.cacert)->multi_option_policy(last);
  app.add_option("--dns-servers", cl.dns_servers)->multi_option_policy(last);
  app.add_option("--pinnedpubkey", cl.pinned_public_key)->multi_option_policy(last);
  app.add_option("-E,--cert", cl.cert)->multi_option_policy(last);
  app.add_option("--key", cl.key)->multi_option_policy(last);
  app.add_option("-X,--request", cl.method)->multi_option_policy(last);
  app.add_option("-H,--header", cl.headers)->allow_extra_args(false);
  std::vector<std::string> d_ascii, d_binary, d_raw, d_urlencode, o_files, url_options;
  std::size_t remote_names = 0;
  auto* od = app.add_option("-d,--data", d_ascii)->allow_extra_args(false);
  auto* odb = app.add_option("--data-binary", d_binary)->allow_extra_args(false);
  auto* odr = app.add_option("--data-raw", d_raw)->allow_extra_args(false);
  auto* odu = app.add_option("--data-urlencode", d_urlencode)->allow_extra_args(false);
  auto* oo = app.add_option("-o,--output", o_files)->allow_extra_args(false);
  auto* oO = app.add_flag("-O,--remote-name", remote_names);
  flag("--remote-name-all", cl.remote_name_all);
  flag("-g,--globoff", cl.globoff);
  flag("--progress-bar", cl.progress_bar);
  flag("-J,--remote-header-name", cl.remote_header_name);
  app.add_option("--output-dir", cl.output_dir)->multi_option_policy(last);
  flag("--create-dirs", cl.create_dirs);
  flag("--remove-on-error", cl.remove_on_error);
  flag("--fail-with-body", cl.fail_with_body);
  flag("-G,--get", cl.get);
  flag("--no-progress-meter", cl.no_progress_meter);
  bool http2 = false;
  auto* oh2 = app.add_flag("--http2", http2)->multi_option_policy(last);
  app.add_option("--max-filesize", cl.max_filesize)->check(CLI::Range(0LL, 1LL << 62))->multi_option_policy(last);
  app.add_option("-A,--user-agent", cl.user_agent)->multi_option_policy(last);
  app.add_option("-e,--referer", cl.referer)->multi_option_policy(last);
  app.add_option("-u,--user", cl.user)->multi_option_policy(last);
  app.add_option("-b,--cookie", cl.cookie)->multi_option_policy(last);
  app.add_option("-c,--cookie-jar", cl.cookie_jar)->multi_option_policy(last);
  app.add_option("-F,--form", cl.form)->allow_extra_args(false);
  app.add_option("-D,--dump-header", cl.dump_header)->multi_option_policy(last);
  app.add_option("-T,--upload-file", cl.upload_file)->multi_option_policy(last);
  app.add_option("-r,--range", cl.range)->multi_option_policy(last);
  app.add_option("-C,--continue-at", cl.continue_at)->multi_option_policy(last);
  std::string limit_rate;
  app.add_option("--limit-rate", limit_rate)->multi_option_policy(last);
  auto* ourl = app.add_option("--url", url_options)->allow_extra_args(false);
  app.add_option("--trace", cl.trace_file)->multi_option_policy(last);
  app.add_option("--graph", cl.graph_file)->multi_option_policy(last);
  app.add_option("-w,--write-out", cl.write_out)->multi_option_policy(last);
  app.add_option("--connect-timeout", cl.connect_timeout)->check(CLI::NonNegativeNumber)->multi_option_policy(last);
  app.add_option("-m,--max-time", cl.max_time)->check(CLI::NonNegativeNumber)->multi_option_policy(last);
  std::string proxy_x, socks5, socks5h;
  auto* ox = app.add_option("-x,--proxy", proxy_x)->multi_option_policy(last);
  auto* os5 = app.add_option("--socks5", socks5)->multi_option_policy(last);
  auto* os5h = app.add_option("--socks5-hostname", socks5h)->multi_option_policy(last);
  app.add_option("--noproxy", cl.noproxy)->multi_option_policy(last);
  app.add_option("-U,--proxy-user", cl.proxy_user)->multi_option_policy(last);
  app.add_option("--proxy-cacert", cl.proxy_cacert)->multi_option_policy(last);
  flag("--proxy-insecure", cl.proxy_insecure);
  std::vector<std::string> positional;
  auto* opos = app.add_option("url", positional);

  try {
    std::string problem;
    auto expanded = expand_config(std::vector<std::string>(argv + 1, argv + argc), problem);
    if (!expanded) {
      std::cerr << "h2get: (" << exit_code::usage << ") " << problem << "\n";
      return exit_code::usage;
    }
    for (auto& a : *expanded)
      if (a == "-#") a = "--progress-bar";  // a short name CLI11 would not take
    std::reverse(expanded->begin(), expanded->end());  // CLI11 takes the arguments last first
    app.parse(*expanded);
  } catch (const CLI::ParseError& e) {
    std::cerr << "h2get: (" << exit_code::usage << ") " << e.what() << "\n"
              << "h2get: try 'h2get --help' for more information\n";
    return exit_code::usage;
  }
  if (ohelp->count() > 0) {
    std::cout << help_for(help_category);
    return exit_code::ok;
  }
  if (version) {
    std::cout << "h2get " H2COAL_VERSION_STRING " (h2coal " H2COAL_VERSION_STRING ")\n"
              << "Protocols: http https\nFeatures: HTTP2 HTTP1.1 coalescing-policies ORIGIN-frames trace graph"
#if defined(H2COAL_HAS_CARES)
              << " AsynchDNS(c-ares)"
#endif
              << "\n";
    return exit_code::ok;
  }
  // The last --tlsv1.x wins; below 1.2 it is 1.2, the oldest h2coal speaks (which "at least" allows).
  for (auto* o : app.parse_order())
    if (o == ot1 || o == ot11 || o == ot12) cl.tls_min = "1.2";
    else if (o == ot13) cl.tls_min = "1.3";
  // As in curl, the last of --http1.1, --http2 and --http2-prior-knowledge wins (--http2: h2 by ALPN,
  // HTTP/1.1 where the server has no h2, which is h2coal's way anyway).
  for (auto* o : app.parse_order()) {
    if (o == o11) cl.version = command_line::http::http1_1;
    if (o == opk) cl.version = command_line::http::h2_prior_knowledge;
    if (o == oh2) cl.version = command_line::http::automatic;
  }
  // The options that repeat keep their command-line order: data parts, outputs, and URLs (--url or not).
  {
    std::size_t ia = 0, ib = 0, ir = 0, iu = 0, io = 0, iurl = 0, ipos = 0;
    using dk = command_line::data_part::kind;
    for (auto* o : app.parse_order()) {
      if (o == od && ia < d_ascii.size()) cl.data.push_back({dk::ascii, d_ascii[ia++]});
      else if (o == odb && ib < d_binary.size()) cl.data.push_back({dk::binary, d_binary[ib++]});
      else if (o == odr && ir < d_raw.size()) cl.data.push_back({dk::raw, d_raw[ir++]});
      else if (o == odu && iu < d_urlencode.size()) cl.data.push_back({dk::urlencode, d_urlencode[iu++]});
      else if (o == oo && io < o_files.size()) cl.outputs.push_back({false, o_files[io++]});
      else if (o == oO) cl.outputs.push_back({true, {}});
      else if (o == ourl && iurl < url_options.size()) cl.urls.push_back(url_options[iurl++]);
      else if (o == opos && ipos < positional.size()) cl.urls.push_back(positional[ipos++]);
    }
    while (ipos < positional.size()) cl.urls.push_back(positional[ipos++]);
    while (iurl < url_options.size()) cl.urls.push_back(url_options[iurl++]);
  }
  // Globbing (unless -g): each URL argument becomes the URLs it stands for, and its -o name ("#N") one
  // per URL; then there is one output entry per URL.
  cl.output_options = cl.outputs.size();
  {
    std::vector<std::string> urls;
    std::vector<command_line::output_spec> outputs;
    for (std::size_t i = 0; i < cl.urls.size(); ++i) {
      command_line::output_spec spec;
      if (i < cl.outputs.size()) spec = cl.outputs[i];
      else spec.none = true;
      if (cl.globoff) {
        urls.push_back(cl.urls[i]);
        outputs.push_back(spec);
        continue;
      }
      std::string problem;
      auto expanded = expand_glob(cl.urls[i], problem);
      if (!expanded) {
        std::cerr << "h2get: (" << exit_code::bad_url << ") " << problem << " of '" << cl.urls[i] << "'\n";
        return exit_code::bad_url;
      }
      for (auto& g : *expanded) {
        urls.push_back(std::move(g.url));
        auto one = spec;
        if (!one.remote_name && !one.none) one.file = glob_output_name(spec.file, g.values);
        outputs.push_back(std::move(one));
      }
    }
    cl.urls = std::move(urls);
    cl.outputs = std::move(outputs);
  }
  if (ipv4 || ipv6) {  // as with the protocol flags, the later one wins
    cl.ip_family = ipv4 ? command_line::ip::v4 : command_line::ip::v6;
    if (ipv4 && ipv6)
      for (auto* o : app.parse_order()) cl.ip_family = o == o4 ? command_line::ip::v4 : o == o6 ? command_line::ip::v6 : cl.ip_family;
  }
  // curl: -x, --socks5 and --socks5-hostname are mutually exclusive, the last one given wins.
  for (auto* o : app.parse_order()) {
    if (o == ox) {
      cl.proxy = proxy_x;
      cl.proxy_option = "-x";
    } else if (o == os5) {
      cl.proxy = socks5;
      cl.proxy_option = "--socks5";
    } else if (o == os5h) {
      cl.proxy = socks5h;
      cl.proxy_option = "--socks5-hostname";
    }
  }
  if (cl.proxy && cl.proxy_option != "-x") {
    // HOST[:PORT] only: a scheme would contradict the option, and an empty value names no proxy.
    if (cl.proxy->empty() || cl.proxy->find("://") != std::string::npos) {
      std::cerr << "h2get: (" << exit_code::usage << ") " << cl.proxy_option << ": '" << *cl.proxy
                << "' is not HOST[:PORT]\n"
                << "h2get: try 'h2get --help' for more information\n";
      return exit_code::usage;
    }
    cl.proxy = (cl.proxy_option == "--socks5" ? "socks5://" : "socks5h://") + *cl.proxy;
  }
  // An argument that starts with a dash and is no option: CLI11 takes "-7" for a (negative number) URL.
  for (const auto& u : cl.urls)
    if (u.size() > 1 && u.front() == '-') {
      std::cerr << "h2get: (" << exit_code::usage << ") option " << u << ": is unknown\n"
                << "h2get: try 'h2get --help' for more information\n";
      return exit_code::usage;
    }
  if (!limit_rate.empty()) {
    // curl's units: a number, optionally k, m or g (powers of 1024), either case.
    std::uint64_t unit = 1;
    std::string digits = limit_rate;
    switch (digits.back()) {
      case 'k': case 'K': unit = 1024; digits.pop_back(); break;
      case 'm': case 'M': unit = 1024 * 1024; digits.pop_back(); break;
      case 'g': case 'G': unit = 1024 * 1024 * 1024; digits.pop_back(); break;
      default: break;
    }
    if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos) {
      std::cerr << "h2get: (" << exit_code::usage << ") --limit-rate: '" << limit_rate << "' is not a rate (N, Nk, Nm or Ng)\n"
                << "h2get: try 'h2get --help' for more information\n";
      return exit_code::usage;
    }
    cl.limit_rate = std::stoull(digits) * unit;
  }
  if (cl.continue_at && *cl.continue_at != "-" &&
      (cl.continue_at->empty() || cl.continue_at->find_first_not_of("0123456789") != std::string::npos ||
       cl.continue_at->size() > 18)) {
    std::cerr << "h2get: (" << exit_code::usage << ") -C: '" << *cl.continue_at << "' is not an offset or '-'\n"
              << "h2get: try 'h2get --help' for more information\n";
    return exit_code::usage;
  }
  if (cl.urls.empty()) {
    std::cerr << "h2get: (" << exit_code::usage << ") no URL specified\n"
              << "h2get: try 'h2get --help' for more information\n";
    return exit_code::usage;
  }
  return std::nullopt;
}

}  // namespace h2get
