// SPDX-License-Identifier: BSL-1.0
// examples/h2audit/audit.hpp: h2audit's model (DESIGN section 15), without I/O: what was gathered about
// each origin, the coalescing groups the modelled clients would form (through h2coal's own policies),
// the verdict on each pair that was probed, and the reports (text, JSON).
#pragma once

#include <h2coal/policy.hpp>
#include <h2coal/trace.hpp>
#include <h2coal/url.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace h2audit {

/// What was learnt about one origin: its answers, its own handshake and its own answer to its path.
struct origin_facts {
  h2coal::origin origin;
  std::string path = "/";
  std::vector<std::vector<std::string>> rounds;  ///< each resolution's addresses, sorted
  std::vector<std::string> addresses;            ///< every address any round gave, sorted
  bool answers_differ = false;                   ///< the rounds did not all agree
  std::string resolve_error;                     ///< every round failed: why
  /// A --connect-to rule sends its connections elsewhere: h2coal never shares them (nor is what the
  /// rule's server would do with another name a question about this name's deployment).
  bool rerouted = false;
  // Its own connection (the handshake h2audit made for it).
  std::string connected_ip;
  std::string alpn, tls_version;
  std::vector<std::string> sans;                 ///< the leaf's subjectAltName entries
  bool verified = false;
  std::optional<std::vector<std::string>> origin_set;  ///< after its ORIGIN frames (RFC 8336), if any
  // Its own answer.
  int status = 0;
  std::string digest;                            ///< SHA-256 of the body
  std::string error;                             ///< the fetch failed: why (h2get's message)
  int exit_code = 0;                             ///< ... and h2get's exit code for it

  bool usable() const { return error.empty() && !connected_ip.empty(); }
  std::string name() const;
};

/// The clients whose pooling is modelled.
enum class model { chromium, firefox, strict };
inline constexpr model models[] = {model::chromium, model::firefox, model::strict};
inline const char* to_string(model m) {
  switch (m) {
    case model::chromium: return "chromium";
    case model::firefox: return "firefox";
    case model::strict: return "strict";
  }
  return "?";
}

/// h2coal's policy that behaves as the modelled client: Chromium shares a connection when the new host's
/// answer holds the connected IP and the certificate covers it (it does not read ORIGIN frames); Firefox
/// the same, and it honours ORIGIN frames (RFC 8336); strict never.
inline h2coal::any_policy policy_for(model m) {
  switch (m) {
    case model::chromium: return h2coal::policies::browser(h2coal::ip_match::connected);
    case model::firefox: return h2coal::policies::origin(h2coal::ip_match::connected);
    case model::strict: return h2coal::policies::strict();
  }
  return h2coal::policies::strict();
}

/// Whether a certificate with these subjectAltName entries covers `host`: an exact name (either case), or
/// a wildcard as the whole left-most label ("*.example" covers "a.example", not "a.b.example" nor
/// "example"), as the handshake's own check (RFC 6125 section 6.4.3, no partial wildcards).
inline bool covers(const std::vector<std::string>& sans, std::string_view host) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (auto& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  };
  const std::string h = lower(host);
  for (const auto& san : sans) {
    const std::string s = lower(san);
    if (s == h) return true;
    if (s.size() > 2 && s.compare(0, 2, "*.") == 0) {
      const auto dot = h.find('.');
      if (dot != std::string::npos && dot > 0 && h.substr(dot + 1) == s.substr(2)) return true;
    }
  }
  return false;
}

/// Would a client of model `m` send requests for `b` on the connection it opened for `a`? Asks h2coal's
/// own policy with what the handshake of `a` showed and what `b` resolves to.
inline bool would_share(model m, const origin_facts& a, const origin_facts& b) {
  if (!a.usable() || !b.usable() || a.origin == b.origin || a.rerouted || b.rerouted) return false;
  h2coal::connection_view v;
  v.id = 1;
  v.initial_origin = a.origin;
  v.remote_address = a.connected_ip;
  v.remote_port = a.origin.port;
  v.initial_addresses = a.addresses;
  v.tls = a.origin.is_tls();
  v.http2 = a.alpn == "h2";
  v.verified = a.verified;
  v.cert_covers = covers(a.sans, b.origin.host);
  if (a.origin_set) {
    std::vector<h2coal::origin> set;
    for (const auto& text : *a.origin_set)
      if (auto o = h2coal::origin::parse(text)) set.push_back(*o);
    v.origin_set = std::move(set);
  }
  h2coal::request_view rv;
  rv.target = b.origin;
  rv.addresses = b.addresses;
  const auto d = policy_for(m).decide(rv, std::vector<h2coal::connection_view>{v});
  return d.action == h2coal::decision_action::coalesce;
}

/// What a probe of A -> B found (B's path on a connection opened for A, against B's own answer).
enum class verdict {
  same,        ///< the same status and body: sharing is harmless
  misdirected, ///< "421": the server refused B on A's connection and the client went again (a correct defence)
  misrouted,   ///< status or body differ: the shared connection serves B something else
  not_shared,  ///< the prediction did not hold: h2coal's client did not share the connection
  error,       ///< the probe failed
};
inline const char* to_string(verdict v) {
  switch (v) {
    case verdict::same: return "same";
    case verdict::misdirected: return "421";
    case verdict::misrouted: return "misrouted";
    case verdict::not_shared: return "not-shared";
    case verdict::error: return "error";
  }
  return "?";
}

/// One ordered pair some model would share a connection for.
struct pair_report {
  std::size_t from = 0, to = 0;          ///< indexes into the origins
  std::vector<model> shared_by;          ///< the models that would put `to` on `from`'s connection
  std::optional<verdict> result;         ///< the probe's (none: not probed, --max-requests)
  int status = 0;                        ///< B's status on A's connection
  std::string digest;
  std::string detail;                    ///< what failed, for an error
  int exit_code = 0;                     ///< ... and h2get's exit code for it

  /// What an operator can do about a misrouted or defended pair.
  std::string fix(const std::vector<origin_facts>& o) const {
    if (!result || (*result != verdict::misrouted && *result != verdict::misdirected)) return {};
    if (*result == verdict::misdirected)
      return "none needed: the server answers 421 for " + o[to].name() + " on " + o[from].name() + "'s connection";
    return "answer 421 Misdirected Request for " + o[to].name() + " on connections whose SNI is " + o[from].origin.host +
           " (RFC 9110 section 15.5.20), or send an ORIGIN frame that leaves it out (RFC 8336), or give the names "
           "separate certificates or addresses";
  }
};

/// Every ordered pair of usable origins that some model shares.
inline std::vector<pair_report> predicted_pairs(const std::vector<origin_facts>& o) {
  std::vector<pair_report> out;
  for (std::size_t a = 0; a < o.size(); ++a)
    for (std::size_t b = 0; b < o.size(); ++b) {
      if (a == b) continue;
      pair_report p;
      p.from = a;
      p.to = b;
      for (auto m : models)
        if (would_share(m, o[a], o[b])) p.shared_by.push_back(m);
      if (!p.shared_by.empty()) out.push_back(std::move(p));
    }
  return out;
}

/// The coalescing groups of model `m`: origins joined by a shared connection either way, each group in
/// the order the names were given, groups of one left out.
inline std::vector<std::vector<std::size_t>> groups(model m, const std::vector<origin_facts>& o,
                                                    const std::vector<pair_report>& pairs) {
  std::vector<std::size_t> parent(o.size());
  for (std::size_t i = 0; i < parent.size(); ++i) parent[i] = i;
  auto root = [&parent](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (const auto& p : pairs)
    if (std::find(p.shared_by.begin(), p.shared_by.end(), m) != p.shared_by.end()) parent[root(p.from)] = root(p.to);
  std::map<std::size_t, std::vector<std::size_t>> by_root;
  for (std::size_t i = 0; i < o.size(); ++i) by_root[root(i)].push_back(i);
  std::vector<std::vector<std::size_t>> out;
  for (auto& [r, members] : by_root)
    if (members.size() > 1) out.push_back(std::move(members));
  return out;
}

/// One HTTP/2 session of a Chromium NetLog: the origin it was opened for, where its socket connected,
/// and the origins Chromium sent requests for on it (the :authority of every HEADERS it sent).
struct netlog_session {
  std::int64_t id = 0;                        ///< the NetLog source id
  h2coal::origin host;                        ///< what it was opened for (HTTP2_SESSION's host)
  std::string proxy;                          ///< "[direct://]" when none
  std::string remote;                         ///< its socket's "ip:port" ("" when the log did not say)
  std::vector<h2coal::origin> origins;        ///< requests sent on it, in the order first seen
  std::vector<h2coal::origin> misdirected;    ///< ... of which answered 421 on it
};

/// A name Chromium sent on a session opened for another name.
struct netlog_pooling {
  h2coal::origin name, onto;
  std::int64_t session = 0;
  std::string remote;
  std::vector<std::string> events;  ///< the pool events that gave it the session ("" none: only its HEADERS show it)
};

/// What a Chromium NetLog says Chromium did (inputs.hpp reads it).
struct netlog_report {
  std::string file;
  std::vector<netlog_session> sessions;
  std::vector<netlog_pooling> pooled;
  std::vector<h2coal::origin> restarted;  ///< went again after a 421 (HTTP_TRANSACTION_RESTART_MISDIRECTED_REQUEST)
  std::size_t events = 0;                 ///< events read
  std::size_t skipped = 0;                ///< events too large to read (read_limits::max_event_bytes)
  bool truncated = false;                 ///< the file ends early (Chromium was stopped before it closed it)
};

/// host, or host:port when the port is not 443: as the reports name origins.
inline std::string name_of(const h2coal::origin& o) { return o.is_default_port() ? o.host : o.authority(); }

inline std::string origin_facts::name() const { return name_of(origin); }

/// The whole audit, as the reports show it.
struct audit {
  std::vector<origin_facts> origins;
  std::vector<pair_report> pairs;
  std::size_t rounds = 0;
  std::string method = "GET";           ///< what every fetch and probe sent (GET, or HEAD with -I)
  std::optional<netlog_report> netlog;  ///< --netlog: what Chromium did, beside the prediction

  /// What the NetLog shows Chromium did with pair `p`: "pooled" (B sent on A's session), "pooled onto C",
  /// "own session", "not in the log" (no request for B); "" without a NetLog.
  std::string chromium_did(const pair_report& p) const {
    if (!netlog) return {};
    const auto& from = origins[p.from].origin;
    const auto& to = origins[p.to].origin;
    std::string elsewhere;
    for (const auto& pl : netlog->pooled)
      if (pl.name == to) {
        if (pl.onto == from) return "pooled";
        if (elsewhere.empty()) elsewhere = "pooled onto " + name_of(pl.onto);
      }
    if (!elsewhere.empty()) return elsewhere;
    for (const auto& s : netlog->sessions)
      if (s.host == to) return "own session";
    return "not in the log";
  }
  /// Whether the chromium model predicted a pooling the NetLog shows (nullopt: a name not audited).
  std::optional<bool> predicted(const netlog_pooling& pl) const {
    auto index = [this](const h2coal::origin& o) -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < origins.size(); ++i)
        if (origins[i].origin == o) return i;
      return std::nullopt;
    };
    const auto from = index(pl.onto), to = index(pl.name);
    if (!from || !to) return std::nullopt;
    return std::any_of(pairs.begin(), pairs.end(), [&](const pair_report& p) {
      return p.from == *from && p.to == *to &&
             std::find(p.shared_by.begin(), p.shared_by.end(), model::chromium) != p.shared_by.end();
    });
  }
  bool misrouted() const {
    return std::any_of(pairs.begin(), pairs.end(), [](const pair_report& p) { return p.result == verdict::misrouted; });
  }
};

inline std::string join(const std::vector<std::string>& items, std::string_view sep = " ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

/// The NetLog's part of the text report: the sessions that carried more than one name (or a 421), each
/// name Chromium pooled onto another's session (and whether the chromium model predicted it), the
/// requests it sent again after a 421.
inline std::string netlog_text(const audit& a) {
  const auto& n = *a.netlog;
  std::string out = "chromium's NetLog (" + n.file + ": " + std::to_string(n.events) + " events, " +
                    std::to_string(n.sessions.size()) + " HTTP/2 sessions";
  if (n.truncated) out += "; it ends early: Chromium was stopped before it closed the file";
  if (n.skipped) out += "; " + std::to_string(n.skipped) + " events too large to read";
  out += "):\n";
  for (const auto& s : n.sessions) {
    if (s.origins.size() < 2 && s.misdirected.empty()) continue;
    std::vector<std::string> names;
    for (const auto& o : s.origins) names.push_back(name_of(o));
    out += "  session " + std::to_string(s.id) + " opened for " + name_of(s.host) +
           (s.remote.empty() ? std::string() : " at " + s.remote) + " carried " + join(names, ", ") + "\n";
    for (const auto& m : s.misdirected) out += "    421 for " + name_of(m) + " on it\n";
  }
  if (n.pooled.empty()) out += "  none pooled: Chromium sent no name on a session opened for another name\n";
  for (const auto& pl : n.pooled) {
    out += "  pooled: " + name_of(pl.name) + " onto " + name_of(pl.onto) + "'s session " + std::to_string(pl.session) +
           (pl.remote.empty() ? std::string() : " (" + pl.remote + ")");
    if (!pl.events.empty()) out += " [" + join(pl.events, ",") + "]";
    if (!a.origins.empty()) {
      const auto p = a.predicted(pl);
      out += p ? (*p ? "  predicted" : "  NOT predicted by the chromium model") : "  (a name not audited)";
    }
    out += "\n";
  }
  for (const auto& r : n.restarted) out += "  sent again after a 421: " + name_of(r) + "\n";
  return out;
}

/// The text report: the names, the groups per model, the pairs with their verdicts and fixes; with a
/// NetLog, what Chromium did. A NetLog alone (no names) is its part only.
inline std::string text_report(const audit& a) {
  if (a.origins.empty() && a.netlog) return netlog_text(a);
  const auto& o = a.origins;
  std::string out = "names (" + std::to_string(o.size()) + ", resolved " + std::to_string(a.rounds) + " times each):\n";
  for (const auto& f : o) {
    out += "  " + f.name() + "  ";
    if (!f.resolve_error.empty()) {
      out += "not resolved: " + f.resolve_error + "\n";
      continue;
    }
    out += join(f.addresses, ",");
    if (f.answers_differ) out += " (answers differ between rounds)";
    if (f.rerouted) out += " (--connect-to: never shared)";
    if (!f.error.empty()) {
      out += "  error: " + f.error + "\n";
      continue;
    }
    out += "  connected " + f.connected_ip + "  " + (f.alpn.empty() ? std::string("-") : f.alpn) + " " + f.tls_version;
    out += "  certificate: " + join(f.sans, ",");
    if (f.origin_set) out += "  ORIGIN: " + join(*f.origin_set, ",");
    out += "  " + f.path + " -> " + std::to_string(f.status) + "\n";
  }
  for (auto m : models) {
    auto gs = groups(m, o, a.pairs);
    out += std::string("groups (") + to_string(m) + "):";
    if (gs.empty()) out += " none";
    out += "\n";
    for (const auto& g : gs) {
      std::vector<std::string> names;
      for (auto i : g) names.push_back(o[i].name());
      out += "  {" + join(names, ", ") + "}\n";
    }
  }
  out += "pairs (B's path on the connection opened for A):\n";
  if (a.pairs.empty()) out += "  none: no modelled client shares a connection between these names\n";
  for (const auto& p : a.pairs) {
    std::vector<std::string> by;
    for (auto m : p.shared_by) by.push_back(to_string(m));
    out += "  " + o[p.from].name() + " -> " + o[p.to].name() + "  [" + join(by, ",") + "]  ";
    if (!p.result) {
      out += "not probed (--max-requests)";
      if (a.netlog) out += "  chromium (NetLog): " + a.chromium_did(p);
      out += "\n";
      continue;
    }
    out += to_string(*p.result);
    if (*p.result == verdict::misrouted)
      out += ": " + std::to_string(p.status) + " where its own connection answers " + std::to_string(o[p.to].status) +
             (p.status == o[p.to].status ? " with another body" : "");
    if (*p.result == verdict::error) out += ": " + p.detail;
    if (a.netlog) out += "  chromium (NetLog): " + a.chromium_did(p);
    out += "\n";
    if (auto f = p.fix(o); !f.empty()) out += "    fix: " + f + "\n";
  }
  if (a.netlog) out += netlog_text(a);
  const bool failed = std::any_of(a.pairs.begin(), a.pairs.end(), [](const pair_report& p) { return p.result == verdict::error; });
  out += a.misrouted() ? "result: misrouting found\n" : failed ? "result: incomplete (a probe failed)\n" : "result: clean\n";
  return out;
}

/// The JSON report (docs/h2audit.md has the schema).
inline std::string json_report(const audit& a) {
  using h2coal::trace::detail::append_json_string;
  const auto& o = a.origins;
  auto strings = [](std::string& out, const std::vector<std::string>& v) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      append_json_string(out, v[i]);
    }
    out += ']';
  };
  std::string out = "{\"version\":1,\"rounds\":" + std::to_string(a.rounds) + ",\"method\":\"" + a.method + "\",\"names\":[";
  for (std::size_t i = 0; i < o.size(); ++i) {
    const auto& f = o[i];
    if (i) out += ',';
    out += "{\"origin\":";
    append_json_string(out, f.origin.serialize());
    out += ",\"path\":";
    append_json_string(out, f.path);
    out += ",\"answers\":[";
    for (std::size_t r = 0; r < f.rounds.size(); ++r) {
      if (r) out += ',';
      strings(out, f.rounds[r]);
    }
    out += "],\"answers_differ\":" + std::string(f.answers_differ ? "true" : "false");
    out += ",\"connected_ip\":";
    append_json_string(out, f.connected_ip);
    out += ",\"alpn\":";
    append_json_string(out, f.alpn);
    out += ",\"tls_version\":";
    append_json_string(out, f.tls_version);
    out += ",\"certificate_names\":";
    strings(out, f.sans);
    out += ",\"verified\":" + std::string(f.verified ? "true" : "false");
    out += ",\"origin_set\":";
    if (f.origin_set) strings(out, *f.origin_set);
    else out += "null";
    out += ",\"status\":" + std::to_string(f.status) + ",\"body_sha256\":";
    append_json_string(out, f.digest);
    out += ",\"error\":";
    if (f.error.empty() && f.resolve_error.empty()) out += "null";
    else append_json_string(out, f.resolve_error.empty() ? f.error : f.resolve_error);
    out += '}';
  }
  out += "],\"groups\":{";
  bool first_model = true;
  for (auto m : models) {
    if (!first_model) out += ',';
    first_model = false;
    append_json_string(out, to_string(m));
    out += ":[";
    auto gs = groups(m, o, a.pairs);
    for (std::size_t g = 0; g < gs.size(); ++g) {
      if (g) out += ',';
      std::vector<std::string> names;
      for (auto i : gs[g]) names.push_back(o[i].origin.serialize());
      strings(out, names);
    }
    out += ']';
  }
  out += "},\"pairs\":[";
  for (std::size_t i = 0; i < a.pairs.size(); ++i) {
    const auto& p = a.pairs[i];
    if (i) out += ',';
    out += "{\"from\":";
    append_json_string(out, o[p.from].origin.serialize());
    out += ",\"to\":";
    append_json_string(out, o[p.to].origin.serialize());
    std::vector<std::string> by;
    for (auto m : p.shared_by) by.push_back(to_string(m));
    out += ",\"shared_by\":";
    strings(out, by);
    out += ",\"verdict\":";
    if (p.result) append_json_string(out, to_string(*p.result));
    else out += "null";
    out += ",\"status\":" + std::to_string(p.status) + ",\"body_sha256\":";
    append_json_string(out, p.digest);
    out += ",\"fix\":";
    if (auto f = p.fix(o); !f.empty()) append_json_string(out, f);
    else out += "null";
    out += ",\"detail\":";
    if (p.detail.empty()) out += "null";
    else append_json_string(out, p.detail);
    out += ",\"chromium_netlog\":";
    if (a.netlog) append_json_string(out, a.chromium_did(p));
    else out += "null";
    out += '}';
  }
  out += "],\"netlog\":";
  if (!a.netlog) {
    out += "null";
  } else {
    const auto& n = *a.netlog;
    auto origins = [&](const std::vector<h2coal::origin>& v) {
      std::vector<std::string> s;
      for (const auto& x : v) s.push_back(x.serialize());
      strings(out, s);
    };
    out += "{\"file\":";
    append_json_string(out, n.file);
    out += ",\"events\":" + std::to_string(n.events) + ",\"skipped\":" + std::to_string(n.skipped) +
           ",\"truncated\":" + (n.truncated ? "true" : "false") + ",\"sessions\":[";
    for (std::size_t i = 0; i < n.sessions.size(); ++i) {
      const auto& se = n.sessions[i];
      if (i) out += ',';
      out += "{\"id\":" + std::to_string(se.id) + ",\"host\":";
      append_json_string(out, se.host.serialize());
      out += ",\"proxy\":";
      append_json_string(out, se.proxy);
      out += ",\"remote_address\":";
      append_json_string(out, se.remote);
      out += ",\"origins\":";
      origins(se.origins);
      out += ",\"misdirected\":";
      origins(se.misdirected);
      out += '}';
    }
    out += "],\"pooled\":[";
    for (std::size_t i = 0; i < n.pooled.size(); ++i) {
      const auto& pl = n.pooled[i];
      if (i) out += ',';
      out += "{\"name\":";
      append_json_string(out, pl.name.serialize());
      out += ",\"onto\":";
      append_json_string(out, pl.onto.serialize());
      out += ",\"session\":" + std::to_string(pl.session) + ",\"remote_address\":";
      append_json_string(out, pl.remote);
      out += ",\"events\":";
      strings(out, pl.events);
      const auto pr = a.origins.empty() ? std::nullopt : a.predicted(pl);
      out += ",\"predicted\":" + std::string(!pr ? "null" : *pr ? "true" : "false") + '}';
    }
    out += "],\"restarted_after_421\":";
    origins(n.restarted);
    out += '}';
  }
  out += ",\"misrouted\":" + std::string(a.misrouted() ? "true" : "false") + "}\n";
  return out;
}

/// Text for HTML: the five characters that could open markup or end an attribute, escaped.
inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

/// The NetLog's part of the HTML page: each name Chromium pooled onto another's session, beside the
/// prediction, then the sessions that carried more than one name.
inline std::string netlog_html(const audit& a) {
  const auto& n = *a.netlog;
  std::string out = "<h2>What Chromium did (NetLog)</h2>\n<p>" + html_escape(n.file) + ": " + std::to_string(n.events) +
                    " events, " + std::to_string(n.sessions.size()) + " HTTP/2 sessions" +
                    (n.truncated ? "; the log ends early (Chromium was stopped before it closed the file)" : "") +
                    ".</p>\n";
  if (n.pooled.empty()) {
    out += "<p>Chromium sent no name on a session opened for another name.</p>\n";
  } else {
    out += "<table><tr><th>name</th><th>sent on the session of</th><th>session</th><th>address</th><th>pool events</th>"
           "<th>predicted (chromium model)</th></tr>\n";
    for (const auto& pl : n.pooled) {
      const auto pr = a.origins.empty() ? std::nullopt : a.predicted(pl);
      out += "<tr class=\"pooled\"><td>" + html_escape(name_of(pl.name)) + "</td><td>" + html_escape(name_of(pl.onto)) +
             "</td><td>" + std::to_string(pl.session) + "</td><td>" + html_escape(pl.remote) + "</td><td>" +
             html_escape(join(pl.events, ", ")) + "</td><td>" + (!pr ? "not audited" : *pr ? "yes" : "no") + "</td></tr>\n";
    }
    out += "</table>\n";
  }
  for (const auto& r : n.restarted) out += "<p>Chromium sent " + html_escape(name_of(r)) + " again after a 421.</p>\n";
  return out;
}

/// One self-contained HTML page (no scripts, nothing fetched from anywhere): an inline SVG of names ->
/// addresses -> certificates with the predicted connections between names (misrouted pairs in red, 421
/// pairs in amber, harmless ones in green), then the findings with a fix each.
inline std::string html_report(const audit& a) {
  const auto& o = a.origins;
  std::vector<std::string> addresses, certificates;
  auto index_of = [](std::vector<std::string>& v, const std::string& s) {
    auto it = std::find(v.begin(), v.end(), s);
    if (it != v.end()) return static_cast<std::size_t>(it - v.begin());
    v.push_back(s);
    return v.size() - 1;
  };
  std::vector<std::vector<std::size_t>> name_addrs(o.size());
  std::vector<std::optional<std::size_t>> name_cert(o.size());
  for (std::size_t i = 0; i < o.size(); ++i) {
    for (const auto& ad : o[i].addresses) name_addrs[i].push_back(index_of(addresses, ad));
    if (!o[i].sans.empty()) name_cert[i] = index_of(certificates, join(o[i].sans, ", "));
  }
  const int row = 44, top = 60, name_x = 200, addr_x = 470, cert_x = 700;
  const std::size_t rows = std::max({o.size(), addresses.size(), certificates.size(), std::size_t{1}});
  const int height = top + static_cast<int>(rows) * row + 20;
  auto y = [&](std::size_t i) { return top + static_cast<int>(i) * row; };
  auto colour = [](const pair_report& p) -> const char* {
    if (!p.result) return "#999";
    switch (*p.result) {
      case verdict::misrouted: return "#d00";
      case verdict::misdirected: return "#e90";
      case verdict::same: return "#2a2";
      default: return "#999";
    }
  };
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1000\" height=\"" + std::to_string(height) +
                    "\" font-family=\"sans-serif\" font-size=\"13\">\n";
  svg += "<text x=\"" + std::to_string(name_x) + "\" y=\"24\" font-weight=\"bold\" text-anchor=\"end\">names</text>";
  svg += "<text x=\"" + std::to_string(addr_x) + "\" y=\"24\" font-weight=\"bold\">addresses</text>";
  svg += "<text x=\"" + std::to_string(cert_x) + "\" y=\"24\" font-weight=\"bold\">certificates (names they cover)</text>\n";
  for (std::size_t i = 0; i < o.size(); ++i) {
    for (auto ad : name_addrs[i])
      svg += "<line x1=\"" + std::to_string(name_x + 8) + "\" y1=\"" + std::to_string(y(i)) + "\" x2=\"" +
             std::to_string(addr_x - 8) + "\" y2=\"" + std::to_string(y(ad)) + "\" stroke=\"#bbb\"/>";
    if (name_cert[i])
      svg += "<line x1=\"" + std::to_string(name_x + 8) + "\" y1=\"" + std::to_string(y(i)) + "\" x2=\"" +
             std::to_string(cert_x - 8) + "\" y2=\"" + std::to_string(y(*name_cert[i])) +
             "\" stroke=\"#ccd\" stroke-dasharray=\"4 3\"/>";
    svg += "<text x=\"" + std::to_string(name_x) + "\" y=\"" + std::to_string(y(i) + 4) + "\" text-anchor=\"end\">" +
           html_escape(o[i].name()) + "</text>\n";
  }
  for (std::size_t i = 0; i < addresses.size(); ++i)
    svg += "<text x=\"" + std::to_string(addr_x) + "\" y=\"" + std::to_string(y(i) + 4) + "\">" + html_escape(addresses[i]) + "</text>\n";
  for (std::size_t i = 0; i < certificates.size(); ++i)
    svg += "<text x=\"" + std::to_string(cert_x) + "\" y=\"" + std::to_string(y(i) + 4) + "\">" + html_escape(certificates[i]) + "</text>\n";
  // The predicted connections: an arc left of the names from A to B, its colour the verdict.
  for (std::size_t k = 0; k < a.pairs.size(); ++k) {
    const auto& p = a.pairs[k];
    const int y1 = y(p.from), y2 = y(p.to);
    const int bulge = 20 + static_cast<int>(k % 6) * 14 + std::abs(y2 - y1) / 6;
    const int x = name_x - 8 - static_cast<int>(o[p.from].name().size()) * 7;
    svg += "<path class=\"pair " + std::string(p.result ? to_string(*p.result) : "not-probed") + "\" d=\"M " +
           std::to_string(x) + " " + std::to_string(y1 - 4) + " C " + std::to_string(x - bulge) + " " +
           std::to_string(y1 - 4) + ", " + std::to_string(x - bulge) + " " + std::to_string(y2 - 4) + ", " +
           std::to_string(x) + " " + std::to_string(y2 - 4) + "\" fill=\"none\" stroke=\"" + colour(p) +
           "\" stroke-width=\"2\"><title>" + html_escape(o[p.from].name() + " -> " + o[p.to].name() + ": " +
                                                     (p.result ? to_string(*p.result) : "not probed")) +
           "</title></path>\n";
  }
  // What Chromium did (--netlog): a dashed blue arc for each audited name it sent on another's session.
  std::size_t k = a.pairs.size();
  if (a.netlog)
    for (const auto& pl : a.netlog->pooled) {
      std::optional<std::size_t> from, to;
      for (std::size_t i = 0; i < o.size(); ++i) {
        if (o[i].origin == pl.onto) from = i;
        if (o[i].origin == pl.name) to = i;
      }
      if (!from || !to) continue;
      const int y1 = y(*from), y2 = y(*to);
      const int bulge = 20 + static_cast<int>(k++ % 6) * 14 + std::abs(y2 - y1) / 6;
      const int x = name_x - 8 - static_cast<int>(o[*from].name().size()) * 7;
      svg += "<path class=\"netlog\" d=\"M " + std::to_string(x) + " " + std::to_string(y1 + 2) + " C " +
             std::to_string(x - bulge) + " " + std::to_string(y1 + 2) + ", " + std::to_string(x - bulge) + " " +
             std::to_string(y2 + 2) + ", " + std::to_string(x) + " " + std::to_string(y2 + 2) +
             "\" fill=\"none\" stroke=\"#36c\" stroke-width=\"2\" stroke-dasharray=\"6 3\"><title>" +
             html_escape("Chromium sent " + o[*to].name() + " on " + o[*from].name() + "'s session (NetLog)") +
             "</title></path>\n";
    }
  svg += "</svg>\n";

  std::string page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>h2audit</title>\n"
                     "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                     "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.misrouted{color:#d00}"
                     ".v421{color:#b70}.same{color:#2a2}</style></head><body>\n";
  if (o.empty() && a.netlog) {
    page += "<h1>h2audit: Chromium's NetLog</h1>\n" + netlog_html(a) + "</body></html>\n";
    return page;
  }
  page += "<h1>h2audit: " + std::string(a.misrouted() ? "misrouting found" : "clean") + "</h1>\n";
  page += "<p>Arcs left of the names: connections a modelled browser would share (red misrouted, amber 421, "
          "green same). Each name was resolved " + std::to_string(a.rounds) + " times.</p>\n";
  page += svg;
  page += "<h2>Names</h2>\n<table><tr><th>name</th><th>addresses</th><th>connected</th><th>ALPN, TLS</th>"
          "<th>certificate</th><th>ORIGIN</th><th>own answer</th></tr>\n";
  for (const auto& f : o) {
    page += "<tr><td>" + html_escape(f.name()) + "</td><td>" + html_escape(join(f.addresses, ", ")) +
            (f.answers_differ ? " (answers differ)" : "") + "</td><td>" + html_escape(f.connected_ip) + "</td><td>" +
            html_escape(f.alpn + " " + f.tls_version) + "</td><td>" + html_escape(join(f.sans, ", ")) + "</td><td>" +
            (f.origin_set ? html_escape(join(*f.origin_set, ", ")) : std::string("-")) + "</td><td>" +
            (f.error.empty() ? html_escape(f.path) + " &rarr; " + std::to_string(f.status) : html_escape(f.error)) +
            "</td></tr>\n";
  }
  page += "</table>\n<h2>Findings</h2>\n";
  if (a.pairs.empty()) page += "<p>No modelled client shares a connection between these names.</p>\n";
  else {
    page += "<table><tr><th>A &rarr; B</th><th>shared by</th><th>verdict</th><th>fix</th>" +
            std::string(a.netlog ? "<th>Chromium (NetLog)</th>" : "") + "</tr>\n";
    for (const auto& p : a.pairs) {
      std::vector<std::string> by;
      for (auto m : p.shared_by) by.push_back(to_string(m));
      const std::string v = p.result ? to_string(*p.result) : "not probed";
      const std::string cls = v == "421" ? "v421" : v;
      page += "<tr class=\"finding\"><td>" + html_escape(o[p.from].name() + " -> " + o[p.to].name()) + "</td><td>" +
              html_escape(join(by, ", ")) + "</td><td class=\"" + cls + "\">" + html_escape(v) + "</td><td>" +
              html_escape(p.fix(o)) + "</td>" + (a.netlog ? "<td>" + html_escape(a.chromium_did(p)) + "</td>" : "") +
              "</tr>\n";
    }
    page += "</table>\n";
  }
  if (a.netlog) page += netlog_html(a);
  page += "</body></html>\n";
  return page;
}

}  // namespace h2audit
