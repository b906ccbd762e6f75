#include "observability/request_id.hpp"

#include <cstring>

#include "observability/hex.hpp"

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
