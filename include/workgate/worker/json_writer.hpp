// workgate worker SDK: JSON text without a DOM (JsonWriter, json_quote, append_json_string). Depends on
// the standard library only. Part of <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_JSON_WRITER_HPP
#define WORKGATE_WORKER_JSON_WRITER_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace workgate {

// Appends `s` as a JSON string literal; invalid UTF-8 becomes U+FFFD (like TextDecoder).
inline void append_json_string(std::string& out, std::string_view s) {
  static const char* const kHex = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    // Copy the run of characters that need no escaping in one go.
    std::size_t run = i;
    while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
      ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Multi-byte sequence: validate (no overlongs, no surrogates, <= U+10FFFF).
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (ok) {
      ok = !(len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) &&
           !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF));
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out.push_back('"');
}

inline std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

// Builds JSON text without a DOM: commas and key/value separators are handled for you.
//   JsonWriter().begin_object().field("a",
//   1).key("b").begin_array().value("x").end_array().end_object().take()
class JsonWriter {
 public:
  JsonWriter& begin_object() {
    before_value();
    out_.push_back('{');
    stack_.push_back(false);
    return *this;
  }
  JsonWriter& end_object() {
    out_.push_back('}');
    stack_.pop_back();
    return *this;
  }
  JsonWriter& begin_array() {
    before_value();
    out_.push_back('[');
    stack_.push_back(false);
    return *this;
  }
  JsonWriter& end_array() {
    out_.push_back(']');
    stack_.pop_back();
    return *this;
  }
  JsonWriter& key(std::string_view k) {
    if (!stack_.empty()) {
      if (stack_.back()) out_.push_back(',');
      stack_.back() = true;
    }
    append_json_string(out_, k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view s) {
    before_value();
    append_json_string(out_, s);
    return *this;
  }
  JsonWriter& value(const char* s) { return s == nullptr ? null() : value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    before_value();
    out_ += b ? "true" : "false";
    return *this;
  }
  template <typename T, typename std::enable_if<std::is_integral<T>::value && !std::is_same<T, bool>::value,
                                                int>::type = 0>
  JsonWriter& value(T n) {
    before_value();
    out_ += std::to_string(n);
    return *this;
  }
  JsonWriter& value(double d) {
    before_value();
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", d);
    out_ += buf;
    return *this;
  }
  template <typename T>
  JsonWriter& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  JsonWriter& null() {
    before_value();
    out_ += "null";
    return *this;
  }
  // Inserts already-serialized JSON text as one value.
  JsonWriter& raw(std::string_view json) {
    before_value();
    out_.append(json.data(), json.size());
    return *this;
  }
  template <typename T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  JsonWriter& raw_field(std::string_view k, std::string_view json) {
    key(k);
    return raw(json);
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void before_value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!stack_.empty()) {
      if (stack_.back()) out_.push_back(',');
      stack_.back() = true;
    }
  }
  std::string out_;
  std::vector<bool> stack_;  // per open container: has items
  bool after_key_ = false;
};

}  // namespace workgate

#endif  // WORKGATE_WORKER_JSON_WRITER_HPP
