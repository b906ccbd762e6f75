#include "http/target.hpp"

#include <boost/url/parse.hpp>
#include <vector>

namespace workgate::http {
namespace {

bool is_single_dot(std::string_view s) {
  return s == "." || s == "%2e" || s == "%2E";
}

bool is_double_dot(std::string_view s) {
  if (s == "..") return true;
  if (s.size() != 4 && s.size() != 6) return false;
  std::string lower(s);
  for (char& c : lower)
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  return lower == ".%2e" || lower == "%2e." || lower == "%2e%2e";
}

bool may_have_dot_segments(std::string_view path) {
  return path.find('.') != std::string_view::npos || path.find("%2") != std::string_view::npos;
}

}  // namespace

void remove_dot_segments(std::string& path) {
  if (!may_have_dot_segments(path)) return;
  std::vector<std::string_view> out;
  std::string_view rest = std::string_view(path).substr(1);
  while (true) {
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (is_double_dot(segment)) {
      if (!out.empty()) out.pop_back();
      if (last) out.emplace_back();
    } else if (is_single_dot(segment)) {
      if (last) out.emplace_back();
    } else {
      out.push_back(segment);
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  std::string result;
  result.reserve(path.size());
  for (std::string_view segment : out) {
    result.push_back('/');
    result.append(segment);
  }
  if (result.empty()) result.push_back('/');
  path = std::move(result);
}

bool split_target(std::string_view target, std::string& path, std::string& query, bool& has_query) {
  has_query = false;
  query.clear();
  if (target == "*") {
    path.assign(1, '*');
    return true;
  }
  if (target.empty()) return false;
  if (target.front() != '/') {
    auto url = boost::urls::parse_absolute_uri(target);
    if (!url || url->encoded_host().empty()) return false;
    path.assign(url->encoded_path().data(), url->encoded_path().size());
    if (path.empty()) path.push_back('/');
    if (path.front() != '/') return false;
    has_query = url->has_query();
    if (has_query) query = url->encoded_query();
    remove_dot_segments(path);
    return true;
  }
  auto qpos = target.find('?');
  std::string_view raw_path = target.substr(0, qpos);
  if (raw_path.find('#') != std::string_view::npos) return false;
  path.assign(raw_path);
  if (qpos != std::string_view::npos) {
    has_query = true;
    std::string_view q = target.substr(qpos + 1);
    if (auto hash = q.find('#'); hash != std::string_view::npos) q = q.substr(0, hash);
    query.assign(q);
  }
  remove_dot_segments(path);
  return true;
}

}  // namespace workgate::http
