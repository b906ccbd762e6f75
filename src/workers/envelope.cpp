#include "workers/envelope.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/system/errc.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>
#include <workgate/worker/json_writer.hpp>

#include "common/js_json.hpp"

namespace workgate::workers {
namespace json = boost::json;
using boost::system::error_code;

EnvelopeMember envelope_member(std::string_view key) {
  if (key == "statusCode") return EnvelopeMember::kStatusCode;
  if (key == "message") return EnvelopeMember::kMessage;
  if (key == "error") return EnvelopeMember::kError;
  return EnvelopeMember::kData;
}

namespace {

// An output buffer written through a pointer: the scanner writes a few bytes per event, and
// std::string's append is a call and a capacity check per piece.
class TextOut {
 public:
  void clear() {
    constexpr std::size_t kKeepBytes = 64 * 1024;  // a large result does not stay resident
    if (capacity_ > kKeepBytes) {
      data_.reset();
      capacity_ = 0;
    }
    size_ = 0;
  }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }
  std::string_view view(std::size_t at, std::size_t n) const { return {data_.get() + at, n}; }

  // Room for `n` more bytes: write them at the pointer returned, then commit().
  char* room(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    return data_.get() + size_;
  }
  void commit(char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }

  void put(char c) {
    *room(1) = c;
    ++size_;
  }
  void append(std::string_view s) {
    workgate::detail::copy_bytes(room(s.size()), s.data(), s.size());
    size_ += s.size();
  }

 private:
  void grow(std::size_t n) {
    std::size_t capacity = std::max<std::size_t>({256, capacity_ * 2, size_ + n});
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ != 0) std::memcpy(data.get(), data_.get(), size_);
    data_ = std::move(data);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// The scanner's buffers, kept by the thread (a scan allocates nothing once they have grown) and reached
// through one reference: every use of a thread_local with a constructor goes through its init check.
struct Scratch {
  struct Frame {
    TextOut* out;            // where this container is written
    std::size_t keys_begin;  // its keys in `keys` (objects)
    bool first;
    bool is_object;
    std::uint64_t key_bits = 0;  // one bit per key signature seen in this object (key_bit())
  };
  TextOut data, message, error, discard;  // discard: statusCode's text
  std::vector<Frame> frames;
  struct Key {
    std::size_t offset, size;  // of the quoted key in its frame's output
    std::uint64_t signature;   // key_signature(): most different keys differ in it
  };
  std::vector<Key> keys;  // each open object's keys, to find a repeated one
  std::string key;        // a key read in parts
  std::string escaped;    // text that needed escaping, or a double
};

// Equal keys have equal signatures: their length and their first and last (up to) eight bytes, read as
// fixed-size words. A key is compared with the earlier ones of its object only where the signatures agree.
std::uint64_t key_signature(std::string_view quoted) {
  workgate::detail::EdgeWords w =
      workgate::detail::edge_words(reinterpret_cast<const unsigned char*>(quoted.data()), quoted.size(), 0);
  return w.head ^ (w.tail * 0x9E3779B97F4A7C15ULL) ^ quoted.size();
}

// A signature's bit in its object's 64-bit filter: a key whose bit is not set yet repeats no earlier key,
// so most keys are not compared with any (a dozen members set a dozen of 64 bits).
std::uint64_t key_bit(std::uint64_t signature) {
  return std::uint64_t{1} << ((signature * 0x9E3779B97F4A7C15ULL) >> 58);
}

// boost::json's SAX handler: writes every value as it is read into the buffer of the top-level member it
// belongs to (data, message, error; statusCode's value is only looked at). A handler that returns false
// stops the parse: the caller then takes the DOM path.
class EnvelopeScanner {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  EnvelopeScanner(EnvelopeParts& parts, Scratch& scratch) : parts_(parts), s_(scratch) {
    for (TextOut* t : {&s_.data, &s_.message, &s_.error, &s_.discard})
      t->clear();
    s_.frames.clear();
    s_.keys.clear();
    s_.key.clear();
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }

  bool on_object_begin(error_code& ec) {
    if (s_.frames.empty()) {  // the root
      s_.data.put('{');
      s_.frames.push_back({&s_.data, 0, true, true});
      return true;
    }
    if (!begin_value(ec, Kind::kContainer)) return false;
    out_->put('{');
    s_.frames.push_back({out_, s_.keys.size(), true, true});
    return true;
  }

  bool on_object_end(std::size_t, error_code&) { return end_container('}'); }

  bool on_array_begin(error_code& ec) {
    if (!begin_value(ec, Kind::kContainer)) return false;
    out_->put('[');
    s_.frames.push_back({out_, s_.keys.size(), true, false});
    return true;
  }

  bool on_array_end(std::size_t, error_code&) { return end_container(']'); }

  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    s_.key.append(s.data(), s.size());
    return true;
  }

  bool on_key(json::string_view s, std::size_t, error_code& ec) {
    std::string_view key(s.data(), s.size());
    if (!s_.key.empty()) {
      s_.key.append(key);
      key = s_.key;
    }
    bool ok = write_key(key, ec);
    s_.key.clear();
    return ok;
  }

  // A string with escapes (or, with incremental input, cut short) arrives in parts.
  bool on_string_part(json::string_view s, std::size_t, error_code& ec) {
    if (!in_string_) {
      if (!begin_value(ec, Kind::kScalar)) return false;
      out_->put('"');
      in_string_ = true;
    }
    write_escaped(std::string_view(s.data(), s.size()));
    return true;
  }

  bool on_string(json::string_view s, std::size_t n, error_code& ec) {
    std::string_view text(s.data(), s.size());
    if (!in_string_) {
      if (!begin_value(ec, Kind::kScalar)) return false;
      if (!js_needs_escaping(text)) {  // the common case: the literal as it came, in one piece
        out_->commit(write_quoted(out_->room(text.size() + 2), text));
        end_scalar(n != 0);
        return true;
      }
      out_->put('"');
      write_with_escapes(text);
    } else {
      write_escaped(text);  // the last part of a string read in parts
    }
    out_->put('"');
    in_string_ = false;
    end_scalar(n != 0);
    return true;
  }

  bool on_number_part(json::string_view, error_code&) { return true; }

  bool on_int64(std::int64_t v, json::string_view, error_code& ec) { return write_integer(v, ec); }
  bool on_uint64(std::uint64_t v, json::string_view, error_code& ec) { return write_integer(v, ec); }

  bool on_double(double v, json::string_view, error_code& ec) {
    if (!begin_value(ec, Kind::kScalar)) return false;
    s_.escaped.clear();
    append_js_json_number(s_.escaped, v);
    out_->append(s_.escaped);
    end_scalar(v != 0 && !std::isnan(v), v);
    return true;
  }

  bool on_bool(bool v, error_code& ec) {
    if (!begin_value(ec, Kind::kScalar)) return false;
    out_->append(v ? "true" : "false");
    end_scalar(v);
    return true;
  }

  bool on_null(error_code& ec) {
    if (!begin_value(ec, Kind::kScalar)) return false;
    out_->append("null");
    end_scalar(false, nullptr);
    return true;
  }

  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  enum class Kind { kScalar, kContainer };

  static bool give_up(error_code& ec) {
    ec = boost::system::errc::make_error_code(boost::system::errc::operation_canceled);
    return false;
  }

  // Integers keep all their digits (js_json.hpp).
  template <class Integer>
  bool write_integer(Integer v, error_code& ec) {
    if (!begin_value(ec, Kind::kScalar)) return false;
    char* p = out_->room(24);
    out_->commit(std::to_chars(p, p + 24, v).ptr);
    end_scalar(v != 0, v);
    return true;
  }

  static char* write_quoted(char* p, std::string_view text) {
    return workgate::detail::write_quoted(p, text.data(), text.size());
  }

  // String content as JSON.stringify escapes it (the common case, nothing to escape, is one copy).
  void write_escaped(std::string_view text) {
    if (!js_needs_escaping(text)) {
      out_->append(text);
      return;
    }
    write_with_escapes(text);
  }
  // Text known to need escaping.
  void write_with_escapes(std::string_view text) {
    s_.escaped.clear();
    append_js_escaped(s_.escaped, text);
    out_->append(s_.escaped);
  }

  bool write_key(std::string_view key, error_code& ec) {
    std::uint32_t index = 0;
    if (js_array_index(key, index)) return give_up(ec);
    Scratch::Frame& frame = s_.frames.back();
    if (s_.frames.size() == 1) {
      // A top-level member: statusCode, error and message go to their own parts (a repeated one replaces
      // the earlier value, as the DOM keeps the last), the others into data.
      member_ = envelope_member(key);
      if (member_ != EnvelopeMember::kData) {
        out_ = member_ == EnvelopeMember::kStatusCode ? &s_.discard
               : member_ == EnvelopeMember::kMessage  ? &s_.message
                                                      : &s_.error;
        out_->clear();
        return true;
      }
    }
    if (s_.keys.size() - frame.keys_begin >= kMaxScannedMembers) return give_up(ec);
    out_ = frame.out;
    bool comma = !frame.first;
    frame.first = false;
    std::size_t at = out_->size() + (comma ? 1 : 0);
    if (!js_needs_escaping(key)) {  // ,"key": in one piece (a repeated key gives the whole scan up anyway)
      char* p = out_->room(key.size() + 4);
      if (comma) *p++ = ',';
      p = write_quoted(p, key);
      *p++ = ':';
      out_->commit(p);
    } else {
      if (comma) out_->put(',');
      out_->put('"');
      write_with_escapes(key);
      out_->put('"');
      out_->put(':');
    }
    std::string_view written = out_->view(at, out_->size() - 1 - at);  // the quoted key
    std::uint64_t signature = key_signature(written);
    std::uint64_t bit = key_bit(signature);
    if ((frame.key_bits & bit) != 0) {
      for (std::size_t i = frame.keys_begin; i < s_.keys.size(); ++i) {
        const Scratch::Key& earlier = s_.keys[i];
        if (earlier.signature == signature && out_->view(earlier.offset, earlier.size) == written)
          return give_up(ec);
      }
    }
    frame.key_bits |= bit;
    s_.keys.push_back({at, written.size(), signature});
    return true;
  }

  // A value starts: in an array, after a comma but for the first.
  bool begin_value(error_code& ec, Kind kind) {
    if (s_.frames.empty()) return give_up(ec);  // the root is not an object
    Scratch::Frame& frame = s_.frames.back();
    if (!frame.is_object) {
      out_ = frame.out;
      if (!frame.first) out_->put(',');
      frame.first = false;
    } else if (s_.frames.size() == 1 && kind == Kind::kContainer) {
      end_scalar(true);  // an object or array: truthy, and not a status
    }
    return true;
  }

  // A scalar was written: note what a top-level envelope member holds. `status` is what statusCode
  // takes from it: the number, null, or `true` (not a number: invalid) for the other kinds.
  template <class Status = bool>
  void end_scalar(bool truthy, Status status = true) {
    if (s_.frames.size() != 1) return;
    switch (member_) {
      case EnvelopeMember::kStatusCode:
        parts_.status_code = status;
        break;
      case EnvelopeMember::kMessage:
        parts_.message_truthy = truthy;
        break;
      case EnvelopeMember::kError:
        parts_.error_truthy = truthy;
        break;
      case EnvelopeMember::kData:
        break;
    }
  }

  bool end_container(char close) {
    Scratch::Frame frame = s_.frames.back();
    s_.frames.pop_back();
    frame.out->put(close);
    if (frame.is_object) s_.keys.resize(frame.keys_begin);
    if (!s_.frames.empty()) out_ = s_.frames.back().out;
    return true;
  }

  EnvelopeParts& parts_;
  Scratch& s_;
  TextOut* out_ = nullptr;
  EnvelopeMember member_ = EnvelopeMember::kData;
  bool in_string_ = false;
};

}  // namespace

bool scan_envelope(std::string_view text, EnvelopeParts& parts) {
  thread_local Scratch scratch;
  parts = EnvelopeParts();
  json::basic_parser<EnvelopeScanner> parser(json::parse_options{}, parts, scratch);
  error_code ec;
  std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size() || !parser.done()) return false;
  parts.data = scratch.data.view();
  parts.message = scratch.message.view();
  parts.error = scratch.error.view();
  return true;
}

}  // namespace workgate::workers
