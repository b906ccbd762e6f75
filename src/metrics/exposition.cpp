#include "metrics/exposition.hpp"

#include <charconv>
#include <cmath>

namespace workgate::metrics {

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '"':
        out.append("\\\"");
        break;
      case '\n':
        out.append("\\n");
        break;
      default:
        out.push_back(c);
    }
  }
}

void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  // Fixed notation in the usual range ("0.0005", not "5e-04": le labels read as people write them).
  char buf[400];
  double magnitude = std::fabs(value);
  auto format = magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e15) ? std::chars_format::fixed
                                                                          : std::chars_format::general;
  auto r = std::to_chars(buf, buf + sizeof(buf), value, format);
  out.append(buf, r.ptr);
}

namespace {
void append_uint(std::string& out, std::uint64_t value) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, r.ptr);
}
}  // namespace

void TextWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).push_back(' ');
  append_help(out_, help);
  out_.append("\n# TYPE ").append(name).push_back(' ');
  out_.append(type).push_back('\n');
}

void TextWriter::series(std::string_view name, std::string_view suffix, const Labels& labels,
                        std::string_view extra_name, std::string_view extra_value) {
  out_.append(name).append(suffix);
  if (labels.empty() && extra_name.empty()) {
    out_.push_back(' ');
    return;
  }
  out_.push_back('{');
  bool first = true;
  auto label = [&](std::string_view key, std::string_view value) {
    if (!first) out_.push_back(',');
    first = false;
    out_.append(key).append("=\"");
    append_label_value(out_, value);
    out_.push_back('"');
  };
  for (const auto& [key, value] : labels)
    label(key, value);
  if (!extra_name.empty()) label(extra_name, extra_value);
  out_.append("} ");
}

void TextWriter::sample(std::string_view name, const Labels& labels, double value) {
  series(name, "", labels);
  append_value(out_, value);
  out_.push_back('\n');
}

void TextWriter::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  series(name, "", labels);
  append_uint(out_, value);
  out_.push_back('\n');
}

void TextWriter::histogram(std::string_view name, const Labels& labels, const HistogramValues& values) {
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i < values.buckets.size(); ++i) {
    cumulative += values.buckets[i];
    le.clear();
    if (i < kDurationBuckets.size()) {
      append_value(le, kDurationBuckets[i]);
    } else {
      le = "+Inf";
    }
    series(name, "_bucket", labels, "le", le);
    append_uint(out_, cumulative);
    out_.push_back('\n');
  }
  series(name, "_sum", labels);
  append_value(out_, static_cast<double>(values.sum_ns) / 1e9);
  out_.push_back('\n');
  series(name, "_count", labels);
  append_uint(out_, cumulative);
  out_.push_back('\n');
}

}  // namespace workgate::metrics
