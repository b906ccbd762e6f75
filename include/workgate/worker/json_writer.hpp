// workgate worker SDK: JSON text without a DOM (JsonWriter, json_quote, append_json_string). Depends on
// the standard library only. Part of <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_JSON_WRITER_HPP
#define WORKGATE_WORKER_JSON_WRITER_HPP

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace workgate {

namespace detail {
constexpr std::uint64_t kJsonOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kJsonHigh = 0x8080808080808080ULL;

// Whether a word holds a byte that does not go into a JSON string as it is: a control character, '"' or
// '\\', and with kHighSpecial a byte >= 0x80 (which needs UTF-8 validation). The exact "has a byte equal
// to / less than" word tests (they can only be wrong about bytes after a true hit).
template <bool kHighSpecial = true>
bool json_word_has_special(std::uint64_t x) {
  std::uint64_t quote = x ^ (kJsonOnes * '"');
  std::uint64_t backslash = x ^ (kJsonOnes * '\\');
  std::uint64_t hits = ((quote - kJsonOnes) & ~quote) | ((backslash - kJsonOnes) & ~backslash) |
                       ((x - kJsonOnes * 0x20) & ~x) | (kHighSpecial ? x : 0);
  return (hits & kJsonHigh) != 0;
}

inline bool json_plain_byte(unsigned char c) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

// The first and the last min(n, 8) bytes of p[0, n) as two words, read with fixed-size loads (they overlap
// where n < 16; below eight bytes, four or two bytes from each end or the one byte, the rest of each word
// taken from `fill`).
struct EdgeWords {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
};
template <class Word>
EdgeWords edge_words_of(const unsigned char* p, std::size_t n, std::uint64_t fill) {
  Word head = 0;
  Word tail = 0;
  std::memcpy(&head, p, sizeof(Word));
  std::memcpy(&tail, p + n - sizeof(Word), sizeof(Word));
  std::uint64_t rest = 0;
  if constexpr (sizeof(Word) < 8) rest = fill & ~((std::uint64_t{1} << (8 * sizeof(Word))) - 1);
  return {rest | head, rest | tail};
}
inline EdgeWords edge_words(const unsigned char* p, std::size_t n, std::uint64_t fill) {
  if (n >= 8) return edge_words_of<std::uint64_t>(p, n, fill);
  if (n >= 4) return edge_words_of<std::uint32_t>(p, n, fill);
  if (n >= 2) return edge_words_of<std::uint16_t>(p, n, fill);
  if (n == 1) return edge_words_of<std::uint8_t>(p, n, fill);
  return {fill, fill};
}

// memcpy for the short pieces of a JSON text (keys, most values): up to 16 bytes with two fixed-size,
// possibly overlapping loads and stores that stay inside both ranges, instead of a call into the C library.
template <class Word>
void copy_edge_words(char* dst, const char* src, std::size_t n) {  // sizeof(Word) <= n <= 2 * sizeof(Word)
  Word head = 0;
  Word tail = 0;
  std::memcpy(&head, src, sizeof(Word));
  std::memcpy(&tail, src + n - sizeof(Word), sizeof(Word));
  std::memcpy(dst, &head, sizeof(Word));
  std::memcpy(dst + n - sizeof(Word), &tail, sizeof(Word));
}
inline void copy_bytes(char* dst, const char* src, std::size_t n) {
  if (n > 16) {
    std::memcpy(dst, src, n);
  } else if (n >= 8) {
    copy_edge_words<std::uint64_t>(dst, src, n);
  } else if (n >= 4) {
    copy_edge_words<std::uint32_t>(dst, src, n);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      dst[i] = src[i];
  }
}

// `n` bytes at `data` that need no escaping, between quotes at `p`; returns the end.
inline char* write_quoted(char* p, const char* data, std::size_t n) {
  *p++ = '"';
  copy_bytes(p, data, n);
  p += n;
  *p++ = '"';
  return p;
}

// Whether all of `p[0, n)` goes into a JSON string as it is (json_word_has_special): whole words, then the
// last (overlapping) word; below eight bytes the two edge words, padded with a plain byte.
template <bool kHighSpecial = true>
bool json_all_plain(const unsigned char* p, std::size_t n) {
  if (n >= 8) {
    std::uint64_t x = 0;
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      std::memcpy(&x, p + i, 8);
      if (json_word_has_special<kHighSpecial>(x)) return false;
    }
    std::memcpy(&x, p + n - 8, 8);  // the last word, overlapping the one before
    return !json_word_has_special<kHighSpecial>(x);
  }
  // Below eight bytes each edge word holds at most four of them, in its low half: one word holds both.
  EdgeWords w = edge_words(p, n, kJsonOnes * 'a');
  return !json_word_has_special<kHighSpecial>((w.head & 0xFFFFFFFFU) | (w.tail << 32));
}

// The length of the run at `p` of bytes that go into a JSON string as they are.
inline std::size_t json_plain_run(const unsigned char* p, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x = 0;
    std::memcpy(&x, p + i, 8);
    if (json_word_has_special(x)) break;
  }
  while (i < n && json_plain_byte(p[i]))
    ++i;
  return i;
}

// Writes `s` as a JSON string literal to `sink` (put(char), write(data, size), quoted(data, size): the
// literal of text known to need no escaping); invalid UTF-8 becomes U+FFFD (like TextDecoder).
template <class Sink>
void write_json_string(Sink& sink, std::string_view s) {
  static const char* const kHex = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  if (json_all_plain(p, n)) {  // the common case: one copy
    sink.quoted(s.data(), n);
    return;
  }
  sink.put('"');
  for (std::size_t i = 0; i < n;) {
    // Copy the run of characters that need no escaping in one go.
    std::size_t run = i + json_plain_run(p + i, n - i);
    if (run > i) {
      sink.write(s.data() + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"':
          sink.write("\\\"", 2);
          break;
        case '\\':
          sink.write("\\\\", 2);
          break;
        case '\n':
          sink.write("\\n", 2);
          break;
        case '\r':
          sink.write("\\r", 2);
          break;
        case '\t':
          sink.write("\\t", 2);
          break;
        case '\b':
          sink.write("\\b", 2);
          break;
        case '\f':
          sink.write("\\f", 2);
          break;
        default: {  // another control character (a plain byte ends no run)
          char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          sink.write(u, 6);
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
      sink.write(s.data() + i, len);
      i += len;
    } else {
      sink.write("\xEF\xBF\xBD", 3);
      ++i;
    }
  }
  sink.put('"');
}

// A std::string as a sink of write_json_string.
struct StringSink {
  std::string& out;
  void put(char c) { out.push_back(c); }
  void write(const char* data, std::size_t size) { out.append(data, size); }
  void quoted(const char* data, std::size_t size) {
    out.push_back('"');
    out.append(data, size);
    out.push_back('"');
  }
};
}  // namespace detail

// Appends `s` as a JSON string literal; invalid UTF-8 becomes U+FFFD (like TextDecoder).
inline void append_json_string(std::string& out, std::string_view s) {
  detail::StringSink sink{out};
  detail::write_json_string(sink, s);
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
  JsonWriter() { grow(256); }  // one allocation for a typical result

  JsonWriter& begin_object() {
    before_value();
    put('{');
    push_container();
    return *this;
  }
  JsonWriter& end_object() {
    put('}');
    pop_container();
    return *this;
  }
  JsonWriter& begin_array() {
    before_value();
    put('[');
    push_container();
    return *this;
  }
  JsonWriter& end_array() {
    put(']');
    pop_container();
    return *this;
  }
  JsonWriter& key(std::string_view k) {
    bool comma = next_item();
    if (detail::json_all_plain(reinterpret_cast<const unsigned char*>(k.data()), k.size())) {
      // ,"key": in one piece: keys are short and nearly always plain.
      char* at = room(k.size() + 4);
      char* p = at;
      if (comma) *p++ = ',';
      p = detail::write_quoted(p, k.data(), k.size());
      *p++ = ':';
      used_ += static_cast<std::size_t>(p - at);
    } else {
      if (comma) put(',');
      detail::write_json_string(*this, k);
      put(':');
    }
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view s) {
    before_value();
    detail::write_json_string(*this, s);
    return *this;
  }
  JsonWriter& value(const char* s) { return s == nullptr ? null() : value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    before_value();
    if (b) {
      write("true", 4);
    } else {
      write("false", 5);
    }
    return *this;
  }
  template <typename T, typename std::enable_if<std::is_integral<T>::value && !std::is_same<T, bool>::value,
                                                int>::type = 0>
  JsonWriter& value(T n) {
    before_value();
    char digits[24];
    write(digits, static_cast<std::size_t>(std::to_chars(digits, digits + sizeof(digits), n).ptr - digits));
    return *this;
  }
  JsonWriter& value(double d) {
    before_value();
    char buf[32];
    int n = std::snprintf(buf, sizeof(buf), "%.17g", d);
    write(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    return *this;
  }
  template <typename T>
  JsonWriter& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  JsonWriter& null() {
    before_value();
    write("null", 4);
    return *this;
  }
  // Inserts already-serialized JSON text as one value.
  JsonWriter& raw(std::string_view json) {
    before_value();
    write(json.data(), json.size());
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

  const std::string& str() const {
    out_.resize(used_);  // the room past the text goes (grown again by the next write)
    return out_;
  }
  std::string take() {
    out_.resize(used_);
    used_ = 0;
    std::string text = std::move(out_);
    out_.clear();
    return text;
  }

 private:
  template <class Sink>
  friend void detail::write_json_string(Sink& sink, std::string_view s);

  // The sink of detail::write_json_string.
  void put(char c) {
    room(1)[0] = c;
    ++used_;
  }
  void write(const char* data, std::size_t size) {
    if (size == 0) return;
    detail::copy_bytes(room(size), data, size);
    used_ += size;
  }
  void quoted(const char* data, std::size_t size) {
    detail::write_quoted(room(size + 2), data, size);
    used_ += size + 2;
  }

  // The text is out_[0, used_); out_ past it is room already allocated (written through a pointer: a
  // std::string append is a call and a capacity check per piece, and a result has dozens of pieces).
  char* room(std::size_t n) {
    if (out_.size() - used_ < n) grow(n);
    return &out_[used_];
  }
  void grow(std::size_t n) {
    std::size_t size = out_.size() * 2;
    if (size < used_ + n) size = used_ + n;
    out_.resize(size);
  }

  void before_value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (next_item()) put(',');
  }

  // Per open container, whether it has items yet: the innermost 64 levels are bits of one word (no
  // allocation), deeper ones in a vector. Closing more containers than were opened is ignored.
  static constexpr std::size_t kWordLevels = 64;
  void push_container() {
    if (depth_ >= kWordLevels) {
      deeper_.push_back(false);
    } else {
      has_items_ &= ~(std::uint64_t{1} << depth_);
    }
    ++depth_;
  }
  void pop_container() {
    if (depth_ == 0) return;
    --depth_;
    if (depth_ >= kWordLevels) deeper_.pop_back();
  }
  // An item starts in the innermost container: whether one came before it (so a comma goes first).
  bool next_item() {
    if (depth_ == 0) return false;
    std::size_t level = depth_ - 1;
    if (level >= kWordLevels) {
      bool had = deeper_.back();
      deeper_.back() = true;
      return had;
    }
    std::uint64_t bit = std::uint64_t{1} << level;
    bool had = (has_items_ & bit) != 0;
    has_items_ |= bit;
    return had;
  }

  mutable std::string out_;
  std::size_t used_ = 0;
  std::uint64_t has_items_ = 0;
  std::size_t depth_ = 0;
  std::vector<bool> deeper_;
  bool after_key_ = false;
};

}  // namespace workgate

#endif  // WORKGATE_WORKER_JSON_WRITER_HPP
