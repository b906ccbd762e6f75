#include "integrations/mapping.hpp"

#include <cmath>

#include "common/js_json.hpp"

namespace workgate::integrations {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> json_to_text(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::null:
      return std::nullopt;
    case boost::json::kind::string:
      return std::string(value.get_string());
    case boost::json::kind::bool_:
      return std::string(value.get_bool() ? "true" : "false");
    case boost::json::kind::int64:
      return std::to_string(value.get_int64());
    case boost::json::kind::uint64:
      return std::to_string(value.get_uint64());
    case boost::json::kind::double_: {
      std::string out;  // String(number) in JavaScript
      append_js_number(out, value.get_double());
      return out;
    }
    case boost::json::kind::array: {
      std::string out;
      bool first = true;
      for (const auto& item : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        if (auto text = json_to_text(item)) out += *text;
      }
      return out;
    }
    case boost::json::kind::object:
      return js_json(value);
  }
  return std::nullopt;
}

std::optional<ValueTemplate> ValueTemplate::compile(std::string_view text,
                                                    const boost::json::object& route_variables,
                                                    const boost::json::object& global_variables,
                                                    std::string& error) {
  ValueTemplate t;
  std::string literal;
  auto flush_literal = [&] {
    if (!literal.empty()) t.parts_.push_back({Source::kLiteral, std::move(literal)});
    literal.clear();
  };
  std::size_t i = 0;
  while (i < text.size()) {
    std::string_view rest = text.substr(i);
    Source source = Source::kLiteral;
    std::size_t prefix = 0;
    bool config = false;
    if (rest.starts_with("$request.header.")) {
      source = Source::kHeader, prefix = 16;
    } else if (rest.starts_with("$request.query.")) {
      source = Source::kQuery, prefix = 15;
    } else if (rest.starts_with("$request.jwt.")) {
      source = Source::kJwt, prefix = 13;
    } else if (rest.starts_with("$request.path.")) {
      source = Source::kPath, prefix = 14;
    } else if (rest.starts_with("$config.")) {
      config = true, prefix = 8;
    } else if (rest.starts_with("$request.")) {
      std::size_t end = 9;
      while (end < rest.size() && is_name_char(rest[end]) && rest[end] != '.')
        ++end;
      error = "unknown template source \"" + std::string(rest.substr(0, end)) +
              "\" (use $request.header, $request.query, $request.jwt, $request.path or $config)";
      return std::nullopt;
    }
    if (prefix == 0) {
      literal.push_back(text[i++]);
      continue;
    }
    std::size_t end = prefix;
    while (end < rest.size() && is_name_char(rest[end]))
      ++end;
    std::string name(rest.substr(prefix, end - prefix));
    if (name.empty()) {
      error = "empty name after \"" + std::string(rest.substr(0, prefix)) + "\"";
      return std::nullopt;
    }
    i += end;
    if (config) {
      const boost::json::value* v = route_variables.if_contains(name);
      if (v == nullptr) v = global_variables.if_contains(name);
      std::optional<std::string> value = v ? json_to_text(*v) : std::nullopt;
      if (!value) {
        flush_literal();
        t.parts_.push_back({Source::kMissing, name});
      } else {
        literal += *value;
      }
      continue;
    }
    flush_literal();
    t.parts_.push_back({source, std::move(name)});
  }
  flush_literal();
  return t;
}

std::optional<std::string> ValueTemplate::resolve(const Context& context) const {
  std::string out;
  for (const Part& part : parts_) {
    switch (part.source) {
      case Source::kLiteral:
        out += part.text;
        break;
      case Source::kMissing:
        return std::nullopt;
      case Source::kHeader: {
        auto value = context.request.headers.get(part.text);
        if (!value) return std::nullopt;
        out += *value;
        break;
      }
      case Source::kQuery: {
        if (!context.request.has_query) return std::nullopt;
        auto value = query_parameter(context.request.query, part.text);
        if (!value || value->empty()) return std::nullopt;
        out += *value;
        break;
      }
      case Source::kJwt: {
        if (!context.claims) return std::nullopt;
        const boost::json::value* v = context.claims->if_contains(part.text);
        std::optional<std::string> value = v ? json_to_text(*v) : std::nullopt;
        if (!value) return std::nullopt;
        out += *value;
        break;
      }
      case Source::kPath: {
        bool found = false;
        for (const auto& param : context.match.params) {
          if (param.name == part.text) {
            out += param.value;
            found = true;
            break;
          }
        }
        if (!found) return std::nullopt;
        break;
      }
    }
  }
  return out;
}

std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '*' || c == '-' ||
        c == '.' || c == '_') {
      out.push_back(c);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
  while (true) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    if (!pair.empty() && form_decode(raw_name) == name) {
      return eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) return std::nullopt;
    query.remove_prefix(amp + 1);
  }
}

void set_query_parameter(std::string& query, std::string_view name, const std::optional<std::string>& value) {
  std::string out;
  out.reserve(query.size() + (value ? value->size() + name.size() + 2 : 0));
  bool placed = false;
  std::string_view rest = query;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    if (form_decode(pair.substr(0, pair.find('='))) == name) {
      if (value && !placed) {
        if (!out.empty()) out.push_back('&');
        out += form_encode(name) + "=" + form_encode(*value);
        placed = true;
      }
      continue;
    }
    if (!out.empty()) out.push_back('&');
    out += pair;
  }
  if (value && !placed) {
    if (!out.empty()) out.push_back('&');
    out += form_encode(name) + "=" + form_encode(*value);
  }
  query = std::move(out);
}

}  // namespace workgate::integrations
