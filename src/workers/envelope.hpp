// The parts the JSON envelope of a worker's object result is made of (spec §2.10, generateJsonResponse),
// and reading them from the result's text in one pass, without a DOM.
//
// A worker returns JSON text; the gateway answers {"status":...,"message":...,"data"|"error":...}. Parsing
// that text into a boost::json DOM and writing it out again cost more than the rest of a service binding
// call, so the common case is read with boost::json's SAX parser (basic_parser) straight into the output
// text. What JavaScript would reorder or merge (an integer-like key, a duplicate key) is left to the DOM
// path in results.cpp, which handles every case.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace workgate::workers {

// What a top-level member of a result object is to the envelope: statusCode, message and error are taken
// out of data.
enum class EnvelopeMember { kData, kStatusCode, kMessage, kError };
EnvelopeMember envelope_member(std::string_view key);

struct EnvelopeParts {
  // The object without statusCode, error and message, as JSON.stringify writes it (with the braces).
  std::string_view data;
  // JSON text of the message and error members (unused unless truthy) and their JavaScript truthiness.
  std::string_view message;
  bool message_truthy = false;
  std::string_view error;
  bool error_truthy = false;
  // The statusCode member: null when absent or null, else a scalar; a statusCode that is not a number
  // is kept as `true` (which is not a valid status either).
  boost::json::value status_code;
};

// Reads the envelope parts of `text` in one pass. False when the text needs the general (DOM) path: it is
// not a JSON object, some object in it has an integer-like key (JavaScript lists those first) or a
// duplicate key (the last value wins, at the first one's place) or more than kMaxScannedMembers members,
// or it is not valid JSON (the general path reports why). `parts` is unspecified after false; its texts
// are the thread's buffers, valid until the next scan_envelope on the thread.
inline constexpr std::size_t kMaxScannedMembers = 64;
bool scan_envelope(std::string_view text, EnvelopeParts& parts);

}  // namespace workgate::workers
