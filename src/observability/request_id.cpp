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

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
std::uint64_t random_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}
std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

RequestIdGenerator::RequestIdGenerator() : RequestIdGenerator(random_seed()) {}

RequestIdGenerator::RequestIdGenerator(std::uint64_t seed) {
  for (auto& s : s_)
    s = splitmix64(seed);
}

std::uint64_t RequestIdGenerator::next64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

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
