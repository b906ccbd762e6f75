#include "http/target.hpp"

#include <boost/url/parse.hpp>
#include <cstring>

#include "http/headers.hpp"

namespace workgate::http {
namespace {

bool is_single_dot(std::string_view s) {
  return s == "." || iequals(s, "%2e");
}

bool is_double_dot(std::string_view s) {
  return s == ".." || iequals(s, ".%2e") || iequals(s, "%2e.") || iequals(s, "%2e%2e");
}

bool may_have_dot_segments(std::string_view path) {
  return path.find('.') != std::string_view::npos || path.find("%2") != std::string_view::npos;
}

}  // namespace

// RFC 3986 5.2.4 on an absolute path, in place and without allocating: most paths with a dot hold a file
// name or a version ("/v1.2/x.json"), no dot segment. The output never outgrows what has been read (a
// segment is written where it was, or earlier), so one buffer serves both.
void remove_dot_segments(std::string& path) {
  if (!may_have_dot_segments(path)) return;
  std::size_t out = 0;   // path[0, out) is the output: "/segment" pieces
  std::size_t from = 1;  // the next segment to read starts here (path[0] is the leading '/')
  while (true) {
    std::size_t slash = path.find('/', from);
    bool last = slash == std::string::npos;
    std::size_t end = last ? path.size() : slash;
    std::string_view segment(path.data() + from, end - from);
    if (is_double_dot(segment)) {
      if (out > 0) out = path.rfind('/', out - 1);  // drop the last output segment (the root stays)
      if (last) path[out++] = '/';
    } else if (is_single_dot(segment)) {
      if (last) path[out++] = '/';
    } else {
      path[out] = '/';
      std::memmove(path.data() + out + 1, segment.data(), segment.size());
      out += 1 + segment.size();
    }
    if (last) break;
    from = slash + 1;
  }
  if (out == 0) path[out++] = '/';
  path.resize(out);
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
