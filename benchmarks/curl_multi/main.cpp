// SPDX-License-Identifier: BSL-1.0
// benchmarks/curl_multi/main.cpp: the peer baseline, the same load as h2bench on libcurl's multi API.
//
//   curl_multi [--cacert FILE] [-k] [--resolve H:P:A]... [--connect-to ADDR] [-c CONNS] [-m STREAMS]
//              [-n REQUESTS] [--time-limit S] [-v] URL...
//
// HTTP/2 over TLS with multiplexing (CURLPIPE_MULTIPLEX), at most C connections per host
// (CURLMOPT_MAX_HOST_CONNECTIONS) and M streams on each (CURLMOPT_MAX_CONCURRENT_STREAMS), so C x M
// transfers are in flight, as with h2load and h2bench. The first C transfers start without
// CURLOPT_PIPEWAIT so that the C connections are opened at once (as h2load's C clients do); every later
// transfer waits for a connection to multiplex on (PIPEWAIT). C x M easy handles are made once and
// reused, so libcurl keeps its connection cache, TLS sessions and DNS cache warm. Bodies are counted
// and dropped. The output line matches h2bench's; exit 0 only when every response was a 200.
#include <curl/curl.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace {

struct options {
  std::vector<std::string> urls;
  std::string cacert;
  bool insecure = false;
  bool verbose = false;
  std::vector<std::string> resolves;
  std::string connect_to;
  std::size_t conns = 1;
  std::size_t streams = 1;
  std::size_t requests = 1;
  double time_limit = 300;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "curl_multi: " << why << "\n"
            << "usage: curl_multi [--cacert FILE] [-k] [--resolve HOST:PORT:ADDR]... [--connect-to ADDR]\n"
               "                  [-c CONNS] [-m STREAMS] [-n REQUESTS] [--time-limit SECONDS] [-v] URL...\n";
  std::exit(2);
}

std::size_t count_arg(const char* s, const char* name) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (!end || *end || v == 0 || v > 100'000'000) usage(std::string("bad ") + name + " '" + s + "'");
  return static_cast<std::size_t>(v);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--cacert") o.cacert = next();
    else if (a == "-k" || a == "--insecure") o.insecure = true;
    else if (a == "--resolve") o.resolves.emplace_back(next());
    else if (a == "--connect-to") o.connect_to = next();
    else if (a == "-c") o.conns = count_arg(next(), "-c");
    else if (a == "-m") o.streams = count_arg(next(), "-m");
    else if (a == "-n") o.requests = count_arg(next(), "-n");
    else if (a == "--time-limit") o.time_limit = std::atof(next());
    else if (a == "-v") o.verbose = true;
    else if (a == "-h" || a == "--help") usage("help");
    else if (!a.empty() && a[0] == '-') usage("unknown option " + a);
    else o.urls.push_back(a);
  }
  if (o.urls.empty()) usage("no URL");
  if (o.time_limit <= 0) usage("bad --time-limit");
  return o;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

struct transfer {
  CURL* easy = nullptr;
  std::uint64_t bytes = 0;
};

std::size_t discard(char*, std::size_t size, std::size_t n, void* user) {
  static_cast<transfer*>(user)->bytes += size * n;
  return size * n;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::cerr << "curl_multi: curl_global_init failed\n";
    return 2;
  }

  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(o.conns));
  curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, static_cast<long>(o.streams));
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(o.conns * o.urls.size()));

  curl_slist* resolve = nullptr;
  for (const auto& r : o.resolves) resolve = curl_slist_append(resolve, r.c_str());
  curl_slist* connect_to = nullptr;
  std::string ct = "::" + o.connect_to + ":";
  if (!o.connect_to.empty()) connect_to = curl_slist_append(connect_to, ct.c_str());

  const std::size_t nhandles = std::min(o.conns * o.streams, o.requests);
  std::vector<transfer> transfers(nhandles);
  std::size_t issued = 0, done = 0, errors = 0, conns = 0, not_h2 = 0;
  std::uint64_t bytes = 0;
  std::map<long, std::size_t> statuses;
  std::map<std::string, std::size_t> error_kinds;

  auto start = [&](transfer& t) {
    CURL* e = t.easy;
    curl_easy_setopt(e, CURLOPT_URL, o.urls[issued % o.urls.size()].c_str());
    // The first C transfers open the C connections; the rest multiplex onto them.
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, issued >= o.conns ? 1L : 0L);
    ++issued;
    curl_multi_add_handle(multi, e);
  };

  for (auto& t : transfers) {
    t.easy = curl_easy_init();
    CURL* e = t.easy;
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    if (o.insecure) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!o.cacert.empty()) {
      curl_easy_setopt(e, CURLOPT_CAINFO, o.cacert.c_str());  // replaces the system bundle, as h2bench does
      curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
    }
    if (resolve) curl_easy_setopt(e, CURLOPT_RESOLVE, resolve);
    if (connect_to) curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to);
  }
  for (auto& t : transfers) start(t);

  const auto limit = std::chrono::duration<double>(o.time_limit);
  bool timed_out = false;
  while (done < o.requests) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      transfer* t = nullptr;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      ++done;
      long nc = 0;
      curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nc);
      conns += static_cast<std::size_t>(nc);
      if (msg->data.result != CURLE_OK) {
        ++errors;
        ++error_kinds[curl_easy_strerror(msg->data.result)];
      } else {
        long code = 0, version = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
        if (version != CURL_HTTP_VERSION_2_0) ++not_h2;
        ++statuses[code];
      }
      bytes += t->bytes;
      t->bytes = 0;
      curl_multi_remove_handle(multi, e);
      if (issued < o.requests) start(*t);
    }
    if (done >= o.requests) break;
    if (std::chrono::steady_clock::now() - t0 > limit) {
      timed_out = true;
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double cpu1 = cpu_seconds();
  const long rss = rss_kib();

  const double secs = std::chrono::duration<double>(t1 - t0).count();
  std::size_t ok = 0;
  std::string st;
  for (const auto& [code, n] : statuses) {
    if (code == 200) ok = n;
    if (!st.empty()) st += ',';
    st += std::to_string(code);
    st += ':';
    st += std::to_string(n);
  }
  if (st.empty()) st = "-";
  std::size_t missing = o.requests - std::min(o.requests, done);
  std::printf("curl_multi: %zu requests in %.3fs, %.1f req/s, %.2f MiB/s, %zu errors, status %s, %zu connections, "
              "cpu %.3fs, rss %.1f MiB\n",
              o.requests, secs, secs > 0 ? static_cast<double>(done) / secs : 0.0,
              secs > 0 ? static_cast<double>(bytes) / secs / (1024.0 * 1024.0) : 0.0, errors + missing, st.c_str(),
              conns, cpu1 - cpu0, static_cast<double>(rss) / 1024.0);
  if (o.verbose) {
    std::fprintf(stderr, "curl_multi: %s, %zu handles, %zu responses not over HTTP/2\n", curl_version(), nhandles,
                 not_h2);
    for (const auto& [what, n] : error_kinds) std::fprintf(stderr, "curl_multi: error x%zu: %s\n", n, what.c_str());
    if (timed_out) std::fprintf(stderr, "curl_multi: stopped by --time-limit %.0fs\n", o.time_limit);
  }
  std::fflush(stdout);

  for (auto& t : transfers) {
    curl_multi_remove_handle(multi, t.easy);
    curl_easy_cleanup(t.easy);
  }
  curl_multi_cleanup(multi);
  curl_slist_free_all(resolve);
  curl_slist_free_all(connect_to);
  curl_global_cleanup();
  return (ok == o.requests && errors == 0 && !timed_out && not_h2 == 0) ? 0 : 1;
}
