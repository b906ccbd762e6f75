#include "observability/trace_context.hpp"

#include <array>
#include <cstdint>
#include <random>

#include "observability/hex.hpp"

namespace workgate::observability {
namespace {

// The value of each byte as a lowercase hex digit, -1 for any other (uppercase hex is invalid in
// traceparent).
constexpr std::array<std::int8_t, 256> kHexValue = [] {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table)
    v = -1;
  for (int c = '0'; c <= '9'; ++c)
    table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
  return table;
}();

// Every request with a traceparent parses 26 bytes: one table load per digit and no branch per digit
// (the two range checks per digit cost ~700 instructions per request; bench/instructions.py --tracing).
// `out` is written even when the text is not hex (the caller then ignores it).
bool parse_hex(std::string_view text, std::uint8_t* out) {
  int invalid = 0;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    const int hi = kHexValue[static_cast<unsigned char>(text[i])];
    const int lo = kHexValue[static_cast<unsigned char>(text[i + 1])];
    invalid |= hi | lo;  // -1 sets the sign bit
    out[i / 2] = static_cast<std::uint8_t>((static_cast<unsigned>(hi) << 4) | static_cast<unsigned>(lo));
  }
  return invalid >= 0;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
  for (std::uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/' ||
         c == '@';
}

// key = simple-key / multi-tenant-key; simple-key = lcalpha 0*255(keychar);
// multi-tenant-key = tenant-id "@" system-id, tenant-id = (lcalpha / DIGIT) 0*240(keychar),
// system-id = lcalpha 0*13(keychar).
bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 256) return false;
  for (char c : key)
    if (!key_char(c)) return false;
  auto at = key.find('@');
  if (at == std::string_view::npos) return key[0] >= 'a' && key[0] <= 'z';
  std::string_view tenant = key.substr(0, at);
  std::string_view system = key.substr(at + 1);
  if (tenant.empty() || tenant.size() > 241 || system.empty() || system.size() > 14) return false;
  if (system.find('@') != std::string_view::npos) return false;
  bool tenant_start = (tenant[0] >= 'a' && tenant[0] <= 'z') || (tenant[0] >= '0' && tenant[0] <= '9');
  return tenant_start && system[0] >= 'a' && system[0] <= 'z';
}

// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E.
bool valid_value(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

bool parse_traceparent(std::string_view value, TraceParent& out) {
  value = trim(value);
  if (value.size() < 55) return false;
  std::uint8_t version = 0;
  if (!parse_hex(value.substr(0, 2), &version) || version == 0xff) return false;
  if (version == 0 && value.size() != 55) return false;
  if (value.size() > 55 && value[55] != '-') return false;  // a future version's further fields
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return false;
  if (!parse_hex(value.substr(3, 32), out.trace_id.data())) return false;
  if (!parse_hex(value.substr(36, 16), out.parent_id.data())) return false;
  if (!parse_hex(value.substr(53, 2), &out.flags)) return false;
  return !all_zero(out.trace_id) && !all_zero(out.parent_id);
}

bool valid_tracestate(std::string_view value) {
  if (value.size() > kMaxTraceStateLength) return false;
  std::size_t members = 0;
  while (true) {
    auto comma = value.find(',');
    std::string_view member = trim(value.substr(0, comma));
    if (!member.empty()) {
      auto eq = member.find('=');
      if (eq == std::string_view::npos) return false;
      if (!valid_key(member.substr(0, eq)) || !valid_value(member.substr(eq + 1))) return false;
      if (++members > kMaxTraceStateMembers) return false;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return true;
}

void append_hex(std::string& out, const std::uint8_t* bytes, std::size_t size) {
  std::size_t at = out.size();
  out.resize(at + 2 * size);  // one resize, not a push_back (a call) per digit
  write_hex(out.data() + at, bytes, size);
}

void append_traceparent(std::string& out, const TraceId& trace_id, const SpanId& span_id,
                        std::uint8_t flags) {
  char buf[55];  // "00-" 32 hex "-" 16 hex "-" 2 hex, written in place and appended once
  char* p = buf;
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  p = write_hex(p, trace_id.data(), trace_id.size());
  *p++ = '-';
  p = write_hex(p, span_id.data(), span_id.size());
  *p++ = '-';
  p = write_hex(p, &flags, 1);
  out.append(buf, static_cast<std::size_t>(p - buf));
}

namespace {
void store(std::uint8_t* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[i] = static_cast<std::uint8_t>(v & 0xff);
}
}  // namespace

TraceIdGenerator::TraceIdGenerator() = default;

TraceIdGenerator::TraceIdGenerator(std::uint64_t seed) : random_(seed) {}

void TraceIdGenerator::next(TraceId& id) {
  do {
    store(id.data(), next64());
    store(id.data() + 8, next64());
  } while (all_zero(id));
}

void TraceIdGenerator::next(SpanId& id) {
  do {
    store(id.data(), next64());
  } while (all_zero(id));
}

bool sampled_by_ratio(const TraceId& trace_id, double ratio) {
  if (ratio <= 0.0) return false;
  if (ratio >= 1.0) return true;
  std::uint64_t low = 0;
  for (std::size_t i = 8; i < 16; ++i)
    low = low << 8 | trace_id[i];
  // Compare the top 53 bits (a double's precision) with the ratio.
  return static_cast<double>(low >> 11) < ratio * static_cast<double>(1ull << 53);
}

}  // namespace workgate::observability
