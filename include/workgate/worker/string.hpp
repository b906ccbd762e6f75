// workgate worker SDK: wg_str <-> std::string_view, and the ASCII case-insensitive comparison header
// names use. Part of <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_STRING_HPP
#define WORKGATE_WORKER_STRING_HPP

#include <workgate/worker.h>

#include <cstddef>
#include <string_view>

namespace workgate {

inline std::string_view to_view(wg_str s) {
  return s.data == nullptr ? std::string_view() : std::string_view(s.data, s.size);
}
inline wg_str to_wg(std::string_view s) {
  return wg_str{s.data(), s.size()};
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

}  // namespace workgate

#endif  // WORKGATE_WORKER_STRING_HPP
