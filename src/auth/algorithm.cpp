#include "auth/algorithm.hpp"

#include <array>

namespace workgate::auth {
namespace {

struct AlgorithmInfo {
  Algorithm algorithm;
  std::string_view name;
  AlgorithmFamily family;
};

// Indexed by the enum value.
constexpr std::array<AlgorithmInfo, 13> kAlgorithms{{
    {Algorithm::kHS256, "HS256", AlgorithmFamily::kHmac},
    {Algorithm::kHS384, "HS384", AlgorithmFamily::kHmac},
    {Algorithm::kHS512, "HS512", AlgorithmFamily::kHmac},
    {Algorithm::kRS256, "RS256", AlgorithmFamily::kRsaPkcs1},
    {Algorithm::kRS384, "RS384", AlgorithmFamily::kRsaPkcs1},
    {Algorithm::kRS512, "RS512", AlgorithmFamily::kRsaPkcs1},
    {Algorithm::kPS256, "PS256", AlgorithmFamily::kRsaPss},
    {Algorithm::kPS384, "PS384", AlgorithmFamily::kRsaPss},
    {Algorithm::kPS512, "PS512", AlgorithmFamily::kRsaPss},
    {Algorithm::kES256, "ES256", AlgorithmFamily::kEcdsa},
    {Algorithm::kES384, "ES384", AlgorithmFamily::kEcdsa},
    {Algorithm::kES512, "ES512", AlgorithmFamily::kEcdsa},
    {Algorithm::kEdDSA, "EdDSA", AlgorithmFamily::kEdDSA},
}};

constexpr std::array<Algorithm, kAlgorithms.size()> make_algorithm_list() {
  std::array<Algorithm, kAlgorithms.size()> list{};
  for (std::size_t i = 0; i < kAlgorithms.size(); ++i)
    list[i] = kAlgorithms[i].algorithm;
  return list;
}

constexpr std::array<Algorithm, kAlgorithms.size()> kAlgorithmList = make_algorithm_list();

constexpr bool table_is_indexed_by_enum() {
  for (std::size_t i = 0; i < kAlgorithms.size(); ++i) {
    if (static_cast<std::size_t>(kAlgorithms[i].algorithm) != i) return false;
  }
  return true;
}
static_assert(table_is_indexed_by_enum());

const AlgorithmInfo& info(Algorithm algorithm) {
  return kAlgorithms[static_cast<std::size_t>(algorithm)];
}

}  // namespace

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  for (const AlgorithmInfo& candidate : kAlgorithms) {
    if (candidate.name == name) return candidate.algorithm;
  }
  return std::nullopt;
}

std::string_view algorithm_name(Algorithm algorithm) {
  return info(algorithm).name;
}

AlgorithmFamily algorithm_family(Algorithm algorithm) {
  return info(algorithm).family;
}

std::span<const Algorithm> all_algorithms() {
  return kAlgorithmList;
}

}  // namespace workgate::auth
