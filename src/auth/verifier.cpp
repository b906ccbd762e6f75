#include "auth/verifier.hpp"

#include <atomic>

namespace workgate::auth {
namespace {

bool is_space_or_tab(char c) {
  return c == ' ' || c == '\t';
}

bool is_token68_character(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/';
}

bool is_token68(std::string_view text) {
  std::size_t end = 0;
  while (end < text.size() && is_token68_character(text[end])) {
    ++end;
  }
  if (end == 0) return false;
  while (end < text.size() && text[end] == '=') {
    ++end;
  }
  return end == text.size();
}

bool equals_ignoring_ascii_case(std::string_view text, std::string_view lowercase) {
  if (text.size() != lowercase.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = (text[i] >= 'A' && text[i] <= 'Z') ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    if (c != lowercase[i]) return false;
  }
  return true;
}

std::uint64_t next_verifier_identity() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::string_view trim_spaces_and_tabs(std::string_view text) {
  while (!text.empty() && is_space_or_tab(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space_or_tab(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

Verifier::Verifier() : identity_(next_verifier_identity()) {}

std::optional<std::string_view> extract_bearer(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  authorization = trim_spaces_and_tabs(authorization);
  if (authorization.size() <= kScheme.size() ||
      !equals_ignoring_ascii_case(authorization.substr(0, kScheme.size()), kScheme) ||
      !is_space_or_tab(authorization[kScheme.size()])) {
    return std::nullopt;
  }
  const std::string_view token = trim_spaces_and_tabs(authorization.substr(kScheme.size()));
  if (!is_token68(token)) return std::nullopt;
  return token;
}

AuthFailure missing_token_failure() {
  return {401, "No token provided or token format is invalid.", "AUTH_ERROR"};
}

}  // namespace workgate::auth
