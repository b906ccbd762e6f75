#include "observability/request_id.hpp"

#include <array>
#include <cstring>

namespace workgate::observability {

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

RequestIdGenerator::RequestIdGenerator() = default;

RequestIdGenerator::RequestIdGenerator(std::uint64_t seed) : random_(seed) {}

namespace {
// Two hex digits per byte value: a byte per lookup instead of a nibble (this runs once per request).
constexpr std::array<char, 512> kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> table{};
  for (std::size_t i = 0; i < 256; ++i) {
    table[2 * i] = kHex[i >> 4];
    table[2 * i + 1] = kHex[i & 0xf];
  }
  return table;
}();
}  // namespace

void RequestIdGenerator::next(std::string& out) {
  out.resize(32);  // keeps the capacity of the exchange's reused string
  char* p = out.data();
  for (int half = 0; half < 2; ++half, p += 16) {
    std::uint64_t v = next64();
    for (int i = 7; i >= 0; --i, v >>= 8)
      std::memcpy(p + 2 * i, &kHexPairs[2 * (v & 0xff)], 2);
  }
}

}  // namespace workgate::observability
