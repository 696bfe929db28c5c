// SPDX-License-Identifier: BSL-1.0
// examples/h2get/graph.hpp: the picture --graph draws, built from the client's own trace events.
//
// Nodes are origins (ellipses) and connections (boxes: remote, SNI, ALPN, origin set). An edge from an
// origin to a connection means requests for that origin went over it, labelled with the pool's decision
// basis (same-origin, dns-match, origin-frame) and a count; a 421 is a red dashed edge, and a connection
// the pool looked at and rejected for an origin is a grey dotted edge labelled with the reason. Everything
// comes from trace events (DESIGN section 5), so the graph shows exactly what the trace says.
#pragma once

#include <h2coal/pool.hpp>
#include <h2coal/trace.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace h2get {

class connection_graph {
 public:
  /// Feed every trace event of the client, in order.
  void on_event(const h2coal::trace::event& e) {
    const std::string& ev = e.ev;
    if (ev == "request.start") {
      const std::string o = text(e, "origin");
      req_origin_[integer(e, "req")] = o;
      if (!o.empty()) note_origin(o);
    } else if (ev == "pool.decision") {
      const auto req = integer(e, "req");
      const std::string o = text(e, "origin");
      req_basis_[req] = text(e, "basis");
      if (const auto* v = e.find("candidates"))
        if (const auto* list = std::get_if<std::vector<h2coal::trace::record>>(v))
          for (const auto& r : *list) {
            if (field(r, "verdict") != "rejected") continue;
            std::string reason = field(r, "reason");
            add_edge(o, int_field(r, "conn"), edge_kind::rejected, reason.empty() ? "rejected" : "rejected: " + reason);
          }
    } else if (ev == "conn.connect") {
      auto& c = conns_[integer(e, "conn")];
      c.origin = text(e, "origin");
      c.remote = text(e, "remote");
      c.sni = text(e, "sni");
      note_origin(c.origin);
    } else if (ev == "conn.ready") {
      conns_[integer(e, "conn")].alpn = text(e, "alpn");
    } else if (ev == "conn.failed") {
      conns_[integer(e, "conn")].error = text(e, "error");
    } else if (ev == "conn.origin_frame") {
      if (const auto* v = e.find("origin_set"))
        if (const auto* list = std::get_if<std::vector<std::string>>(v)) conns_[integer(e, "conn")].origin_set = *list;
    } else if (ev == "conn.goaway") {
      conns_[integer(e, "conn")].goaway = true;
    } else if (ev == "conn.redundant") {
      conns_[integer(e, "conn")].redundant_to = integer(e, "served_by");
    } else if (ev == "request.sent") {
      const auto req = integer(e, "req");
      std::string label = req_basis_[req].empty() ? "same-origin" : req_basis_[req];
      if (req_retried_[req]) label += " (retry after 421)";
      add_edge(req_origin_[req], integer(e, "conn"), edge_kind::carried, label);
    } else if (ev == "request.misdirected") {
      add_edge(text(e, "origin"), integer(e, "conn"), edge_kind::misdirected, "421 misdirected");
    } else if (ev == "request.retry") {
      if (text(e, "reason") == "421") req_retried_[integer(e, "req")] = true;
    } else if (ev == "request.done") {
      const auto req = integer(e, "req");
      if (e.find("error") && integer(e, "conn") == 0) origin_errors_[req_origin_[req]] = text(e, "error");
    }
  }

  /// Fills in what the trace may not have said (connections that failed before connecting).
  void add_summaries(const std::vector<h2coal::connection_summary>& list) {
    for (const auto& s : list) {
      auto& c = conns_[static_cast<std::int64_t>(s.id)];
      if (c.origin.empty()) c.origin = s.origin;
      if (c.remote.empty()) c.remote = s.remote;
      if (c.sni.empty()) c.sni = s.sni;
      if (c.alpn.empty()) c.alpn = s.alpn;
      note_origin(s.origin);
    }
  }

  /// Graphviz DOT text of everything seen so far.
  std::string dot(const std::string& title) const {
    std::string out = "digraph h2get {\n";
    out += "  graph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, label=" + quote(title) + "];\n";
    out += "  node [fontname=\"Helvetica\", fontsize=11];\n";
    out += "  edge [fontname=\"Helvetica\", fontsize=10];\n";
    for (const auto& o : origins_) {
      std::string label = o;
      std::string extra;
      if (auto it = origin_errors_.find(o); it != origin_errors_.end()) {
        label += "\nerror: " + it->second;
        extra = ", color=red";
      }
      out += "  " + quote(o) + " [shape=ellipse, label=" + quote(label) + extra + "];\n";
    }
    for (const auto& [id, c] : conns_) {
      std::string label = "connection " + std::to_string(id);
      if (!c.origin.empty()) label += "\nopened for " + c.origin;
      if (!c.remote.empty()) label += "\nremote " + c.remote;
      if (!c.sni.empty()) label += "\nSNI " + c.sni;
      if (!c.alpn.empty()) label += "\nALPN " + c.alpn;
      if (!c.origin_set.empty()) {
        label += "\nORIGIN set:";
        for (const auto& o : c.origin_set) label += "\n  " + o;
      }
      if (c.goaway) label += "\nGOAWAY received";
      if (c.redundant_to) label += "\nredundant: connection " + std::to_string(c.redundant_to) + " serves its origin";
      if (!c.error.empty()) label += "\nfailed: " + c.error;
      out += "  " + node(id) + " [shape=box, label=" + quote(label) + (c.error.empty() ? "" : ", color=red") + "];\n";
    }
    for (const auto& [key, count] : edges_) {
      const auto& [o, conn, kind, label] = key;
      std::string l = label;
      if (kind != edge_kind::rejected) l += count == 1 ? " (1 request)" : " (" + std::to_string(count) + " requests)";
      std::string style;
      switch (kind) {
        case edge_kind::carried:
          style = label.starts_with("same-origin") ? "color=black" : "color=blue, penwidth=2";
          break;
        case edge_kind::misdirected: style = "color=red, style=dashed"; break;
        case edge_kind::rejected: style = "color=gray50, fontcolor=gray40, style=dotted"; break;
      }
      out += "  " + quote(o) + " -> " + node(conn) + " [label=" + quote(l) + ", " + style + "];\n";
    }
    out += "}\n";
    return out;
  }

 private:
  enum class edge_kind { carried, misdirected, rejected };

  struct conn_node {
    std::string origin, remote, sni, alpn, error;
    std::vector<std::string> origin_set;
    bool goaway = false;
    std::int64_t redundant_to = 0;
  };

  static std::string node(std::int64_t id) { return "conn" + std::to_string(id); }

  // A DOT double-quoted string: quotes and backslashes escaped, newlines as \n (centred lines).
  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out += ' ';
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

  static std::int64_t integer(const h2coal::trace::event& e, std::string_view name) {
    const auto* v = e.find(name);
    if (!v) return 0;
    const auto* i = std::get_if<std::int64_t>(v);
    return i ? *i : 0;
  }
  static std::string text(const h2coal::trace::event& e, std::string_view name) {
    const auto* v = e.find(name);
    if (!v) return {};
    const auto* s = std::get_if<std::string>(v);
    return s ? *s : std::string();
  }
  static std::string field(const h2coal::trace::record& r, std::string_view name) {
    for (const auto& [n, v] : r)
      if (n == name)
        if (const auto* s = std::get_if<std::string>(&v)) return *s;
    return {};
  }
  static std::int64_t int_field(const h2coal::trace::record& r, std::string_view name) {
    for (const auto& [n, v] : r)
      if (n == name)
        if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    return 0;
  }

  void note_origin(const std::string& o) {
    if (o.empty()) return;
    for (const auto& x : origins_)
      if (x == o) return;
    origins_.push_back(o);
  }

  void add_edge(const std::string& o, std::int64_t conn, edge_kind kind, const std::string& label) {
    if (o.empty() || conn == 0) return;
    note_origin(o);
    conns_[conn];  // every connection an edge names is a node, even when the trace said nothing else
    ++edges_[{o, conn, kind, label}];
  }

  std::vector<std::string> origins_;  // first-seen order
  std::map<std::int64_t, conn_node> conns_;
  std::map<std::int64_t, std::string> req_origin_;
  std::map<std::int64_t, std::string> req_basis_;
  std::map<std::int64_t, bool> req_retried_;
  std::map<std::string, std::string> origin_errors_;
  std::map<std::tuple<std::string, std::int64_t, edge_kind, std::string>, unsigned> edges_;
};

}  // namespace h2get
