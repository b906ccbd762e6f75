// Spans and their export as OTLP/HTTP JSON (https://opentelemetry.io/docs/specs/otlp/#otlphttp).
//
// The request path only appends a finished span to its thread's SpanBuffer (bounded; a full buffer drops
// and counts). The thread's tick hands the buffer to the process's SpanExporter, whose own thread encodes
// batches as JSON (Boost.JSON) and POSTs them to the collector (Beast, with deadlines), so neither the
// encoding nor the network is ever on an event loop. A full exporter queue or a failed POST drops the
// spans and counts them (span_stats()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "observability/trace_context.hpp"

namespace workgate::observability {

enum class SpanKind : std::uint8_t { kServer = 2, kClient = 3 };  // OTLP's SpanKind numbers
enum class SpanStatus : std::uint8_t { kUnset = 0, kOk = 1, kError = 2 };

struct SpanAttribute {
  std::string_view key;  // a literal (static storage)
  std::variant<std::string, std::int64_t> value;
};

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};
  bool has_parent = false;
  std::string name;
  SpanKind kind = SpanKind::kServer;
  std::uint64_t start_unix_ns = 0;
  std::uint64_t end_unix_ns = 0;
  SpanStatus status = SpanStatus::kUnset;
  std::vector<SpanAttribute> attributes;
};

// Where a batch goes: from gateway.tracing (parsed by the config loader).
struct ExportTarget {
  std::string host;
  std::uint16_t port = 4318;
  std::string path = "/v1/traces";
  std::string service_name = "workgate";
  std::string service_version;
};

// The OTLP/HTTP JSON body of one ExportTraceServiceRequest (ids as hex strings, enums as integers,
// times as decimal strings of nanoseconds since the epoch).
std::string encode_otlp_json(const std::vector<Span>& spans, const ExportTarget& target);

struct SpanStats {
  std::uint64_t exported = 0;  // accepted by the collector (a 2xx answer)
  std::uint64_t dropped = 0;   // a full buffer or queue, or a failed export
};
SpanStats span_stats();

// One event-loop thread's finished spans, until its next tick hands them over (or until they fill an
// export batch: then `add` with a target hands them over at once, so that a busy thread is not limited to
// kCapacity spans per tick).
class SpanBuffer {
 public:
  static constexpr std::size_t kCapacity = 2048;
  static constexpr std::size_t kHandOver = 512;  // SpanExporter::kBatch
  void add(Span span);
  void add(Span span, const std::shared_ptr<const ExportTarget>& target) {
    add(std::move(span));
    if (spans_.size() >= kHandOver && target) flush(target);
  }
  // Hands the spans to the exporter (takes its lock once per call, off the request path).
  void flush(const std::shared_ptr<const ExportTarget>& target);
  std::size_t size() const { return spans_.size(); }

 private:
  std::vector<Span> spans_;
};

class SpanExporter {
 public:
  static constexpr std::size_t kMaxQueued = 8192;
  static constexpr std::size_t kBatch = 512;
  static SpanExporter& instance();

  void submit(std::vector<Span>&& spans, std::shared_ptr<const ExportTarget> target);
  // Exports what is queued (for up to about two seconds) and stops the thread. Later submits drop.
  void shutdown();
  ~SpanExporter();

 private:
  SpanExporter() = default;
  void run();
  struct Queued {
    std::shared_ptr<const ExportTarget> target;
    std::vector<Span> spans;
  };
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  std::size_t queued_spans_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

namespace detail {
void count_dropped(std::uint64_t n);
}

}  // namespace workgate::observability
