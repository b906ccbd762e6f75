#include "observability/trace_context.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "observability/hex.hpp"
#include "observability/spans.hpp"

namespace workgate::observability {
namespace {

constexpr std::string_view kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kParent = "00f067aa0ba902b7";

std::string tp(std::string_view version, std::string_view trace, std::string_view parent,
               std::string_view flags, std::string_view rest = "") {
  return std::string(version) + "-" + std::string(trace) + "-" + std::string(parent) + "-" +
         std::string(flags) + std::string(rest);
}

std::string hex(const TraceParent& p) {
  std::string out;
  append_traceparent(out, p.trace_id, p.parent_id, p.flags);
  return out;
}

// Two lower-case digits per byte, for every byte value, written exactly where asked.
TEST(Hex, EveryByteValueGivesItsTwoLowerCaseDigits) {
  for (unsigned v = 0; v < 256; ++v) {
    std::uint8_t byte = static_cast<std::uint8_t>(v);
    char out[4] = {'#', '#', '#', '#'};
    char* end = write_hex(out + 1, &byte, 1);
    char want[3];
    std::snprintf(want, sizeof(want), "%02x", v);
    EXPECT_EQ(end, out + 3);
    EXPECT_EQ(std::string(out, 4), std::string("#") + want + "#") << v;
  }
}

TEST(TraceParent, ParsesVersion00) {
  TraceParent p;
  ASSERT_TRUE(parse_traceparent(tp("00", kTrace, kParent, "01"), p));
  EXPECT_EQ(hex(p), tp("00", kTrace, kParent, "01"));
  EXPECT_EQ(p.flags, 1);
  ASSERT_TRUE(parse_traceparent(" " + tp("00", kTrace, kParent, "00") + "\t", p));  // OWS around the value
  EXPECT_EQ(p.flags, 0);
}

TEST(TraceParent, RejectsMalformedValues) {
  TraceParent p;
  std::string upper(kTrace);
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string cases[] = {
      "",
      tp("00", upper, kParent, "01"),                 // uppercase hex
      tp("00", std::string(32, '0'), kParent, "01"),  // all-zero trace id
      tp("00", kTrace, std::string(16, '0'), "01"),   // all-zero parent id
      tp("ff", kTrace, kParent, "01"),                // version ff
      tp("00", kTrace, kParent, "01", "-x"),          // version 00 has exactly 55 characters
      tp("00", kTrace, kParent, "1"),                 // short flags
      tp("00", kTrace.substr(1), kParent, "01"),      // short trace id
      tp("00", kTrace, kParent.substr(1), "01"),      // short parent id
      tp("0g", kTrace, kParent, "01"),                // not hex
      tp("00", kTrace, kParent, "0z"),                // flags not hex
      tp("01", kTrace, kParent, "01", "x"),           // a future version: '-' after the flags
      "00_" + std::string(kTrace) + "_" + std::string(kParent) + "_01",
  };
  for (const std::string& value : cases)
    EXPECT_FALSE(parse_traceparent(value, p)) << value;
}

TEST(TraceParent, EveryByteThatIsNotALowercaseHexDigitIsRejectedInEveryField) {
  const std::string good = tp("00", kTrace, kParent, "01");
  TraceParent p;
  ASSERT_TRUE(parse_traceparent(good, p));
  // The hex positions: version 0-1, trace id 3-34, parent id 36-51, flags 53-54.
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < good.size(); ++i)
    if (good[i] != '-') positions.push_back(i);
  ASSERT_EQ(positions.size(), 52u);
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool hex_digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    for (std::size_t at : positions) {
      std::string value = good;
      value[at] = c;
      // A digit may make an id all zeros or the version ff: those are rejected for that reason.
      if (hex_digit) continue;
      EXPECT_FALSE(parse_traceparent(value, p)) << "byte " << b << " at " << at;
    }
  }
  // Every digit is read at its place: the ids round-trip whatever their digits.
  std::string trace(32, '0'), parent(16, '0');
  for (std::size_t i = 0; i < trace.size(); ++i)
    trace[i] = "0123456789abcdef"[(i * 7 + 3) % 16];
  for (std::size_t i = 0; i < parent.size(); ++i)
    parent[i] = "0123456789abcdef"[(i * 5 + 11) % 16];
  ASSERT_TRUE(parse_traceparent(tp("00", trace, parent, "fe"), p));
  EXPECT_EQ(hex(p), tp("00", trace, parent, "fe"));
  EXPECT_EQ(p.flags, 0xfe);
}

TEST(TraceParent, FutureVersionsAreParsedLeniently) {
  TraceParent p;
  ASSERT_TRUE(parse_traceparent(tp("01", kTrace, kParent, "03"), p));
  EXPECT_EQ(hex(p), tp("00", kTrace, kParent, "03"));
  ASSERT_TRUE(parse_traceparent(tp("cc", kTrace, kParent, "01", "-more-fields"), p));
  EXPECT_EQ(hex(p).substr(3, 32), kTrace);
}

TEST(TraceState, ValidatesTheList) {
  EXPECT_TRUE(valid_tracestate(""));
  EXPECT_TRUE(valid_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
  EXPECT_TRUE(valid_tracestate("a=1 , ,b@sys=x y"));  // empty members and OWS are allowed
  EXPECT_TRUE(valid_tracestate("1tenant@sys=v"));     // a tenant id may start with a digit
  EXPECT_FALSE(valid_tracestate("UPPER=1"));
  EXPECT_FALSE(valid_tracestate("novalue"));
  EXPECT_FALSE(
      valid_tracestate("k=v,"
                       "1=x"));  // a simple key starts with a letter
  EXPECT_FALSE(valid_tracestate("k=a=b"));
  EXPECT_FALSE(valid_tracestate("k="));
  EXPECT_FALSE(valid_tracestate("k=\x01"));
  EXPECT_FALSE(valid_tracestate("a@b@c=1"));
  std::string many;
  for (int i = 0; i < 33; ++i)
    many += "k" + std::to_string(i) + "=v,";
  EXPECT_FALSE(valid_tracestate(many));  // more than 32 members
  EXPECT_FALSE(valid_tracestate("k=" + std::string(520, 'v')));
}

TEST(TraceIdGenerator, IdsAreRandomAndNeverZero) {
  TraceIdGenerator generator(42);
  TraceId a{}, b{};
  generator.next(a);
  generator.next(b);
  EXPECT_NE(a, b);
  EXPECT_NE(a, TraceId{});
  SpanId s{};
  generator.next(s);
  EXPECT_NE(s, SpanId{});
}

TEST(Sampling, RatioBoundsAndDeterminism) {
  TraceIdGenerator generator(7);
  int sampled = 0;
  for (int i = 0; i < 10000; ++i) {
    TraceId id{};
    generator.next(id);
    EXPECT_FALSE(sampled_by_ratio(id, 0.0));
    EXPECT_TRUE(sampled_by_ratio(id, 1.0));
    EXPECT_EQ(sampled_by_ratio(id, 0.25), sampled_by_ratio(id, 0.25));
    sampled += sampled_by_ratio(id, 0.25) ? 1 : 0;
  }
  EXPECT_GT(sampled, 2200);
  EXPECT_LT(sampled, 2800);
}

TEST(OtlpJson, EncodesIdsEnumsTimesAndAttributes) {
  Span s;
  TraceParent p;
  ASSERT_TRUE(parse_traceparent(tp("00", kTrace, kParent, "01"), p));
  s.trace_id = p.trace_id;
  s.span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  s.parent_span_id = p.parent_id;
  s.has_parent = true;
  s.name = "GET /items/{id}";
  s.kind = SpanKind::kServer;
  s.start_unix_ns = 1764650436123456789ull;
  s.end_unix_ns = 1764650436223456789ull;
  s.status = SpanStatus::kError;
  s.attributes.push_back({"http.request.method", std::string("GET")});
  s.attributes.push_back({"http.response.status_code", std::int64_t{503}});
  ExportTarget target;
  target.service_name = "edge";
  auto doc = boost::json::parse(encode_otlp_json({s}, target));
  const auto& rs = doc.at("resourceSpans").at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").at(0),
            boost::json::parse(R"({"key":"service.name","value":{"stringValue":"edge"}})"));
  const auto& span = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(span.at("traceId").as_string(), kTrace);
  EXPECT_EQ(span.at("spanId"), "0102030405060708");
  EXPECT_EQ(span.at("parentSpanId").as_string(), kParent);
  EXPECT_EQ(span.at("kind"), 2);
  EXPECT_EQ(span.at("startTimeUnixNano"), "1764650436123456789");
  EXPECT_EQ(span.at("endTimeUnixNano"), "1764650436223456789");
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(span.at("attributes").at(1),
            boost::json::parse(R"({"key":"http.response.status_code","value":{"intValue":"503"}})"));
  s.has_parent = false;
  s.status = SpanStatus::kUnset;
  auto root = boost::json::parse(encode_otlp_json({s}, target));
  const auto& root_span = root.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").at(0).as_object();
  EXPECT_FALSE(root_span.contains("parentSpanId"));
  EXPECT_TRUE(root_span.at("status").as_object().empty());
}

TEST(SpanBuffer, DropsBeyondItsCapacityAndCountsThem) {
  SpanBuffer buffer;
  const std::uint64_t before = span_stats().dropped;
  for (std::size_t i = 0; i < SpanBuffer::kCapacity + 3; ++i)
    buffer.add(Span{});
  EXPECT_EQ(buffer.size(), SpanBuffer::kCapacity);
  EXPECT_EQ(span_stats().dropped - before, 3u);
  buffer.flush(nullptr);  // no collector (tracing turned off): dropped as well
  EXPECT_EQ(buffer.size(), 0u);
  EXPECT_EQ(span_stats().dropped - before, 3u + SpanBuffer::kCapacity);
}

TEST(SpanBuffer, AFullBatchIsHandedOverWithoutWaitingForTheTick) {
  SpanBuffer buffer;
  for (std::size_t i = 0; i + 1 < SpanBuffer::kHandOver; ++i)
    buffer.add(Span{}, nullptr);  // no target: kept for the tick
  EXPECT_EQ(buffer.size(), SpanBuffer::kHandOver - 1);
  auto target = std::make_shared<ExportTarget>();
  target->host = "127.0.0.1";
  target->port = 1;  // nothing listens: the export fails and is counted as dropped
  buffer.add(Span{}, target);
  EXPECT_EQ(buffer.size(), 0u);
  buffer.add(Span{}, target);
  EXPECT_EQ(buffer.size(), 1u);
  buffer.flush(nullptr);
}

}  // namespace
}  // namespace workgate::observability
