// Lower-case hex for ids (trace and span ids, request ids): two digits per byte from one table lookup, not
// a lookup per nibble (these run once or twice per request).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace workgate::observability {

inline constexpr std::array<char, 512> kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> table{};
  for (std::size_t i = 0; i < 256; ++i) {
    table[2 * i] = kHex[i >> 4];
    table[2 * i + 1] = kHex[i & 0xf];
  }
  return table;
}();

// Writes 2 * size digits at p; returns the end.
inline char* write_hex(char* p, const std::uint8_t* bytes, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i, p += 2)
    std::memcpy(p, &kHexPairs[2 * std::size_t{bytes[i]}], 2);
  return p;
}

}  // namespace workgate::observability
