// W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent and tracestate fields a request
// arrives with, and the ids the gateway's own spans take.
//
// traceparent: "VERSION-TRACEID-PARENTID-FLAGS", lowercase hex. Version 00 is exactly 55 characters; a
// higher version (but not ff) is read leniently: its first four fields as version 00 defines them, and
// anything after them must start with '-'. All-zero trace or parent ids are invalid. A malformed
// traceparent is ignored (a new trace begins); tracestate is only kept with a valid traceparent, and only
// when it is a well-formed list (at most 32 members, 512 characters).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "observability/random.hpp"

namespace workgate::observability {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

inline constexpr std::size_t kMaxTraceStateLength = 512;
inline constexpr std::size_t kMaxTraceStateMembers = 32;

struct TraceParent {
  TraceId trace_id{};
  SpanId parent_id{};
  std::uint8_t flags = 0;  // bit 0: sampled
};

// Parses one traceparent value; false (and `out` unspecified) when it is malformed.
bool parse_traceparent(std::string_view value, TraceParent& out);
// Whether a tracestate value (the fields joined by commas) is a well-formed list.
bool valid_tracestate(std::string_view value);

// 32 / 16 lowercase hex digits.
void append_hex(std::string& out, const std::uint8_t* bytes, std::size_t size);
inline void append_hex(std::string& out, const TraceId& id) {
  append_hex(out, id.data(), id.size());
}
inline void append_hex(std::string& out, const SpanId& id) {
  append_hex(out, id.data(), id.size());
}
// "00-TRACEID-SPANID-FLAGS" (55 characters).
void append_traceparent(std::string& out, const TraceId& trace_id, const SpanId& span_id, std::uint8_t flags);

// Random trace and span ids, never all zero. One per thread (xoshiro256**, as RequestIdGenerator).
class TraceIdGenerator {
 public:
  TraceIdGenerator();
  explicit TraceIdGenerator(std::uint64_t seed);
  void next(TraceId& id);
  void next(SpanId& id);

 private:
  std::uint64_t next64() { return random_.next(); }
  Xoshiro256 random_;
};

// TraceIdRatioBased sampling: the decision is a function of the trace id (its last 8 bytes against the
// ratio), so every service using the same ratio makes the same one. ratio <= 0: never; >= 1: always.
bool sampled_by_ratio(const TraceId& trace_id, double ratio);

}  // namespace workgate::observability
