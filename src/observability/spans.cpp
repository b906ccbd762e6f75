#include "observability/spans.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>

#include "observability/log.hpp"

namespace workgate::observability {
namespace {

std::atomic<std::uint64_t> g_exported{0};
std::atomic<std::uint64_t> g_dropped{0};

// JSON strings must be UTF-8: text that is not (bytes from a client) has its non-ASCII bytes replaced.
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c >= 0x80) {
      if ((c & 0xe0) == 0xc0) {
        n = 1;
      } else if ((c & 0xf0) == 0xe0) {
        n = 2;
      } else if ((c & 0xf8) == 0xf0) {
        n = 3;
      } else {
        return false;
      }
    }
    for (std::size_t k = 1; k <= n; ++k)
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

std::string utf8_or_ascii(std::string_view s) {
  std::string out(s);
  if (!valid_utf8(s)) {
    for (char& ch : out)
      if (static_cast<unsigned char>(ch) >= 0x80) ch = '?';
  }
  return out;
}

// {"key": KEY, "value": {"stringValue": S}} or {"key": KEY, "value": {"intValue": "N"}}, in `sp`'s memory.
boost::json::object attribute(std::string_view key, const std::variant<std::string, std::int64_t>& v,
                              const boost::json::storage_ptr& sp) {
  boost::json::object value(sp);
  value.reserve(1);
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (valid_utf8(*s)) {
      value.emplace("stringValue", std::string_view(*s));
    } else {
      value.emplace("stringValue", utf8_or_ascii(*s));
    }
  } else {
    // OTLP/JSON encodes 64-bit integers as decimal strings.
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof(digits), std::get<std::int64_t>(v));
    value.emplace("intValue", std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  }
  boost::json::object out(sp);
  out.reserve(2);
  out.emplace("key", key);
  out.emplace("value", std::move(value));
  return out;
}

namespace beast = boost::beast;
namespace asio = boost::asio;

// One POST with a deadline over the whole exchange. Returns the status, or 0 when no answer came.
int post(const ExportTarget& target, const std::string& body, std::string& error) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  beast::http::request<beast::http::string_body> request{beast::http::verb::post, target.path, 11};
  std::string host = target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  request.set(beast::http::field::host, host + ":" + std::to_string(target.port));
  request.set(beast::http::field::content_type, "application/json");
  request.set(beast::http::field::user_agent, "workgate");
  request.body() = body;
  request.prepare_payload();
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(64 * 1024);
  int status = 0;
  auto deadline = std::chrono::seconds(5);
  resolver.async_resolve(target.host, std::to_string(target.port), [&](beast::error_code ec, auto results) {
    if (ec) {
      error = "resolve: " + ec.message();
      return;
    }
    stream.expires_after(deadline);
    stream.async_connect(results, [&](beast::error_code ec2, const auto&) {
      if (ec2) {
        error = "connect: " + ec2.message();
        return;
      }
      beast::http::async_write(stream, request, [&](beast::error_code ec3, std::size_t) {
        if (ec3) {
          error = "write: " + ec3.message();
          return;
        }
        beast::http::async_read(stream, buffer, parser, [&](beast::error_code ec4, std::size_t) {
          if (ec4) {
            error = "read: " + ec4.message();
            return;
          }
          status = static_cast<int>(parser.get().result_int());
        });
      });
    });
  });
  io.run_for(deadline + std::chrono::seconds(1));
  if (status == 0 && error.empty()) error = "timeout";
  return status;
}

}  // namespace

std::string encode_otlp_json(const std::vector<Span>& spans, const ExportTarget& target) {
  namespace json = boost::json;
  // Every value of the document lives in one arena (a few large blocks instead of an allocation per value):
  // built, serialized and released at once.
  json::monotonic_resource arena(64 * 1024 + spans.size() * 2048);
  json::storage_ptr sp(&arena);
  auto hex_string = [&](const std::uint8_t* bytes, std::size_t size) {
    char buf[32];
    static constexpr char kDigits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < size && i < 16; ++i) {
      buf[2 * i] = kDigits[bytes[i] >> 4];
      buf[2 * i + 1] = kDigits[bytes[i] & 15];
    }
    return json::string(std::string_view(buf, 2 * std::min<std::size_t>(size, 16)), sp);
  };
  auto decimal = [&](std::uint64_t n) {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof(digits), n);
    return json::string(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)), sp);
  };
  json::array out_spans(sp);
  out_spans.reserve(spans.size());
  for (const Span& s : spans) {
    json::object span(sp);
    span.reserve(9);
    span.emplace("traceId", hex_string(s.trace_id.data(), s.trace_id.size()));
    span.emplace("spanId", hex_string(s.span_id.data(), s.span_id.size()));
    if (s.has_parent)
      span.emplace("parentSpanId", hex_string(s.parent_span_id.data(), s.parent_span_id.size()));
    span.emplace("name", s.name);
    span.emplace("kind", static_cast<int>(s.kind));
    span.emplace("startTimeUnixNano", decimal(s.start_unix_ns));
    span.emplace("endTimeUnixNano", decimal(s.end_unix_ns));
    json::array attributes(sp);
    attributes.reserve(s.attributes.size());
    for (const SpanAttribute& a : s.attributes)
      attributes.emplace_back(attribute(a.key, a.value, sp));
    span.emplace("attributes", std::move(attributes));
    json::object status(sp);
    if (s.status != SpanStatus::kUnset) status.emplace("code", static_cast<int>(s.status));
    span.emplace("status", std::move(status));
    out_spans.emplace_back(std::move(span));
  }
  json::array resource_attributes(sp);
  resource_attributes.emplace_back(attribute("service.name", target.service_name, sp));
  if (!target.service_version.empty())
    resource_attributes.emplace_back(attribute("service.version", target.service_version, sp));
  json::object scope({{"name", "workgate"}}, sp);
  if (!target.service_version.empty()) scope.emplace("version", target.service_version);
  json::object scope_spans({{"scope", std::move(scope)}, {"spans", std::move(out_spans)}}, sp);
  json::object resource({{"attributes", std::move(resource_attributes)}}, sp);
  json::object resource_spans(
      {{"resource", std::move(resource)}, {"scopeSpans", json::array({std::move(scope_spans)}, sp)}}, sp);
  json::object document({{"resourceSpans", json::array({std::move(resource_spans)}, sp)}}, sp);
  return json::serialize(document);
}

SpanStats span_stats() {
  return {g_exported.load(std::memory_order_relaxed), g_dropped.load(std::memory_order_relaxed)};
}

namespace detail {
void count_dropped(std::uint64_t n) {
  g_dropped.fetch_add(n, std::memory_order_relaxed);
}
}  // namespace detail

static_assert(SpanBuffer::kHandOver == SpanExporter::kBatch, "a hand-over is one export batch");

void SpanBuffer::add(Span span) {
  if (spans_.size() >= kCapacity) {
    detail::count_dropped(1);
    return;
  }
  spans_.push_back(std::move(span));
}

void SpanBuffer::flush(const std::shared_ptr<const ExportTarget>& target) {
  if (spans_.empty()) return;
  if (!target) {  // tracing was turned off by a reload: what is left is not exported
    detail::count_dropped(spans_.size());
    spans_.clear();
    return;
  }
  std::vector<Span> batch;
  batch.reserve(kCapacity / 4);
  batch.swap(spans_);
  SpanExporter::instance().submit(std::move(batch), target);
}

SpanExporter& SpanExporter::instance() {
  static SpanExporter exporter;
  return exporter;
}

void SpanExporter::submit(std::vector<Span>&& spans, std::shared_ptr<const ExportTarget> target) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    detail::count_dropped(spans.size());
    return;
  }
  std::size_t room = kMaxQueued - queued_spans_;
  if (spans.size() > room) {
    detail::count_dropped(spans.size() - room);
    spans.resize(room);
  }
  if (spans.empty()) return;
  queued_spans_ += spans.size();
  queue_.push_back({std::move(target), std::move(spans)});
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  wake_.notify_one();
}

void SpanExporter::run() {
  auto stop_by = std::chrono::steady_clock::time_point::max();
  while (true) {
    std::shared_ptr<const ExportTarget> target;
    std::vector<Span> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      if (stopping_ && stop_by == std::chrono::steady_clock::time_point::max())
        stop_by = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      if (std::chrono::steady_clock::now() > stop_by) {
        detail::count_dropped(queued_spans_);
        queue_.clear();
        queued_spans_ = 0;
        break;
      }
      // One batch: up to kBatch spans of consecutive entries with the same target.
      target = queue_.front().target;
      while (!queue_.empty() && queue_.front().target == target && batch.size() < kBatch) {
        Queued& q = queue_.front();
        std::size_t take = std::min(kBatch - batch.size(), q.spans.size());
        std::move(q.spans.begin(), q.spans.begin() + static_cast<std::ptrdiff_t>(take),
                  std::back_inserter(batch));
        q.spans.erase(q.spans.begin(), q.spans.begin() + static_cast<std::ptrdiff_t>(take));
        queued_spans_ -= take;
        if (q.spans.empty()) queue_.pop_front();
      }
    }
    std::string error;
    int status = 0;
    try {
      status = post(*target, encode_otlp_json(batch, *target), error);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (status >= 200 && status < 300) {
      g_exported.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      detail::count_dropped(batch.size());
      if (status != 0) error = "status " + std::to_string(status);
      log_warn("OTLP export to {}:{}{} failed ({}); {} span(s) dropped", target->host, target->port,
               target->path, error, batch.size());
    }
  }
  flush_repeated();
}

void SpanExporter::shutdown() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopping_ = true;
    stopped_ = true;
    thread.swap(thread_);
  }
  wake_.notify_one();
  if (thread.joinable()) thread.join();
}

SpanExporter::~SpanExporter() {
  shutdown();
}

}  // namespace workgate::observability
