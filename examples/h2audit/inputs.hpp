// SPDX-License-Identifier: BSL-1.0
// examples/h2audit/inputs.hpp: h2audit's two file readers, both streaming through nlohmann/json's SAX
// parser, so no reader holds a whole file: the https origins of a HAR export (--har), and what a Chromium
// NetLog (--netlog: chrome://net-export or --log-net-log) says Chromium sent on which HTTP/2 session.
//
// Both are bounded whatever the file: nesting deeper than read_limits::max_depth is an error; a NetLog
// keeps one event at a time (an event larger than max_event_bytes is counted and skipped), the sources it
// still needs (ended ones are dropped) and the sessions. Only a single JSON token (one string) is held
// whole, as the parser reads it.
#pragma once

#include "audit.hpp"

#include <h2coal/url.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <istream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace h2audit {

/// What the readers keep at most, whatever the input.
struct read_limits {
  std::size_t max_depth = 64;                   ///< JSON nesting (NetLogs nest about 6 deep, HARs 5)
  std::size_t max_event_bytes = 1 << 20;        ///< one NetLog event kept for reading
  std::size_t max_sources = 1'000'000;          ///< live NetLog sources followed
  std::size_t max_sessions = 100'000;           ///< HTTP/2 sessions reported
  std::size_t max_urls = 100'000;               ///< HAR request URLs kept
};

/// A HAR export's request URLs (https only, in file order), or why the file is no HAR.
struct har_result {
  std::vector<std::string> urls;
  std::string error;
};

/// A NetLog's report (audit.hpp's netlog_report), or why the file is no NetLog.
struct netlog_result {
  netlog_report report;
  std::string error;
};

namespace detail {

/// The SAX callbacks both readers share: the path from the root to the value being read, the depth
/// bound, and the first error. `Reader` gets value(path, json) for scalars, open(path, is_array) before
/// and close(path) after each container; the path's last level names the slot the value fills.
template <class Reader>
class path_sax {
 public:
  struct level {
    bool array = false;
    std::string key;        ///< objects: the key of the value being read
    std::size_t index = 0;  ///< arrays: the index of the value being read (the count after it)
  };
  using json = nlohmann::json;

  path_sax(Reader& r, std::size_t max_depth) : reader_(r), max_depth_(max_depth) {}

  bool null() { return scalar(json(nullptr)); }
  bool boolean(bool v) { return scalar(json(v)); }
  bool number_integer(json::number_integer_t v) { return scalar(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return scalar(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return scalar(json(v)); }
  bool string(json::string_t& v) { return scalar(json(std::move(v))); }
  bool binary(json::binary_t&) { return fail("binary values are no JSON"); }
  bool key(json::string_t& k) {
    path_.back().key = std::move(k);
    return true;
  }
  bool start_object(std::size_t) { return open(false); }
  bool start_array(std::size_t) { return open(true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    syntax_error_ = true;
    at_end_of_input_ = std::string_view(e.what()).find("unexpected end of input") != std::string_view::npos;
    if (error_.empty()) error_ = "not JSON at byte " + std::to_string(position) + ": " + e.what();
    return false;
  }

  const std::vector<level>& path() const { return path_; }
  const std::string& error() const { return error_; }
  bool syntax_error() const { return syntax_error_; }
  bool at_end_of_input() const { return at_end_of_input_; }
  bool fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }

 private:
  bool scalar(json v) {
    const bool ok = reader_.value(path_, std::move(v));
    advance();
    return ok || fail(reader_.why());
  }
  bool open(bool array) {
    if (path_.size() >= max_depth_) return fail("nested deeper than " + std::to_string(max_depth_) + " levels");
    if (!reader_.open(path_, array)) return fail(reader_.why());
    path_.push_back(level{array, {}, 0});
    return true;
  }
  bool close() {
    path_.pop_back();
    const bool ok = reader_.close(path_);
    advance();
    return ok || fail(reader_.why());
  }
  void advance() {
    if (!path_.empty() && path_.back().array) ++path_.back().index;
  }

  Reader& reader_;
  std::size_t max_depth_;
  std::vector<level> path_;
  std::string error_;
  bool syntax_error_ = false, at_end_of_input_ = false;
};

template <class Level>
bool at(const std::vector<Level>& p, std::size_t i, std::string_view key) {
  return p.size() > i && !p[i].array && p[i].key == key;
}

// "host:port", "host" or a URL as an https origin (nullopt when it is none).
inline std::optional<h2coal::origin> origin_of(std::string_view text) {
  std::error_code ec;
  const std::string url = text.find("://") == std::string_view::npos ? "https://" + std::string(text) + "/" : std::string(text);
  auto u = h2coal::url::parse(url, ec);
  if (ec) return std::nullopt;
  return u.origin;
}

// --- HAR ---
struct har_reader {
  const read_limits& limits;
  har_result& out;
  bool saw_entries = false;
  std::string why_;

  const std::string& why() const { return why_; }
  template <class Path>
  bool value(const Path& p, nlohmann::json v) {
    // log.entries[i].request.url
    if (p.size() == 5 && at(p, 0, "log") && at(p, 1, "entries") && p[2].array && at(p, 3, "request") && at(p, 4, "url") &&
        v.is_string()) {
      const auto& url = v.template get_ref<const std::string&>();
      if (url.rfind("https://", 0) == 0 && out.urls.size() < limits.max_urls) out.urls.push_back(url);
    }
    return true;
  }
  template <class Path>
  bool open(const Path& p, bool array) {
    if (p.empty() && array) return fail("a JSON array, not an object with log.entries");
    if (p.size() == 2 && at(p, 0, "log") && at(p, 1, "entries")) {
      if (!array) return fail("log.entries is no array");
      saw_entries = true;
    }
    return true;
  }
  template <class Path>
  bool close(const Path&) {
    return true;
  }
  bool fail(std::string w) {
    why_ = std::move(w);
    return false;
  }
};

// --- NetLog ---
class netlog_reader {
 public:
  netlog_reader(const read_limits& limits, netlog_report& out) : limits_(limits), out_(out) {}
  const std::string& why() const { return why_; }
  bool in_events() const { return in_events_; }
  bool saw_constants() const { return !event_types_.empty(); }

  template <class Path>
  bool value(const Path& p, nlohmann::json v) {
    if (building_) return add(p, std::move(v));
    // constants.logEventTypes / logSourceType / logEventPhase: name -> number.
    if (p.size() == 3 && at(p, 0, "constants") && !p[1].array && !p[2].array && v.is_number_integer()) {
      const auto n = v.template get<std::int64_t>();
      if (p[1].key == "logEventTypes") event_types_[n] = p[2].key;
      else if (p[1].key == "logSourceType") source_types_[n] = p[2].key;
      else if (p[1].key == "logEventPhase") phases_[n] = p[2].key;
    }
    return true;
  }
  template <class Path>
  bool open(const Path& p, bool array) {
    if (p.empty()) return array ? fail("a JSON array, not a NetLog (an object with constants and events)") : true;
    if (building_) return add_container(p, array);
    if (p.size() == 1 && at(p, 0, "events")) {
      if (!array) return fail("events is no array");
      if (!saw_constants())
        return fail("no constants before the events (a NetLog starts with them: its event types are numbers)");
      in_events_ = true;
      return true;
    }
    if (p.size() == 2 && at(p, 0, "events") && p[1].array) {
      if (array) return true;  // not an event: skipped
      start_event();
    }
    return true;
  }
  template <class Path>
  bool close(const Path& p) {
    if (!building_) return true;
    if (p.size() == 2) {  // back in the events array: the event is whole
      building_ = false;
      if (oversized_) ++out_.skipped;
      else handle(event_);
      event_ = nlohmann::json();
      stack_.clear();
      return true;
    }
    if (!oversized_) stack_.pop_back();
    return true;
  }

  /// After the file: the sessions and what was pooled onto them.
  void finish() {
    for (auto& [id, s] : sessions_) {
      for (const auto& o : s.origins)
        if (!(o == s.host)) note_pooling(s, o, {});
      out_.sessions.push_back(s);
    }
    for (auto& [key, names] : evidence_) {
      auto it = sessions_.find(key.first);
      if (it == sessions_.end()) continue;
      note_pooling(it->second, key.second, names);
    }
    std::sort(out_.pooled.begin(), out_.pooled.end(),
              [](const netlog_pooling& a, const netlog_pooling& b) { return a.session < b.session; });
  }

 private:
  bool fail(std::string w) {
    why_ = std::move(w);
    return false;
  }

  void start_event() {
    building_ = true;
    oversized_ = false;
    bytes_ = 0;
    event_ = nlohmann::json::object();
    stack_.assign(1, &event_);
  }
  bool count(std::size_t n) {
    bytes_ += n;
    if (bytes_ > limits_.max_event_bytes) {
      oversized_ = true;
      stack_.clear();
    }
    return true;
  }
  // The slot of the value being read in the container at the top of the stack.
  template <class Path>
  nlohmann::json& slot(const Path& p) {
    auto& top = *stack_.back();
    if (p.back().array) {
      top.push_back(nullptr);
      return top.back();
    }
    return top[p.back().key];
  }
  template <class Path>
  bool add(const Path& p, nlohmann::json v) {
    if (oversized_) return true;
    count(8 + (p.back().array ? 0 : p.back().key.size()) + (v.is_string() ? v.template get_ref<const std::string&>().size() : 0));
    if (oversized_) return true;
    slot(p) = std::move(v);
    return true;
  }
  template <class Path>
  bool add_container(const Path& p, bool array) {
    if (oversized_) return true;
    count(8 + (p.back().array ? 0 : p.back().key.size()));
    if (oversized_) return true;
    auto& s = slot(p);
    s = array ? nlohmann::json::array() : nlohmann::json::object();
    stack_.push_back(&s);
    return true;
  }

  static const nlohmann::json* member(const nlohmann::json& o, const char* k) {
    if (!o.is_object()) return nullptr;
    auto it = o.find(k);
    return it == o.end() ? nullptr : &*it;
  }
  static std::optional<std::int64_t> integer(const nlohmann::json* v) {
    if (!v || !v->is_number_integer()) return std::nullopt;
    return v->get<std::int64_t>();
  }
  static const std::string* text(const nlohmann::json* v) {
    return v && v->is_string() ? &v->get_ref<const std::string&>() : nullptr;
  }
  template <class Map>
  static std::string name_in(const Map& m, std::optional<std::int64_t> n) {
    if (!n) return {};
    auto it = m.find(*n);
    return it == m.end() ? std::string() : it->second;
  }

  struct source {
    std::optional<h2coal::origin> destination;  // the origin a job, controller or request was for
    std::string remote;                          // sockets: the address connected to
  };

  void handle(const nlohmann::json& e) {
    ++out_.events;
    const std::string name = name_in(event_types_, integer(member(e, "type")));
    const auto* src = member(e, "source");
    const auto id = integer(member(*(src ? src : &e), "id"));
    if (name.empty() || !src || !id) return;
    const std::string src_type = name_in(source_types_, integer(member(*src, "type")));
    const std::string phase = name_in(phases_, integer(member(e, "phase")));
    const nlohmann::json empty = nlohmann::json::object();
    const auto* params_p = member(e, "params");
    const auto& params = params_p && params_p->is_object() ? *params_p : empty;

    // What each source is for: a job's logical destination, a request's URL (the latest, after redirects).
    for (const char* k : {"logical_destination", "destination", "url", "original_url"})
      if (const auto* s = text(member(params, k))) {
        if (auto o = origin_of(*s); o && o->is_tls()) {
          if (auto* known = find_source(*id)) known->destination = *o;
          else if (sources_.size() < limits_.max_sources) sources_[*id].destination = *o;
        }
        break;
      }

    if (src_type == "SOCKET" && name == "TCP_CONNECT" && phase == "PHASE_END") {
      if (const auto* r = text(member(params, "remote_address")); r && sources_.size() < limits_.max_sources)
        sources_[*id].remote = *r;
    } else if (src_type == "HTTP2_SESSION") {
      session_event(*id, name, phase, params);
    } else if (name == "HTTP_TRANSACTION_RESTART_MISDIRECTED_REQUEST") {
      if (auto* s = find_source(*id); s && s->destination &&
          std::find(out_.restarted.begin(), out_.restarted.end(), *s->destination) == out_.restarted.end())
        out_.restarted.push_back(*s->destination);
    } else if (is_pool_event(name)) {
      // A job (or request) given a session: evidence of what was pooled when the session was opened for
      // another origin.
      const auto* dep_p = member(params, "source_dependency");
      const auto dep = dep_p ? integer(member(*dep_p, "id")) : std::nullopt;
      auto* s = find_source(*id);
      if (dep && s && s->destination && sessions_.count(*dep)) {
        auto& names = evidence_[{*dep, *s->destination}];
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
    }
    // A source that ended is not asked about again.
    if (phase == "PHASE_END" && (name == src_type || name == "REQUEST_ALIVE" || name == "SOCKET_ALIVE")) sources_.erase(*id);
  }

  static bool is_pool_event(const std::string& name) {
    return name == "HTTP2_SESSION_POOL_FOUND_EXISTING_SESSION" || name == "HTTP2_SESSION_POOL_FOUND_EXISTING_SESSION_FROM_IP_POOL" ||
           name == "HTTP2_SESSION_POOL_IMPORTED_SESSION_FROM_SOCKET" || name == "HTTP_STREAM_JOB_HTTP2_SESSION_AVAILABLE" ||
           name == "HTTP_STREAM_POOL_ATTEMPT_MANAGER_EXISTING_SPDY_SESSION_MATCHED";
  }

  source* find_source(std::int64_t id) {
    auto it = sources_.find(id);
    return it == sources_.end() ? nullptr : &it->second;
  }

  void session_event(std::int64_t id, const std::string& name, const std::string& phase, const nlohmann::json& params) {
    if (name == "HTTP2_SESSION" && phase == "PHASE_BEGIN") {
      const auto* host = text(member(params, "host"));
      auto o = host ? origin_of(*host) : std::nullopt;
      if (!o || sessions_.size() >= limits_.max_sessions) return;
      netlog_session s;
      s.id = id;
      s.host = *o;
      if (const auto* proxy = text(member(params, "proxy"))) s.proxy = *proxy;
      sessions_.emplace(id, std::move(s));
      return;
    }
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    auto& s = it->second;
    if (name == "HTTP2_SESSION_INITIALIZED") {
      const auto* dep = member(params, "source_dependency");
      if (auto sock = dep ? find_source(integer(member(*dep, "id")).value_or(-1)) : nullptr) s.remote = sock->remote;
    } else if (name == "HTTP2_SESSION_SEND_HEADERS") {
      const auto authority = header(params, ":authority");
      auto o = authority ? origin_of(*authority) : std::nullopt;
      if (!o) return;
      if (std::find(s.origins.begin(), s.origins.end(), *o) == s.origins.end()) s.origins.push_back(*o);
      if (const auto stream = integer(member(params, "stream_id"))) streams_[{id, *stream}] = *o;
    } else if (name == "HTTP2_SESSION_RECV_HEADERS") {
      const auto stream = integer(member(params, "stream_id"));
      if (!stream) return;
      auto st = streams_.find({id, *stream});
      if (st == streams_.end()) return;
      const auto status = header(params, ":status");
      if (status && *status == "421" &&
          std::find(s.misdirected.begin(), s.misdirected.end(), st->second) == s.misdirected.end())
        s.misdirected.push_back(st->second);
      if (!status || status->empty() || (*status)[0] != '1') streams_.erase(st);  // the final head: done
    } else if (name == "HTTP2_SESSION" && phase == "PHASE_END") {
      for (auto st = streams_.lower_bound({id, std::numeric_limits<std::int64_t>::min()}); st != streams_.end() && st->first.first == id;) st = streams_.erase(st);
    }
  }

  // A header's value from NetLog's "name: value" strings (params.headers).
  static std::optional<std::string> header(const nlohmann::json& params, std::string_view field) {
    const auto* hs = member(params, "headers");
    if (!hs || !hs->is_array()) return std::nullopt;
    for (const auto& h : *hs) {
      const auto* s = text(&h);
      if (s && s->size() > field.size() + 1 && s->compare(0, field.size(), field) == 0 && (*s)[field.size()] == ':') {
        auto v = s->substr(field.size() + 1);
        v.erase(0, v.find_first_not_of(' '));
        return v;
      }
    }
    return std::nullopt;
  }

  void note_pooling(const netlog_session& s, const h2coal::origin& name, const std::vector<std::string>& events) {
    if (name == s.host) return;
    auto it = std::find_if(out_.pooled.begin(), out_.pooled.end(),
                           [&](const netlog_pooling& p) { return p.session == s.id && p.name == name; });
    if (it == out_.pooled.end()) {
      netlog_pooling p;
      p.name = name;
      p.onto = s.host;
      p.session = s.id;
      p.remote = s.remote;
      out_.pooled.push_back(std::move(p));
      it = out_.pooled.end() - 1;
    }
    for (const auto& e : events)
      if (std::find(it->events.begin(), it->events.end(), e) == it->events.end()) it->events.push_back(e);
  }

  const read_limits& limits_;
  netlog_report& out_;
  std::string why_;
  std::unordered_map<std::int64_t, std::string> event_types_, source_types_, phases_;
  bool in_events_ = false, building_ = false, oversized_ = false;
  std::size_t bytes_ = 0;
  nlohmann::json event_;
  std::vector<nlohmann::json*> stack_;
  std::unordered_map<std::int64_t, source> sources_;
  std::map<std::int64_t, netlog_session> sessions_;
  std::map<std::pair<std::int64_t, std::int64_t>, h2coal::origin> streams_;
  std::map<std::pair<std::int64_t, h2coal::origin>, std::vector<std::string>> evidence_;
};

}  // namespace detail

/// The https request URLs of a HAR export (log.entries[].request.url), streamed.
inline har_result read_har(std::istream& in, const read_limits& limits = {}) {
  har_result out;
  detail::har_reader r{limits, out, false, {}};
  detail::path_sax<detail::har_reader> sax(r, limits.max_depth);
  const bool ok = nlohmann::json::sax_parse(in, &sax);
  if (!ok) out.error = sax.error().empty() ? "not JSON" : sax.error();
  else if (!r.saw_entries) out.error = "no log.entries array (a HAR file is a JSON object with log.entries)";
  if (!out.error.empty()) out.urls.clear();
  return out;
}

/// What a Chromium NetLog says about HTTP/2 sessions, streamed. A log whose end is missing (Chromium was
/// stopped before it closed the file: no "]}") is read as far as it goes and marked truncated.
inline netlog_result read_netlog(std::istream& in, const read_limits& limits = {}) {
  netlog_result out;
  detail::netlog_reader r(limits, out.report);
  detail::path_sax<detail::netlog_reader> sax(r, limits.max_depth);
  const bool ok = nlohmann::json::sax_parse(in, &sax);
  if (!ok) {
    // Cut anywhere in the events (between two, or inside the last): everything up to it was read.
    const bool exhausted = in.rdbuf() && std::istream::traits_type::eq_int_type(in.rdbuf()->sgetc(), std::istream::traits_type::eof());
    if (sax.syntax_error() && (sax.at_end_of_input() || exhausted) && r.in_events()) out.report.truncated = true;
    else out.error = sax.error().empty() ? "not JSON" : sax.error();
  } else if (!r.in_events()) {
    out.error = "no events array (a NetLog is a JSON object with constants and events)";
  }
  if (out.error.empty()) r.finish();
  return out;
}

}  // namespace h2audit
