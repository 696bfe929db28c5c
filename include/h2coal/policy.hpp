// SPDX-License-Identifier: BSL-1.0
// h2coal/policy.hpp: coalescing policies, pure decisions over plain data (DESIGN section 3).
//
// The pool describes each live or pending connection as a connection_view and the request as a
// request_view; a policy answers with a decision: reuse, coalesce, wait or connect, and a verdict with a
// reason for every connection it looked at. Nothing here does I/O, so every rule is unit-tested without
// sockets. Built-ins: strict (exact origin only), browser (RFC 9113 section 9.1.1 with a DNS match, as
// Chromium and Firefox do it) and origin (browser plus RFC 8336 ORIGIN frames; the default).
#pragma once

#include <h2coal/url.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace h2coal {

/// Why a connection was not used for a request (DESIGN section 5 spells the codes). The built-in policies
/// check in one fixed order and report the first failure: other-origin (strict), partition, http1,
/// not-ready, draining; for the exact origin then misdirected; for coalescing different-scheme,
/// other-origin (cleartext), different-port, unverified, client-cert, misdirected, cert-mismatch,
/// not-in-origin-set or ip-mismatch, proper-subset, at-capacity.
enum class reject_reason {
  other_origin,       ///< "other-origin": serves another origin and coalescing is off (strict, or cleartext).
  different_port,     ///< "different-port": the connection's origin has another port.
  ip_mismatch,        ///< "ip-mismatch": the DNS check failed (RFC 9113 section 9.1.1).
  cert_mismatch,      ///< "cert-mismatch": its certificate does not cover the request's host.
  unverified,         ///< "unverified": its certificate chain was not verified (insecure mode).
  client_cert,        ///< "client-cert": a client certificate was sent on it.
  draining,           ///< "draining": GOAWAY received, or closing.
  at_capacity,        ///< "at-capacity": every stream the peer allows is in use.
  not_in_origin_set,  ///< "not-in-origin-set": it has an origin set without the request's origin (RFC 8336).
  misdirected,        ///< "misdirected": the request's origin got a 421 on it (RFC 9110 section 15.5.20).
  http1,              ///< "http1": HTTP/1.1 connections carry one request and are never shared.
  partition,          ///< "partition": other TLS, client certificate, ALPN or proxy settings.
  proper_subset,      ///< "proper-subset": its origin set is a proper subset of another usable one's.
  not_ready,          ///< "not-ready": handshake or first SETTINGS still outstanding.
  scheme,             ///< "different-scheme": http vs https.
};

constexpr std::string_view to_string(reject_reason r) noexcept {
  switch (r) {
    case reject_reason::other_origin: return "other-origin";
    case reject_reason::different_port: return "different-port";
    case reject_reason::ip_mismatch: return "ip-mismatch";
    case reject_reason::cert_mismatch: return "cert-mismatch";
    case reject_reason::unverified: return "unverified";
    case reject_reason::client_cert: return "client-cert";
    case reject_reason::draining: return "draining";
    case reject_reason::at_capacity: return "at-capacity";
    case reject_reason::not_in_origin_set: return "not-in-origin-set";
    case reject_reason::misdirected: return "misdirected";
    case reject_reason::http1: return "http1";
    case reject_reason::partition: return "partition";
    case reject_reason::proper_subset: return "proper-subset";
    case reject_reason::not_ready: return "not-ready";
    case reject_reason::scheme: return "different-scheme";
  }
  return "unknown";
}

/// What made the chosen connection acceptable.
enum class decision_basis { none, same_origin, dns_match, origin_frame };

constexpr std::string_view to_string(decision_basis b) noexcept {
  switch (b) {
    case decision_basis::none: return "";
    case decision_basis::same_origin: return "same-origin";
    case decision_basis::dns_match: return "dns-match";
    case decision_basis::origin_frame: return "origin-frame";
  }
  return "";
}

/// What the pool should do with the request.
enum class decision_action {
  reuse,     ///< send it on `conn`, opened for this very origin
  coalesce,  ///< send it on `conn`, opened for another origin
  wait,      ///< queue it on `conn` (at capacity, or still connecting)
  connect,   ///< open a new connection
};

constexpr std::string_view to_string(decision_action a) noexcept {
  switch (a) {
    case decision_action::reuse: return "reuse";
    case decision_action::coalesce: return "coalesce";
    case decision_action::wait: return "wait";
    case decision_action::connect: return "connect";
  }
  return "connect";
}

/// How the browser and origin policies compare addresses (DESIGN section 3).
enum class ip_match {
  connected,    ///< the connection's connected IP is among the target's addresses (Chromium, Firefox default)
  any_overlap,  ///< any address the connection's host resolved to is among them (Firefox aggressive, httpx)
};

constexpr std::string_view to_string(ip_match m) noexcept {
  return m == ip_match::any_overlap ? "any" : "connected";
}

/// One live or pending connection, as plain data.
struct connection_view {
  /// The connection's id (as `conn` in trace events).
  std::uint64_t id = 0;
  origin initial_origin;           ///< the origin it was opened for (SNI host, remote port)
  std::string remote_address;      ///< connected IP, canonical text ("127.0.0.1", "::1")
  std::uint16_t remote_port = 0;   ///< 0: unknown, taken as initial_origin.port
  std::vector<std::string> initial_addresses;  ///< all addresses its initial host resolved to (any_overlap)
  /// Over TLS (https); cleartext connections are never coalesced.
  bool tls = true;
  bool http2 = true;               ///< false: HTTP/1.1
  bool ready = true;               ///< handshake + first SETTINGS done; false = still connecting (pending)
  bool draining = false;           ///< GOAWAY received or closing
  bool verified = true;            ///< certificate chain verified (false when insecure)
  bool client_cert = false;        ///< a client certificate was sent on it
  bool same_partition = true;      ///< same TLS trust/verify/client-cert/ALPN/proxy settings as the request
  bool cert_covers = false;        ///< its leaf certificate covers the REQUEST's host (computed per decision)
  bool at_capacity = false;        ///< active streams == peer MAX_CONCURRENT_STREAMS
  /// Through a proxy: no DNS-based coalescing and no ORIGIN frames (DESIGN section 13).
  bool via_proxy = false;
  std::optional<std::vector<origin>> origin_set;  ///< RFC 8336; nullopt until the first valid ORIGIN frame
  std::vector<origin> misdirected;  ///< origins that got a 421 on it
};

/// The request, as far as the decision is concerned.
struct request_view {
  /// The origin the request is for.
  origin target;
  std::optional<std::vector<std::string>> addresses;  ///< target's resolved addresses; nullopt = not yet
  bool open_new_when_at_capacity = false;  ///< open another connection instead of waiting for a stream
  /// client_options::allow_client_cert_coalescing: connections that sent a client certificate qualify.
  bool allow_client_cert_coalescing = false;
  bool fresh_connection_required = false;  ///< a 421 retry: needs a new dedicated connection
};

/// The verdict on one connection. A connection that is not chosen and has no reason was fit but another
/// one was preferred, or (with decision::needs_dns) it can only be judged once the target is resolved.
struct candidate_verdict {
  /// The connection judged.
  std::uint64_t conn = 0;
  /// The origin it was opened for.
  origin initial_origin;
  /// The decision took it.
  bool chosen = false;
  /// Why it was not taken (other-origin, ip-mismatch, ...), when it was rejected.
  std::optional<reject_reason> reason;
};

/// What a policy decided for one request: the action, the connection when there is one, why, and the
/// verdict on every connection it looked at (the trace's pool.decision event).
struct decision {
  /// Reuse, coalesce, wait for a stream, or connect anew.
  decision_action action = decision_action::connect;
  std::optional<std::uint64_t> conn;         ///< chosen connection for reuse/coalesce/wait
  /// Why the chosen connection may serve the request: same-origin, dns-match or origin-frame.
  decision_basis basis = decision_basis::none;
  std::string matched_ip;                    ///< for dns-match: the address that matched
  bool needs_dns = false;                    ///< resolve the target and ask again: a DNS match could change this
  std::vector<candidate_verdict> candidates;  ///< every connection looked at, in the order given
};

/// What the pool needs from a policy; built-ins and user policies alike.
///
/// A policy may also declare `static constexpr bool standard_order = true;` (the built-ins do). It
/// promises DESIGN section 4's order: a usable connection of the target's own origin (or a ready one at
/// capacity, to wait for) is taken before any other, one whose origin set names the target before any
/// DNS match, and a connection of another origin still establishing is never chosen. The pool then asks
/// it over the target's own and origin-set connections first and stops there when the answer is one of
/// those, and leaves other origins' pending connections out when neither a trace hook nor
/// `coalesce_pending` needs them: a lookup costs what the origin's own connections cost, however many
/// others share its address. Without it the policy always sees every candidate.
///
/// A policy that never coalesces (only reuses or waits for its origin's own connections, as strict)
/// may declare `static constexpr bool never_coalesces = true;`: the pool then skips asking it whether a
/// newly ready connection duplicates another one (a question whose answer is always no, and whose
/// candidates are every connection on the new one's addresses).
template <class P>
concept coalescing_policy = requires(const P& p, const request_view& r, std::span<const connection_view> c) {
  { p.decide(r, c) } -> std::same_as<decision>;
  { p.name() } -> std::convertible_to<std::string_view>;
};

namespace detail {

enum class policy_kind { strict, browser, origin };

// How one connection fits the request after the per-connection checks.
enum class fit : unsigned char {
  rejected,        // reason set
  exact_usable,    // initial origin == target, usable now
  exact_full,      // initial origin == target, at capacity
  exact_pending,   // initial origin == target, still connecting
  frame,           // coalescable, target in its origin set (RFC 8336 section 2.4)
  frame_full,      // as frame but at capacity (still counts for the proper-subset rule)
  dns,             // coalescable by DNS match
  dns_unknown,     // coalescable if the DNS check passes; target not resolved yet
};

inline bool contains(const std::vector<std::string>& v, std::string_view s) noexcept {
  return std::find(v.begin(), v.end(), s) != v.end();
}

inline bool contains(const std::vector<origin>& v, const origin& o) noexcept {
  return std::find(v.begin(), v.end(), o) != v.end();
}

// An ORIGIN frame only counts on h2 over TLS and not through a proxy (RFC 8336 section 2.2 and DESIGN);
// the connection layer should not record one otherwise, but the policy does not rely on it.
inline bool honours_origin_set(const connection_view& c) noexcept {
  return c.origin_set.has_value() && c.tls && !c.via_proxy;
}

// The address that satisfies the DNS check of RFC 9113 section 9.1.1, or nullptr.
inline const std::string* address_match(const connection_view& c, const request_view& r, ip_match m) noexcept {
  if (!r.addresses || c.via_proxy) return nullptr;  // behind a proxy the far end's address is unknown
  const auto& addrs = *r.addresses;
  const bool port_ok = c.remote_port == 0 || c.remote_port == r.target.port;
  if (port_ok && !c.remote_address.empty() && contains(addrs, c.remote_address)) return &c.remote_address;
  if (m == ip_match::any_overlap)
    for (const auto& a : c.initial_addresses)
      if (contains(addrs, a)) return &a;
  return nullptr;
}

inline std::uint64_t mix64(std::uint64_t x) noexcept {  // splitmix64 finaliser: spreads std::hash bits
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The checks of DESIGN section 3 in their fixed order; the first failing one is the reason:
//   strict only: other-origin for any connection not opened for the target's origin, then
//   partition, http1, not-ready (coalescing only), draining,
//   exact origin: misdirected; then pending or at capacity make it a wait candidate; done.
//   coalescing: different-scheme, other-origin (cleartext: http:// target or h2c connection),
//   different-port, unverified, client-cert, misdirected, cert-mismatch,
//   not-in-origin-set (origin policy, connection has an origin set) or ip-mismatch (DNS check),
//   proper-subset (origin policy; decided later, across candidates), at-capacity.
inline fit classify(policy_kind kind, ip_match m, const request_view& r, const connection_view& c,
                    reject_reason& why) noexcept {
  const origin& target = r.target;
  const bool exact = c.initial_origin == target;
  auto reject = [&why](reject_reason rr) {
    why = rr;
    return fit::rejected;
  };
  if (!exact && kind == policy_kind::strict) return reject(reject_reason::other_origin);
  if (!c.same_partition) return reject(reject_reason::partition);  // DESIGN 1: never across partitions
  if (!c.http2) return reject(reject_reason::http1);  // one request at a time; never coalesced (DESIGN 4)
  // Coalescing needs a finished handshake (certificate, SETTINGS); the exact origin may be waited for.
  if (!c.ready && !exact) return reject(reject_reason::not_ready);
  if (c.draining) return reject(reject_reason::draining);  // RFC 9113 section 6.8: no new streams
  if (exact) {
    // A 421 for the connection's own origin means the server will not serve it there either.
    if (contains(c.misdirected, target)) return reject(reject_reason::misdirected);
    if (!c.ready) return fit::exact_pending;
    return c.at_capacity ? fit::exact_full : fit::exact_usable;
  }
  // Coalescing (RFC 9113 section 9.1.1): never for http:// and never on a cleartext connection.
  if (c.initial_origin.scheme != target.scheme) return reject(reject_reason::scheme);
  if (!target.is_tls() || !c.tls) return reject(reject_reason::other_origin);
  if (c.initial_origin.port != target.port) return reject(reject_reason::different_port);
  if (!c.verified) return reject(reject_reason::unverified);  // nothing was proven for its own host either
  if (c.client_cert && !r.allow_client_cert_coalescing) return reject(reject_reason::client_cert);
  if (contains(c.misdirected, target)) return reject(reject_reason::misdirected);  // RFC 9110 15.5.20
  if (!c.cert_covers) return reject(reject_reason::cert_mismatch);  // RFC 9113 9.1.1, RFC 8336 2.4
  fit f;
  if (kind == policy_kind::origin && honours_origin_set(c)) {
    // RFC 8336 section 2.4: with an origin set the connection is authoritative for exactly its members,
    // with or without a DNS match.
    if (!contains(*c.origin_set, target)) return reject(reject_reason::not_in_origin_set);
    return c.at_capacity ? fit::frame_full : fit::frame;
  }
  if (!r.addresses) {
    f = fit::dns_unknown;
  } else if (address_match(c, r, m)) {
    f = fit::dns;
  } else {
    return reject(reject_reason::ip_mismatch);
  }
  if (c.at_capacity) return reject(reject_reason::at_capacity);
  return f;
}

// One origin set, summarised for the proper-subset rule: its distinct member hashes, sorted, live in a
// shared buffer; the mask (one bit per member) rules out most non-subsets with one AND.
struct set_summary {
  std::size_t index = 0;     // into the connection span
  std::size_t begin = 0;     // into the hash buffer
  std::size_t size = 0;      // distinct members
  std::uint64_t mask = 0;
  std::uint64_t sum = 0;     // with size and mask: equal sets compare equal, so they share one answer
  bool usable = false;       // may serve the target now: a set others are compared against
  bool judged = false;       // a coalescing candidate the rule may reject
};

// RFC 8336 / DESIGN section 3: prefer not to start requests on a connection whose origin set is a proper
// subset of another usable connection's set. Only connections that could serve the target take part
// (their sets all contain it). Members are compared as 64-bit hashes. Rather than comparing every pair,
// each judged set looks up its member held by the fewest usable sets (an inverted index: sorted
// (member, set) pairs) and checks only those; equal sets are judged once.
inline void apply_proper_subset(std::span<const connection_view> conns, std::vector<fit>& fits,
                                std::vector<candidate_verdict>& out) {
  auto judged_fit = [](fit f) { return f == fit::frame || f == fit::frame_full; };
  auto usable_fit = [&](fit f, std::size_t i) {
    return f == fit::frame || (f == fit::exact_usable && honours_origin_set(conns[i]));
  };
  std::size_t judged = 0, usable = 0, taking_part = 0, members_total = 0, usable_members = 0;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    const bool j = judged_fit(fits[i]), u = usable_fit(fits[i], i);
    judged += j;
    usable += u;
    if (j || u) {
      ++taking_part;
      members_total += conns[i].origin_set->size();
      if (u) usable_members += conns[i].origin_set->size();
    }
  }
  if (judged == 0 || usable == 0 || taking_part < 2) return;

  std::vector<set_summary> sets;
  sets.reserve(taking_part);
  for (std::size_t i = 0; i < conns.size(); ++i) {
    const bool j = judged_fit(fits[i]), u = usable_fit(fits[i], i);
    if (j || u) sets.push_back(set_summary{i, 0, 0, 0, 0, u, j});
  }
  std::vector<std::uint64_t> hashes;
  hashes.reserve(members_total);
  for (auto& s : sets) {
    s.begin = hashes.size();
    for (const auto& o : *conns[s.index].origin_set) hashes.push_back(mix64(std::hash<origin>{}(o)));
    auto first = hashes.begin() + static_cast<std::ptrdiff_t>(s.begin);
    std::sort(first, hashes.end());
    hashes.erase(std::unique(first, hashes.end()), hashes.end());
    s.size = hashes.size() - s.begin;
    for (auto it = first; it != hashes.end(); ++it) {
      s.mask |= std::uint64_t{1} << (*it & 63);
      s.sum += *it;
    }
  }
  // Equal sets side by side, so each is judged once.
  std::sort(sets.begin(), sets.end(), [](const set_summary& a, const set_summary& b) {
    if (a.size != b.size) return a.size > b.size;
    if (a.sum != b.sum) return a.sum < b.sum;
    return a.mask < b.mask;
  });
  // Inverted index over the usable sets: (member hash, position in sets), sorted by member.
  std::vector<std::pair<std::uint64_t, std::size_t>> holders;
  holders.reserve(usable_members);
  for (std::size_t k = 0; k < sets.size(); ++k)
    if (sets[k].usable)
      for (std::size_t m = 0; m < sets[k].size; ++m) holders.emplace_back(hashes[sets[k].begin + m], k);
  std::sort(holders.begin(), holders.end());

  auto members = [&hashes](const set_summary& s) {
    auto first = hashes.begin() + static_cast<std::ptrdiff_t>(s.begin);
    return std::pair{first, first + static_cast<std::ptrdiff_t>(s.size)};
  };
  auto holders_of = [&holders](std::uint64_t h) {
    auto lo = std::partition_point(holders.begin(), holders.end(), [h](const auto& e) { return e.first < h; });
    auto hi = std::partition_point(lo, holders.end(), [h](const auto& e) { return e.first == h; });
    return std::pair{lo, hi};
  };
  const set_summary* last = nullptr;
  bool last_result = false;
  for (const auto& c : sets) {
    if (!c.judged) continue;
    bool subset = false;
    if (last && last->size == c.size && last->sum == c.sum && last->mask == c.mask) {
      subset = last_result;
    } else {
      auto [cb, ce] = members(c);
      // The member fewest usable sets hold: any superset must be among them. Start with the
      // connection's own origin, which is usually held by it alone, and that settles it.
      const std::uint64_t own = mix64(std::hash<origin>{}(conns[c.index].initial_origin));
      auto best = holders_of(std::binary_search(cb, ce, own) ? own : *cb);
      for (auto it = cb; it != ce && best.second - best.first > 1; ++it) {
        auto r = holders_of(*it);
        if (r.second - r.first < best.second - best.first) best = r;
      }
      for (auto h = best.first; h != best.second && !subset; ++h) {
        const auto& d = sets[h->second];
        if (d.size <= c.size || (c.mask & ~d.mask) != 0) continue;  // strictly larger: a proper superset
        auto [db, de] = members(d);
        subset = std::includes(db, de, cb, ce);
      }
      last = &c;
      last_result = subset;
    }
    if (subset) {
      fits[c.index] = fit::rejected;
      out[c.index].reason = reject_reason::proper_subset;
    }
  }
}

// The decision every built-in makes (DESIGN section 3, lookup order of DESIGN section 4):
// exact usable > exact at capacity (wait, unless the option opens another) > origin-set match >
// DNS match > (target unresolved: needs_dns) > exact pending (wait) > connect.
inline decision decide(policy_kind kind, ip_match m, const request_view& r, std::span<const connection_view> conns) {
  decision d;
  d.candidates.reserve(conns.size());
  std::vector<fit> fits(conns.size(), fit::rejected);
  bool any_frame = false;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    const auto& c = conns[i];
    reject_reason why = reject_reason::other_origin;
    fits[i] = classify(kind, m, r, c, why);
    auto& v = d.candidates.emplace_back(candidate_verdict{c.id, c.initial_origin, false, std::nullopt});
    if (fits[i] == fit::rejected) v.reason = why;
    else if (fits[i] == fit::frame_full) v.reason = reject_reason::at_capacity;
    any_frame = any_frame || fits[i] == fit::frame || fits[i] == fit::frame_full;
  }
  if (kind == policy_kind::origin && any_frame) apply_proper_subset(conns, fits, d.candidates);

  auto first = [&fits](fit f) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < fits.size(); ++i)
      if (fits[i] == f) return i;
    return std::nullopt;
  };
  auto choose = [&](std::size_t i, decision_action a, decision_basis b) {
    d.action = a;
    d.conn = conns[i].id;
    d.basis = b;
    d.candidates[i].chosen = true;
    d.candidates[i].reason.reset();
  };

  if (r.fresh_connection_required) {
    // A 421 retry goes on a new connection dedicated to the target (RFC 9110 section 15.5.20).
    d.action = decision_action::connect;
  } else if (auto i = first(fit::exact_usable)) {
    choose(*i, decision_action::reuse, decision_basis::same_origin);
  } else if (auto j = first(fit::exact_full); j && !r.open_new_when_at_capacity) {
    choose(*j, decision_action::wait, decision_basis::same_origin);
  } else if (auto k = first(fit::frame)) {
    choose(*k, decision_action::coalesce, decision_basis::origin_frame);  // no DNS needed: RFC 8336 2.4
  } else if (auto l = first(fit::dns)) {
    choose(*l, decision_action::coalesce, decision_basis::dns_match);
    if (auto* a = address_match(conns[*l], r, m)) d.matched_ip = *a;
  } else if (first(fit::dns_unknown)) {
    d.needs_dns = true;  // resolving may make one of them coalescable; the pool asks again
  } else if (auto p = first(fit::exact_pending)) {
    choose(*p, decision_action::wait, decision_basis::same_origin);  // never two handshakes for one origin
  }

  // Fit but not taken: say why where a reason applies.
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto& v = d.candidates[i];
    if (v.chosen) continue;
    if (fits[i] == fit::exact_full) v.reason = reject_reason::at_capacity;
    else if (fits[i] == fit::exact_pending) v.reason = reject_reason::not_ready;
  }
  return d;
}

}  // namespace detail

/// Exact origin only (curl, Go and hyper behave so); every other connection is rejected other-origin.
struct strict_policy {
  /// DESIGN section 4's order (see coalescing_policy).
  static constexpr bool standard_order = true;
  /// Never coalesces (see coalescing_policy).
  static constexpr bool never_coalesces = true;
  /// Decides for `r` over the connections `c`: exact-origin connections only (reuse or wait), else connect.
  decision decide(const request_view& r, std::span<const connection_view> c) const {
    return detail::decide(detail::policy_kind::strict, ip_match::connected, r, c);
  }
  /// "strict".
  std::string_view name() const noexcept { return "strict"; }
};

/// Coalesce when the certificate covers the host and DNS agrees (RFC 9113 section 9.1.1, as browsers do).
struct browser_policy {
  /// DESIGN section 4's order (see coalescing_policy).
  static constexpr bool standard_order = true;
  /// Which addresses must match for a DNS match: the connection's connected IP, or any it resolved to.
  ip_match match = ip_match::connected;
  /// Decides for `r` over the connections `c`: exact origin first, then DNS and certificate.
  decision decide(const request_view& r, std::span<const connection_view> c) const {
    return detail::decide(detail::policy_kind::browser, match, r, c);
  }
  /// "browser".
  std::string_view name() const noexcept { return "browser"; }
};

/// browser, plus RFC 8336 ORIGIN frames: an origin set makes a connection authoritative for exactly its
/// members, with no DNS check. The default policy.
struct origin_policy {
  /// DESIGN section 4's order (see coalescing_policy).
  static constexpr bool standard_order = true;
  /// Which addresses must match for a DNS match: the connection's connected IP, or any it resolved to.
  ip_match match = ip_match::connected;
  /// Decides for `r` over the connections `c`: exact origin first, then the origin set, then DNS.
  decision decide(const request_view& r, std::span<const connection_view> c) const {
    return detail::decide(detail::policy_kind::origin, match, r, c);
  }
  /// "origin".
  std::string_view name() const noexcept { return "origin"; }
};

namespace detail {
template <class P>
inline constexpr bool declares_standard_order = requires {
  requires P::standard_order;
};
template <class P>
inline constexpr bool declares_never_coalesces = requires {
  requires P::never_coalesces;
};
}  // namespace detail

/// Holds any coalescing_policy so the client is not a template on it. Copies share one immutable policy;
/// the policy's name is read once, at construction. Default: origin_policy.
class any_policy {
 public:
  any_policy() : any_policy(origin_policy{}) {}

  /// Holds `p`, any type that satisfies coalescing_policy.
  template <class P>
    requires(!std::same_as<std::remove_cvref_t<P>, any_policy> && coalescing_policy<std::remove_cvref_t<P>>)
  any_policy(P&& p)  // NOLINT(google-explicit-constructor): implicit like std::function
      : impl_(std::make_shared<const model<std::remove_cvref_t<P>>>(std::forward<P>(p))) {}

  /// Asks the held policy.
  decision decide(const request_view& r, std::span<const connection_view> c) const { return impl_->decide(r, c); }
  /// The held policy's name.
  std::string_view name() const noexcept { return impl_->name_; }
  /// The held policy declares `standard_order` (see coalescing_policy).
  bool standard_order() const noexcept { return impl_->standard_order_; }
  /// The held policy declares `never_coalesces` (see coalescing_policy).
  bool never_coalesces() const noexcept { return impl_->never_coalesces_; }

 private:
  struct base {
    base(std::string n, bool standard, bool never)
        : name_(std::move(n)), standard_order_(standard), never_coalesces_(never) {}
    virtual ~base() = default;
    virtual decision decide(const request_view& r, std::span<const connection_view> c) const = 0;
    std::string name_;
    bool standard_order_;
    bool never_coalesces_;
  };
  template <class P>
  struct model final : base {
    template <class Q>
    explicit model(Q&& q)
        : base(std::string(std::string_view(q.name())), detail::declares_standard_order<P>,
               detail::declares_never_coalesces<P>),
          policy_(std::forward<Q>(q)) {}
    decision decide(const request_view& r, std::span<const connection_view> c) const override {
      return policy_.decide(r, c);
    }
    P policy_;
  };
  std::shared_ptr<const base> impl_;
};

namespace policies {
inline any_policy strict() { return strict_policy{}; }
inline any_policy browser(ip_match m = ip_match::connected) { return browser_policy{m}; }
inline any_policy origin(ip_match m = ip_match::connected) { return origin_policy{m}; }
}  // namespace policies

/// A policy per host (e.g. strict for "*.corp.example"), with a fallback for every other host.
///
/// Patterns: "host" matches that host exactly; "*.suffix" matches any subdomain of suffix, at any depth,
/// but not suffix itself; "*" matches every host. Case-insensitive; a trailing dot and IPv6 brackets are
/// ignored. The most specific match wins: an exact host, then the wildcard with the longest suffix, then
/// "*"; setting a pattern again replaces its policy. A malformed pattern (empty, or '*' anywhere but a
/// leading "*.") throws std::invalid_argument: it is configuration, not a request path.
class policy_map {
 public:
  /// A map with no patterns: every host gets `fallback` (the origin policy by default).
  explicit policy_map(any_policy fallback = policies::origin()) : fallback_(std::move(fallback)) {}

  /// Sets the policy for the hosts `host_pattern` names (see the class); replaces an earlier one for it.
  /// Throws std::invalid_argument for a malformed pattern.
  void set(std::string host_pattern, any_policy policy) {
    std::string p = detail::ascii_lowercase(host_pattern);
    if (p.size() > 1 && p.back() == '.' && p[p.size() - 2] != '*' && p[p.size() - 2] != '.') p.pop_back();
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    bool wildcard = false;
    if (p == "*") {
      wildcard = true;
      p.clear();  // the empty suffix: matches every host, least specific
    } else if (p.size() > 2 && p.compare(0, 2, "*.") == 0) {
      wildcard = true;
      p.erase(0, 1);  // keep the dot: ".corp.example"
    }
    if ((!wildcard && p.empty()) || p.find('*') != std::string::npos)
      throw std::invalid_argument("h2coal::policy_map: malformed host pattern '" + host_pattern + "'");
    for (auto& e : entries_)
      if (e.wildcard == wildcard && e.pattern == p) {
        e.policy = std::move(policy);
        return;
      }
    entries_.push_back(entry{std::move(p), wildcard, std::move(policy)});
  }

  /// The policy for `host`: the most specific matching pattern's, else the fallback.
  const any_policy& for_host(std::string_view host) const noexcept {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    const entry* best = nullptr;
    for (const auto& e : entries_) {
      if (!e.wildcard) {
        if (detail::iequals(e.pattern, host)) return e.policy;
        continue;
      }
      const bool match = e.pattern.empty() ||
                         (host.size() > e.pattern.size() &&
                          detail::iequals(host.substr(host.size() - e.pattern.size()), e.pattern));
      if (match && (!best || e.pattern.size() > best->pattern.size())) best = &e;
    }
    return best ? best->policy : fallback_;
  }

  /// The policy for hosts no pattern matches.
  const any_policy& fallback() const noexcept { return fallback_; }

 private:
  struct entry {
    std::string pattern;  // lowercase host, or for a wildcard the suffix from its dot ("" for "*")
    bool wildcard = false;
    any_policy policy;
  };
  any_policy fallback_;
  std::vector<entry> entries_;
};

}  // namespace h2coal
