#include "pipeline/cors.hpp"

namespace workgate::pipeline {
namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_host_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.';
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out.push_back(',');
    out += items[i];
  }
  return out;
}

}  // namespace

bool is_plain_origin(std::string_view origin) {
  auto sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0 || !is_alpha(origin[0])) return false;
  for (char c : origin.substr(0, sep)) {
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) return false;
  }
  std::string_view rest = origin.substr(sep + 3);
  std::size_t i = 0;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : rest.substr(1, close - 1)) {
      if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
        return false;
    }
    i = close + 1;
  } else {
    while (i < rest.size() && is_host_char(rest[i]))
      ++i;
    if (i == 0 || rest[0] == '.' || rest[0] == '-') return false;
  }
  if (i == rest.size()) return true;
  if (rest[i] != ':') return false;
  std::string_view port = rest.substr(i + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!is_digit(c)) return false;
  }
  return true;
}

CompiledCors::CompiledCors(const config::CorsPolicy& config) : credentials_(config.allow_credentials) {
  for (const std::string& text : config.allow_origins) {
    Entry entry;
    entry.text = text;
    entry.any = text == "*";
    if (!entry.any && text.find('*') != std::string::npos) {
      std::size_t start = 0;
      while (true) {
        auto star = text.find('*', start);
        entry.pieces.push_back(text.substr(start, star - start));
        if (star == std::string::npos) break;
        start = star + 1;
      }
    }
    entries_.push_back(std::move(entry));
  }
  fixed_lines_ += "Access-Control-Allow-Methods: " + join(config.allow_methods) + "\r\n";
  fixed_lines_ += "Access-Control-Allow-Headers: " + join(config.allow_headers) + "\r\n";
  fixed_lines_ += "Access-Control-Expose-Headers: " + join(config.expose_headers) + "\r\n";
  fixed_lines_ +=
      std::string("Access-Control-Allow-Credentials: ") + (credentials_ ? "true" : "false") + "\r\n";
  fixed_lines_ += "Access-Control-Max-Age: " + std::to_string(config.max_age) + "\r\n";
  fixed_lines_ += "Vary: Origin\r\n";
}

// pieces = the pattern split at '*'; each '*' matches one or more host characters.
bool CompiledCors::glob_match(const std::vector<std::string>& pieces, std::string_view origin) {
  if (!origin.starts_with(pieces.front())) return false;
  std::string_view rest = origin.substr(pieces.front().size());
  // Match the remaining pieces left to right; each preceding '*' consumes a non-empty run of host
  // characters. Backtracking over the run lengths keeps it exact for patterns with several '*'.
  struct Matcher {
    const std::vector<std::string>& pieces;
    bool run(std::size_t index, std::string_view text) const {
      if (index == pieces.size()) return text.empty();
      const std::string& piece = pieces[index];
      for (std::size_t run = 1; run <= text.size() && is_host_char(text[run - 1]); ++run) {
        std::string_view after = text.substr(run);
        if (after.starts_with(piece) && this->run(index + 1, after.substr(piece.size()))) return true;
      }
      return false;
    }
  };
  return Matcher{pieces}.run(1, rest);
}

std::optional<std::string_view> CompiledCors::allow_origin_value(std::string_view origin) const {
  if (!is_plain_origin(origin)) return std::nullopt;
  for (const Entry& entry : entries_) {
    if (entry.any) return credentials_ ? origin : std::string_view("*");
    if (entry.pieces.empty()) {
      if (entry.text == origin) return origin;
    } else if (glob_match(entry.pieces, origin)) {
      return origin;
    }
  }
  return std::nullopt;
}

void CompiledCors::apply(std::optional<std::string_view> request_origin, http::Response& response) const {
  if (!response.headers.empty()) {
    for (std::string_view name :
         {"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
          "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials", "Access-Control-Max-Age"}) {
      response.headers.remove(name);
    }
  }
  if (request_origin) {
    if (auto value = allow_origin_value(*request_origin))
      response.headers.add("Access-Control-Allow-Origin", *value);
  }
}

}  // namespace workgate::pipeline
