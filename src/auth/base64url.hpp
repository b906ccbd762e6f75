// base64url without padding (RFC 4648 §5 as profiled by RFC 7515 §2), the encoding of every JOSE part.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace workgate::auth {

// Decodes unpadded base64url into bytes. Refuses '=' padding, characters outside the alphabet, a length
// of 4n+1, and non-zero bits after the last whole byte, so every byte string has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view encoded);

std::string base64url_encode(std::string_view bytes);

// Whether every character is in the base64url alphabet (says nothing about the length).
bool is_base64url_alphabet(std::string_view text);

}  // namespace workgate::auth
