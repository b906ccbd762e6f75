#include "auth/base64url.hpp"

#include <array>
#include <cstdint>

namespace workgate::auth {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> table{};
  table.fill(kInvalid);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = i;
  }
  return table;
}

constexpr std::array<std::uint8_t, 256> kDecodeTable = make_decode_table();

std::uint8_t sextet(char c) {
  return kDecodeTable[static_cast<unsigned char>(c)];
}

}  // namespace

std::optional<std::string> base64url_decode(std::string_view encoded) {
  const std::size_t remainder = encoded.size() % 4;
  if (remainder == 1) return std::nullopt;
  std::string bytes(encoded.size() / 4 * 3 + (remainder == 0 ? 0 : remainder - 1), '\0');
  std::size_t in = 0;
  std::size_t out = 0;
  for (; in + 4 <= encoded.size(); in += 4) {
    const std::uint8_t a = sextet(encoded[in]), b = sextet(encoded[in + 1]), c = sextet(encoded[in + 2]),
                       d = sextet(encoded[in + 3]);
    if ((a | b | c | d) > 63) return std::nullopt;  // kInvalid has bits above the six of a sextet
    const std::uint32_t group = (a << 18) | (b << 12) | (c << 6) | d;
    bytes[out++] = static_cast<char>(group >> 16);
    bytes[out++] = static_cast<char>(group >> 8);
    bytes[out++] = static_cast<char>(group);
  }
  if (remainder == 2) {
    const std::uint8_t a = sextet(encoded[in]), b = sextet(encoded[in + 1]);
    if ((a | b) > 63 || (b & 0x0F) != 0) return std::nullopt;
    bytes[out] = static_cast<char>((a << 2) | (b >> 4));
  } else if (remainder == 3) {
    const std::uint8_t a = sextet(encoded[in]), b = sextet(encoded[in + 1]), c = sextet(encoded[in + 2]);
    if ((a | b | c) > 63 || (c & 0x03) != 0) return std::nullopt;
    bytes[out++] = static_cast<char>((a << 2) | (b >> 4));
    bytes[out] = static_cast<char>(((b & 0x0F) << 4) | (c >> 2));
  }
  return bytes;
}

std::string base64url_encode(std::string_view bytes) {
  std::string encoded;
  encoded.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    encoded += kAlphabet[group >> 18];
    encoded += kAlphabet[(group >> 12) & 63];
    encoded += kAlphabet[(group >> 6) & 63];
    encoded += kAlphabet[group & 63];
  }
  if (bytes.size() - i == 1) {
    encoded += kAlphabet[byte(i) >> 2];
    encoded += kAlphabet[(byte(i) & 0x03) << 4];
  } else if (bytes.size() - i == 2) {
    const std::uint32_t group = (byte(i) << 8) | byte(i + 1);
    encoded += kAlphabet[group >> 10];
    encoded += kAlphabet[(group >> 4) & 63];
    encoded += kAlphabet[(group & 0x0F) << 2];
  }
  return encoded;
}

bool is_base64url_alphabet(std::string_view text) {
  for (char c : text) {
    if (sextet(c) == kInvalid) return false;
  }
  return true;
}

}  // namespace workgate::auth
