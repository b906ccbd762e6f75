#include "common/js_json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <workgate/worker/json_writer.hpp>

namespace workgate {
namespace json = boost::json;

namespace {

void append_digits(std::string& out, std::uint64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, r.ptr);
}

void append_exponent(std::string& out, int e) {
  out.push_back('e');
  out.push_back(e < 0 ? '-' : '+');
  append_digits(out, static_cast<std::uint64_t>(std::abs(e)));
}

}  // namespace

// ECMA-262 Number::toString(x), radix 10: with the shortest digits s (k of them) and n such that
// x = s * 10^(n-k), the layout depends on where the decimal point falls.
void append_js_number(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return;
  }
  if (d == 0) {  // also -0
    out.push_back('0');
    return;
  }
  if (d < 0) {
    out.push_back('-');
    d = -d;
  }
  if (std::isinf(d)) {
    out += "Infinity";
    return;
  }
  // The shortest round-trip digits, from to_chars' scientific form "d.ddde+XX".
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  std::size_t e_at = sci.find('e');
  char digits[24];
  int k = 0;
  for (char c : sci.substr(0, e_at)) {
    if (c != '.') digits[k++] = c;
  }
  int exponent = 0;
  std::string_view exp_text = sci.substr(e_at + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
  const int n = exponent + 1;
  std::string_view s(digits, static_cast<std::size_t>(k));
  if (k <= n && n <= 21) {
    out += s;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += s.substr(0, static_cast<std::size_t>(n));
    out.push_back('.');
    out += s.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += s;
  } else {
    out.push_back(s[0]);
    if (k > 1) {
      out.push_back('.');
      out += s.substr(1);
    }
    append_exponent(out, n - 1);
  }
}

void append_js_json_number(std::string& out, double d) {
  if (std::isfinite(d)) {
    append_js_number(out, d);
  } else {
    out += "null";  // boost::json parses 1e400 as infinity
  }
}

namespace {
bool escaped_char(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\';
}
}  // namespace

// A byte below 0x20, or equal to '"' or '\\' (bytes >= 0x80 go as they are: the text is UTF-8 already), a
// word at a time (the worker SDK's test, which the gateway's JSON log lines use as well).
bool js_needs_escaping(std::string_view text) {
  return !detail::json_all_plain<false>(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

void append_js_string(std::string& out, std::string_view text) {
  out.push_back('"');
  append_js_escaped(out, text);
  out.push_back('"');
}

void append_js_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (!js_needs_escaping(text)) {  // the common case: one copy
    out.append(text);
    return;
  }
  std::size_t run = 0;  // start of the characters not yet copied
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (!escaped_char(c)) continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\t':
        out.push_back('t');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\r':
        out.push_back('r');
        break;
      default:
        out += "u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(text.data() + run, text.size() - run);
}

bool js_array_index(std::string_view key, std::uint32_t& index) {
  if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0')) return false;
  std::uint64_t n = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n >= 4294967295ULL) return false;  // 2^32 - 1 is not an array index
  index = static_cast<std::uint32_t>(n);
  return true;
}

namespace {

void append_member(std::string& out, bool& first, const json::key_value_pair& kv) {
  if (!first) out.push_back(',');
  first = false;
  append_js_string(out, kv.key());
  out.push_back(':');
  append_js_json(out, kv.value());
}

}  // namespace

void append_js_json(std::string& out, const json::object& object, bool (*omit)(std::string_view key)) {
  auto kept = [&](const json::key_value_pair& kv) { return omit == nullptr || !omit(kv.key()); };
  out.push_back('{');
  bool first = true;
  std::uint32_t index = 0;
  auto has_index = std::any_of(object.begin(), object.end(), [&](const json::key_value_pair& kv) {
    return js_array_index(kv.key(), index);
  });
  if (!has_index) {
    for (const json::key_value_pair& kv : object) {
      if (kept(kv)) append_member(out, first, kv);
    }
  } else {
    // Rare (a worker returned an object with numeric keys): the indexes sorted, then the rest in order.
    std::vector<std::pair<std::uint32_t, const json::key_value_pair*>> indexed;
    for (const json::key_value_pair& kv : object) {
      if (js_array_index(kv.key(), index) && kept(kv)) indexed.emplace_back(index, &kv);
    }
    std::sort(indexed.begin(), indexed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& entry : indexed)
      append_member(out, first, *entry.second);
    for (const json::key_value_pair& kv : object) {
      if (!js_array_index(kv.key(), index) && kept(kv)) append_member(out, first, kv);
    }
  }
  out.push_back('}');
}

void append_js_json(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      return;
    case json::kind::int64: {
      char buf[24];
      out.append(buf, std::to_chars(buf, buf + sizeof(buf), value.get_int64()).ptr);
      return;
    }
    case json::kind::uint64:
      append_digits(out, value.get_uint64());
      return;
    case json::kind::double_:
      append_js_json_number(out, value.get_double());
      return;
    case json::kind::string:
      append_js_string(out, value.get_string());
      return;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json::value& element : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_js_json(out, element);
      }
      out.push_back(']');
      return;
    }
    case json::kind::object:
      append_js_json(out, value.get_object());
      return;
  }
}

std::string js_json(const json::value& value) {
  std::string out;
  append_js_json(out, value);
  return out;
}

}  // namespace workgate
