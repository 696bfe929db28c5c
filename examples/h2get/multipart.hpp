// SPDX-License-Identifier: BSL-1.0
// examples/h2get/multipart.hpp: -F, a multipart/form-data body (RFC 7578) as curl builds it: "name=value",
// "name=@file" (a file part: its name, and a type from the extension unless ";type=" says), "name=<file"
// (the file's content as the value). Files are streamed, never read whole; the length is known ahead.
#pragma once

#include <h2coal/request.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace h2get {

class multipart_body {
 public:
  /// Parses one -F argument; false with `problem` set when it is malformed or names a missing file.
  bool add(const std::string& arg, std::string& problem) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      problem = "-F: '" + arg + "' is not name=content";
      return false;
    }
    const std::string name = arg.substr(0, eq);
    std::string content = arg.substr(eq + 1);
    std::string type;
    std::string head = "Content-Disposition: form-data; name=\"" + escape(name) + "\"";
    if (!content.empty() && (content[0] == '@' || content[0] == '<')) {
      const bool file_part = content[0] == '@';
      std::string path = content.substr(1);
      if (auto t = path.find(";type="); t != std::string::npos) {
        type = path.substr(t + 6);
        path.resize(t);
      }
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      if (ec) {
        problem = "-F: cannot read the file '" + path + "'";
        return false;
      }
      if (file_part) {
        head += "; filename=\"" + escape(std::filesystem::path(path).filename().string()) + "\"";
        if (type.empty()) type = type_for(path);
      }
      if (!type.empty()) head += "\r\nContent-Type: " + type;
      pieces_.push_back({"--" + boundary_ + "\r\n" + head + "\r\n\r\n", {}, 0});
      pieces_.push_back({{}, path, static_cast<std::size_t>(size)});
      pieces_.push_back({"\r\n", {}, 0});
      return true;
    }
    if (auto t = content.find(";type="); t != std::string::npos) {
      type = content.substr(t + 6);
      content.resize(t);
      head += "\r\nContent-Type: " + type;
    }
    pieces_.push_back({"--" + boundary_ + "\r\n" + head + "\r\n\r\n" + content + "\r\n", {}, 0});
    return true;
  }

  /// The Content-Type field's value.
  std::string content_type() const { return "multipart/form-data; boundary=" + boundary_; }

  /// The body as a source: pieces in order, files opened when reached; rewinds to the start.
  h2coal::body_source source() const {
    struct state {
      std::vector<piece> pieces;
      std::size_t at = 0, offset = 0;
      std::FILE* file = nullptr;
      ~state() {
        if (file) std::fclose(file);
      }
    };
    auto st = std::make_shared<state>();
    st->pieces = pieces_;
    st->pieces.push_back({"--" + boundary_ + "--\r\n", {}, 0});
    h2coal::body_source s;
    std::size_t length = 0;
    for (const auto& p : st->pieces) length += p.path.empty() ? p.text.size() : p.size;
    s.length = length;
    s.read = [st](std::span<char> buf, bool& eof) -> std::size_t {
      std::size_t n = 0;
      while (n < buf.size() && st->at < st->pieces.size()) {
        const auto& p = st->pieces[st->at];
        std::size_t got = 0;
        if (p.path.empty()) {
          got = std::min(buf.size() - n, p.text.size() - st->offset);
          std::copy_n(p.text.data() + st->offset, got, buf.data() + n);
        } else {
          if (!st->file) st->file = std::fopen(p.path.c_str(), "rb");
          if (!st->file) return 0;  // gone meanwhile: the body ends short (body_length_mismatch)
          got = std::fread(buf.data() + n, 1, std::min(buf.size() - n, p.size - st->offset), st->file);
          if (got == 0 && st->offset < p.size) return n;  // shorter than it was: the library says so
        }
        n += got;
        st->offset += got;
        const std::size_t whole = p.path.empty() ? p.text.size() : p.size;
        if (st->offset >= whole) {
          if (st->file) std::fclose(st->file);
          st->file = nullptr;
          ++st->at;
          st->offset = 0;
        }
      }
      if (st->at == st->pieces.size()) eof = true;
      return n;
    };
    s.rewind = [st] {
      if (st->file) std::fclose(st->file);
      st->file = nullptr;
      st->at = st->offset = 0;
      return true;
    };
    return s;
  }

  bool empty() const noexcept { return pieces_.empty(); }

 private:
  struct piece {
    std::string text;  // literal bytes, or
    std::string path;  // a file's bytes
    std::size_t size = 0;
  };

  static std::string escape(const std::string& v) {  // a quoted-string's '"' and '\', as curl escapes them
    std::string out;
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }
  // curl's guesses from the file name's extension; anything else is application/octet-stream.
  static std::string type_for(const std::string& path) {
    std::string ext = std::filesystem::path(path).extension().string();
    for (auto& c : ext)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (ext == ".gif") return "image/gif";
    if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
    if (ext == ".png") return "image/png";
    if (ext == ".svg") return "image/svg+xml";
    if (ext == ".txt") return "text/plain";
    if (ext == ".htm" || ext == ".html") return "text/html";
    if (ext == ".pdf") return "application/pdf";
    if (ext == ".xml") return "application/xml";
    return "application/octet-stream";
  }
  static std::string make_boundary() {
    std::random_device rd;
    std::string b(24, '-');
    constexpr char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; ++i) b += hex[rd() % 16];
    return b;
  }

  std::string boundary_ = make_boundary();
  std::vector<piece> pieces_;
};

}  // namespace h2get
