// A fast non-cryptographic generator for identifiers (request ids, trace and span ids): xoshiro256**
// seeded from std::random_device through splitmix64. One per thread; never for secrets.
#pragma once

#include <cstdint>

namespace workgate::observability {

class Xoshiro256 {
 public:
  Xoshiro256();  // seeded from std::random_device
  explicit Xoshiro256(std::uint64_t seed);
  std::uint64_t next();

 private:
  std::uint64_t s_[4];
};

}  // namespace workgate::observability
