#include "http/headers.hpp"

namespace workgate::http {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
  }
  return true;
}

void HeaderList::add(std::string_view name, std::string_view value) {
  Entry e{};
  e.name_offset = static_cast<std::uint32_t>(arena_.size());
  e.name_size = static_cast<std::uint32_t>(name.size());
  arena_.append(name);
  e.value_offset = static_cast<std::uint32_t>(arena_.size());
  e.value_size = static_cast<std::uint32_t>(value.size());
  arena_.append(value);
  e.removed = false;
  entries_.push_back(e);
}

void HeaderList::set(std::string_view name, std::string_view value) {
  // `name`/`value` may point into arena_, which add() can reallocate: copy first when they do.
  const char* begin = arena_.data();
  const char* end = begin + arena_.size();
  auto inside = [&](std::string_view s) { return !s.empty() && s.data() >= begin && s.data() < end; };
  if (inside(name) || inside(value)) {
    std::string n(name), v(value);
    remove(n);
    add(n, v);
    return;
  }
  remove(name);
  add(name, value);
}

std::size_t HeaderList::remove(std::string_view name) {
  std::size_t removed = 0;
  for (Entry& e : entries_) {
    if (!e.removed && iequals(view(e.name_offset, e.name_size), name)) {
      e.removed = true;
      ++removed;
    }
  }
  return removed;
}

std::optional<std::string_view> HeaderList::get(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (!e.removed && iequals(view(e.name_offset, e.name_size), name))
      return view(e.value_offset, e.value_size);
  }
  return std::nullopt;
}

std::size_t HeaderList::live_count_() const {
  std::size_t n = 0;
  for (const Entry& e : entries_)
    n += e.removed ? 0 : 1;
  return n;
}

}  // namespace workgate::http
