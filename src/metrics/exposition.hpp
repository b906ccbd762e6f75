// The Prometheus text exposition format, version 0.0.4: families (# HELP, # TYPE) and their samples.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/counter.hpp"

namespace workgate::metrics {

inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::vector<Label>;

// A label value as written between the quotes: backslash, double quote and line feed escaped.
void append_label_value(std::string& out, std::string_view value);
// HELP text: backslash and line feed escaped.
void append_help(std::string& out, std::string_view help);
// A sample value: integers exactly, other values in the shortest form that reads back the same; NaN and
// infinities as Prometheus spells them.
void append_value(std::string& out, double value);

class TextWriter {
 public:
  // Starts a family; every sample of it must follow before the next family starts.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  // `name`_bucket (cumulative, with le), `name`_sum (seconds) and `name`_count.
  void histogram(std::string_view name, const Labels& labels, const HistogramValues& values);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view name, std::string_view suffix, const Labels& labels,
              std::string_view extra_name = {}, std::string_view extra_value = {});
  std::string out_;
};

}  // namespace workgate::metrics
