// Splitting a request-target into the path the router matches and the raw query.
#pragma once

#include <string>
#include <string_view>

namespace workgate::http {

// Accepts origin-form ("/p?q"), absolute-form ("http://host/p?q") and "*". The path keeps its
// percent-encoding and case; "." and ".." segments (also spelled %2e) are resolved as a WHATWG URL parser
// does. Returns false for a target that is none of these forms.
bool split_target(std::string_view target, std::string& path, std::string& query, bool& has_query);

// Resolves "." and ".." segments of an absolute path in place.
void remove_dot_segments(std::string& path);

}  // namespace workgate::http
