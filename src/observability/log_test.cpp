#include "observability/log.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace workgate::observability {
namespace {

using Clock = RepeatFilter::Clock;
using std::chrono::milliseconds;
using Lines = std::vector<std::string>;

class RepeatFilterTest : public ::testing::Test {
 protected:
  RepeatFilter filter{milliseconds(1000), 4};
  Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1);

  Lines log(std::string_view message, milliseconds at,
            spdlog::level::level_enum level = spdlog::level::warn) {
    std::vector<RepeatFilter::Line> out;
    filter.log(level, message, t0 + at, out);
    return texts(out);
  }
  Lines flush(milliseconds at, bool all = false) {
    std::vector<RepeatFilter::Line> out;
    filter.flush(t0 + at, out, all);
    return texts(out);
  }
  static Lines texts(const std::vector<RepeatFilter::Line>& out) {
    Lines lines;
    for (const auto& l : out)
      lines.push_back(l.text);
    return lines;
  }
};

TEST_F(RepeatFilterTest, FirstOccurrenceIsWrittenRepeatsInTheWindowAreCounted) {
  EXPECT_EQ(log("accept failed: Too many open files", milliseconds(0)),
            Lines{"accept failed: Too many open files"});
  for (int i = 1; i <= 19; ++i)
    EXPECT_EQ(log("accept failed: Too many open files", milliseconds(50 * i)), Lines{}) << i;
  EXPECT_EQ(flush(milliseconds(999)), Lines{});
  EXPECT_EQ(flush(milliseconds(1000)), Lines{"accept failed: Too many open files (repeated 19 times)"});
  EXPECT_TRUE(filter.empty());
  // After the summary the message is new again.
  EXPECT_EQ(log("accept failed: Too many open files", milliseconds(1200)),
            Lines{"accept failed: Too many open files"});
}

TEST_F(RepeatFilterTest, SteadyFloodWritesOneLinePerWindow) {
  std::vector<Lines> written;
  for (int i = 0; i < 60; ++i) {  // every 50 ms for 3 s
    Lines l = log("upstream api:80: connect failed: Connection refused", milliseconds(50 * i));
    if (!l.empty()) written.push_back(l);
  }
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[0], Lines{"upstream api:80: connect failed: Connection refused"});
  EXPECT_EQ(written[1], Lines{"upstream api:80: connect failed: Connection refused (repeated 20 times)"});
  EXPECT_EQ(written[2], Lines{"upstream api:80: connect failed: Connection refused (repeated 20 times)"});
  EXPECT_EQ(flush(milliseconds(3000)),
            Lines{"upstream api:80: connect failed: Connection refused (repeated 19 times)"});
}

TEST_F(RepeatFilterTest, DifferentTextOrLevelIsADifferentMessage) {
  EXPECT_EQ(log("a", milliseconds(0)), Lines{"a"});
  EXPECT_EQ(log("b", milliseconds(1)), Lines{"b"});
  EXPECT_EQ(log("a", milliseconds(2), spdlog::level::err), Lines{"a"});
  EXPECT_EQ(log("a", milliseconds(3)), Lines{});
  EXPECT_EQ(flush(milliseconds(1000)), Lines{"a (repeated 1 time)"});
  EXPECT_EQ(flush(milliseconds(5000)), Lines{});
}

TEST_F(RepeatFilterTest, OldestIsSummedUpWhenFull) {
  EXPECT_EQ(log("m0", milliseconds(0)), Lines{"m0"});
  EXPECT_EQ(log("m0", milliseconds(1)), Lines{});
  EXPECT_EQ(log("m1", milliseconds(2)), Lines{"m1"});
  EXPECT_EQ(log("m2", milliseconds(3)), Lines{"m2"});
  EXPECT_EQ(log("m3", milliseconds(4)), Lines{"m3"});
  EXPECT_EQ(log("m4", milliseconds(5)), (Lines{"m0 (repeated 1 time)", "m4"}));
  EXPECT_EQ(log("m0", milliseconds(6)), Lines{"m0"});  // m1 evicted silently (no repeats)
  EXPECT_EQ(flush(milliseconds(7), /*all=*/true), Lines{});
  EXPECT_TRUE(filter.empty());
}

TEST_F(RepeatFilterTest, ANewMessageAlsoWritesExpiredSummaries) {
  EXPECT_EQ(log("x", milliseconds(0)), Lines{"x"});
  EXPECT_EQ(log("x", milliseconds(10)), Lines{});
  EXPECT_EQ(log("y", milliseconds(1500)), (Lines{"x (repeated 1 time)", "y"}));
}

TEST(AccessLogFormat, JsonLineCarriesEveryField) {
  AccessLog log(LogFormat::kJson);
  AccessRecord r;
  r.client = "10.0.0.1";
  r.listener = "public";
  r.protocol = "HTTP/1.1";
  r.method = "GET";
  r.route = "/items/{id}";
  r.path = "/items/\"7\"\x01\xc3";
  r.status = 502;
  r.bytes_in = 12;
  r.bytes_out = 345;
  r.duration_ms = 1.5;
  r.request_id = "req-1";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.upstream = "api";
  r.upstream_duration_ms = 0.25;
  r.error = "UPSTREAM_UNAVAILABLE";
  std::string line;
  log.format(r, std::chrono::system_clock::time_point(std::chrono::milliseconds(1764650436123)), line);
  EXPECT_EQ(
      line,
      "{\"time\":\"2025-12-02T04:40:36.123Z\",\"level\":\"info\",\"msg\":\"access\",\"request_id\":\"req-1\","
      "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"client\":\"10.0.0.1\",\"listener\":\"public\","
      "\"protocol\":\"HTTP/1.1\",\"method\":\"GET\",\"route\":\"/items/{id}\","
      "\"path\":\"/items/\\\"7\\\"\\u0001\\u00c3\",\"status\":502,\"bytes_in\":12,\"bytes_out\":345,"
      "\"duration_ms\":1.500,\"upstream\":\"api\",\"upstream_duration_ms\":0.250,"
      "\"error\":\"UPSTREAM_UNAVAILABLE\"}\n");
}

TEST(AccessLogFormat, TextLineAndOmittedFields) {
  AccessLog log(LogFormat::kText);
  AccessRecord r;
  r.client = "10.0.0.1";
  r.method = "GET";
  r.path = "/a b";
  r.status = 200;
  r.bytes_out = 2;
  r.duration_ms = 0.5;
  r.request_id = "id";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  std::string line;
  log.format(r, std::chrono::system_clock::time_point(std::chrono::milliseconds(1764650436001)), line);
  EXPECT_EQ(
      line,
      "2025-12-02T04:40:36.001Z 10.0.0.1 \"GET /a b\" 200 2 500us id 4bf92f3577b34da6a3ce929d0e0e4736\n");
  AccessLog json(LogFormat::kJson);
  line.clear();
  json.format(r, std::chrono::system_clock::time_point(), line);
  EXPECT_EQ(line.find("\"route\""), std::string::npos);
  EXPECT_EQ(line.find("\"upstream"), std::string::npos);
  EXPECT_EQ(line.find("\"error\""), std::string::npos);
}

TEST(LogFormatNames, Parse) {
  LogFormat f = LogFormat::kText;
  EXPECT_TRUE(parse_log_format("json", f));
  EXPECT_EQ(f, LogFormat::kJson);
  EXPECT_TRUE(parse_log_format("text", f));
  EXPECT_EQ(f, LogFormat::kText);
  EXPECT_FALSE(parse_log_format("JSON", f));
}

}  // namespace
}  // namespace workgate::observability
