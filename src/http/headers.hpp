// Header fields stored in one reusable arena string: adding a field appends its bytes; nothing is freed
// until clear(), which keeps the capacity. Lookups are case-insensitive linear scans (requests carry few
// fields, and a scan over contiguous memory beats hashing at that size).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace workgate::http {

bool iequals(std::string_view a, std::string_view b);
// `s` without leading and trailing optional whitespace (SP / HTAB, RFC 9110 §5.6.3).
std::string_view trim_ows(std::string_view s);

// Calls `visit(element)` for each element of a comma-separated field value (RFC 9110 §5.6.1), trimmed,
// empty elements skipped, until `visit` returns false. Returns whether it stopped early.
template <class Visit>
bool for_each_list_element(std::string_view list, Visit&& visit) {
  while (true) {
    auto comma = list.find(',');
    std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !visit(element)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

class HeaderList {
 public:
  struct Field {
    std::string_view name;
    std::string_view value;
  };

  void clear() {
    arena_.clear();
    entries_.clear();
  }
  // Clears the list; keeps its memory for the next use unless it grew past `keep_bytes` (a large list is
  // not held by an idle connection).
  void clear_keeping(std::size_t keep_bytes) {
    if (arena_.capacity() > keep_bytes || entries_.capacity() * sizeof(Entry) > keep_bytes) {
      std::string().swap(arena_);
      std::vector<Entry>().swap(entries_);
    } else {
      clear();
    }
  }
  // The memory the list holds (for spares that keep only small ones).
  std::size_t capacity_bytes() const { return arena_.capacity() + entries_.capacity() * sizeof(Entry); }
  void reserve(std::size_t bytes, std::size_t fields) {
    arena_.reserve(bytes);
    entries_.reserve(fields);
  }

  void add(std::string_view name, std::string_view value);
  // Replaces every field named `name` by one field with `value` (appended when absent).
  void set(std::string_view name, std::string_view value);
  // Removes every field named `name`; returns how many were removed.
  std::size_t remove(std::string_view name);

  // The first value of `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  std::size_t size() const { return live_count_(); }
  bool empty() const { return size() == 0; }

  template <typename F>
  void for_each(F&& f) const {
    for (const Entry& e : entries_) {
      if (!e.removed) f(Field{view(e.name_offset, e.name_size), view(e.value_offset, e.value_size)});
    }
  }

 private:
  struct Entry {
    std::uint32_t name_offset;
    std::uint32_t value_offset;
    std::uint32_t name_size;
    std::uint32_t value_size;
    bool removed;
  };
  std::string_view view(std::uint32_t offset, std::uint32_t size) const {
    return std::string_view(arena_.data() + offset, size);
  }
  std::size_t live_count_() const;

  std::string arena_;
  std::vector<Entry> entries_;
};

}  // namespace workgate::http
