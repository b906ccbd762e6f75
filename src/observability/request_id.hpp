// Request ids (the X-Request-Id field): the client's when it is well-formed, else one generated here.
//
// Well-formed: 1 to 128 characters of [A-Za-z0-9._-] (what UUIDs, ULIDs, Envoy's, Heroku's and the hex ids
// of tracing systems use). Anything else (empty, longer, spaces, control characters, non-ASCII, ...) is
// replaced, so the id can go into log lines and upstream requests without escaping.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "observability/random.hpp"

namespace workgate::observability {

inline constexpr std::size_t kMaxRequestIdLength = 128;

bool valid_request_id(std::string_view id);

// Generates 128-bit random ids as 32 lowercase hex digits. One per thread (not thread-safe): xoshiro256**
// seeded from std::random_device, so ids are unique across threads and restarts without any coordination
// (not secrets: they are not meant to be unguessable).
class RequestIdGenerator {
 public:
  RequestIdGenerator();
  explicit RequestIdGenerator(std::uint64_t seed);
  void next(std::string& out);

 private:
  std::uint64_t next64() { return random_.next(); }
  Xoshiro256 random_;
};

}  // namespace workgate::observability
