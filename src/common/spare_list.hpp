// A bounded stack of objects kept for reuse (their memory, mostly), for one thread.
//
// What the request path frees and takes again right after (a connection's per-request state, an exchange,
// an upstream call's buffers) is kept here instead of going back to malloc; at most `Max`, so a burst does
// not stay resident. The most recently kept object is taken first (its memory is the warmest).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace workgate {

template <class T, std::size_t Max>
class SpareList {
 public:
  // The most recently kept object, or a default-constructed one when none is left.
  T take() {
    if (items_.empty()) return T();
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }
  // Room for one more: check before preparing an object for keeping.
  bool full() const { return items_.size() >= Max; }
  // Keeps `item` (moved from) unless the list is full (then `item` is left as it was).
  void keep(T& item) {
    if (!full()) items_.push_back(std::move(item));
  }
  std::size_t size() const { return items_.size(); }

 private:
  std::vector<T> items_;
};

}  // namespace workgate
