// SPDX-License-Identifier: BSL-1.0
// benchmarks/micro_hpack.cpp: header block encode and decode (HPACK, RFC 7541) with nghttp2's hd API,
// the code every h2coal request and response goes through inside nghttp2.
//
// A typical request block (what h2coal sends for a GET with a few caller fields) and a typical response
// block. "cold": a fresh context each time, so everything is literal (the first request on a
// connection); "warm": one context across iterations, so the dynamic table indexes the repeated fields
// (steady state on a busy connection).
#include <nghttp2/nghttp2.h>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::vector<nghttp2_nv> make_nv(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<nghttp2_nv> nv;
  for (const auto& [n, v] : fields)
    nv.push_back({const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(n.data())),
                  const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(v.data())), n.size(), v.size(),
                  NGHTTP2_NV_FLAG_NONE});
  return nv;
}

const std::vector<std::pair<std::string, std::string>>& request_fields() {
  static const std::vector<std::pair<std::string, std::string>> f = {
      {":method", "GET"},
      {":scheme", "https"},
      {":authority", "api.bench.test"},
      {":path", "/v1/items?page=2&limit=50"},
      {"user-agent", "h2coal/0.1.0"},
      {"accept", "application/json"},
      {"accept-encoding", "gzip, deflate, br"},
      {"accept-language", "en-GB,en;q=0.9"},
      {"authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl"},
      {"cookie", "session=8f14e45fceea167a5a36dedd4bea2543; theme=dark"},
  };
  return f;
}

const std::vector<std::pair<std::string, std::string>>& response_fields() {
  static const std::vector<std::pair<std::string, std::string>> f = {
      {":status", "200"},
      {"date", "Tue, 14 May 2024 10:00:00 GMT"},
      {"content-type", "application/json; charset=utf-8"},
      {"content-length", "1832"},
      {"cache-control", "private, max-age=0"},
      {"etag", "\"33a64df551425fcc55e4d42a148795d9f25f89d4\""},
      {"server", "h2o/2.2.5"},
      {"vary", "accept-encoding"},
  };
  return f;
}

std::string deflate_once(nghttp2_hd_deflater* d, const std::vector<nghttp2_nv>& nv) {
  std::string out(nghttp2_hd_deflate_bound(d, nv.data(), nv.size()), '\0');
  auto n = nghttp2_hd_deflate_hd(d, reinterpret_cast<std::uint8_t*>(out.data()), out.size(), nv.data(), nv.size());
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// Decodes one whole block; returns the number of fields, or -1 on error.
int inflate_once(nghttp2_hd_inflater* inf, const std::string& block) {
  auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
  std::size_t left = block.size();
  int fields = 0;
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    auto n = nghttp2_hd_inflate_hd2(inf, &nv, &flags, in, left, 1);
    if (n < 0) return -1;
    in += n;
    left -= static_cast<std::size_t>(n);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      ++fields;
      benchmark::DoNotOptimize(nv.value);
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
    if (n == 0 && left == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) return -1;
  }
  nghttp2_hd_inflate_end_headers(inf);
  return fields;
}

const std::vector<std::pair<std::string, std::string>>& fields_for(int which) {
  return which == 0 ? request_fields() : response_fields();
}

void BM_hpack_deflate_cold(benchmark::State& state) {
  auto nv = make_nv(fields_for(static_cast<int>(state.range(0))));
  std::size_t bytes = 0;
  for (auto _ : state) {
    nghttp2_hd_deflater* d = nullptr;
    nghttp2_hd_deflate_new(&d, 4096);
    auto block = deflate_once(d, nv);
    bytes = block.size();
    nghttp2_hd_deflate_del(d);
  }
  state.counters["block_bytes"] = static_cast<double>(bytes);
  state.SetLabel(state.range(0) == 0 ? "request" : "response");
}
BENCHMARK(BM_hpack_deflate_cold)->Arg(0)->Arg(1);

void BM_hpack_deflate_warm(benchmark::State& state) {
  auto nv = make_nv(fields_for(static_cast<int>(state.range(0))));
  nghttp2_hd_deflater* d = nullptr;
  nghttp2_hd_deflate_new(&d, 4096);
  deflate_once(d, nv);
  std::size_t bytes = 0;
  for (auto _ : state) bytes = deflate_once(d, nv).size();
  nghttp2_hd_deflate_del(d);
  state.counters["block_bytes"] = static_cast<double>(bytes);
  state.SetLabel(state.range(0) == 0 ? "request" : "response");
}
BENCHMARK(BM_hpack_deflate_warm)->Arg(0)->Arg(1);

void BM_hpack_inflate_cold(benchmark::State& state) {
  auto nv = make_nv(fields_for(static_cast<int>(state.range(0))));
  nghttp2_hd_deflater* d = nullptr;
  nghttp2_hd_deflate_new(&d, 4096);
  const auto block = deflate_once(d, nv);
  nghttp2_hd_deflate_del(d);
  for (auto _ : state) {
    nghttp2_hd_inflater* inf = nullptr;
    nghttp2_hd_inflate_new(&inf);
    if (inflate_once(inf, block) != static_cast<int>(nv.size())) state.SkipWithError("inflate failed");
    nghttp2_hd_inflate_del(inf);
  }
  state.SetLabel(state.range(0) == 0 ? "request" : "response");
}
BENCHMARK(BM_hpack_inflate_cold)->Arg(0)->Arg(1);

// Encode then decode on a warm pair of contexts: a block's whole trip between two peers.
void BM_hpack_roundtrip_warm(benchmark::State& state) {
  auto nv = make_nv(fields_for(static_cast<int>(state.range(0))));
  nghttp2_hd_deflater* d = nullptr;
  nghttp2_hd_inflater* inf = nullptr;
  nghttp2_hd_deflate_new(&d, 4096);
  nghttp2_hd_inflate_new(&inf);
  inflate_once(inf, deflate_once(d, nv));
  for (auto _ : state) {
    if (inflate_once(inf, deflate_once(d, nv)) != static_cast<int>(nv.size())) {
      state.SkipWithError("inflate failed");
      break;
    }
  }
  nghttp2_hd_inflate_del(inf);
  nghttp2_hd_deflate_del(d);
  state.SetLabel(state.range(0) == 0 ? "request" : "response");
}
BENCHMARK(BM_hpack_roundtrip_warm)->Arg(0)->Arg(1);

}  // namespace
