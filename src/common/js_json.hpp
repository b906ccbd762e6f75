// JSON text as JavaScript writes it: JSON.stringify of what JSON.parse made of a document, for the bodies
// the original gateway built with JSON.stringify (static responses, the envelope of a worker's result).
//
// boost::json::serialize differs from JavaScript in two ways that a client can see: numbers (1.5 is
// "1.5E0", 1e400 is "Infinity", which is not JSON) and key order (JavaScript lists integer-like keys first,
// ascending). One difference from JavaScript is kept on purpose: integers are written with all their
// digits, where JavaScript rounds those past 2^53 to the nearest double (an ID would change; see
// docs/compatibility.md).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace workgate {

// Number::prototype.toString() of `d`: "1.5", "100", "1e+21", "1e-7", "0" for -0; "NaN", "Infinity",
// "-Infinity" for the non-finite values (JSON.stringify writes those as null: append_js_json does).
void append_js_number(std::string& out, double d);

// A double as a JSON value: as above when finite, else null (as JSON.stringify writes NaN and Infinity).
void append_js_json_number(std::string& out, double d);

// Whether `text` holds a character JSON.stringify escapes (below).
bool js_needs_escaping(std::string_view text);

// JSON.stringify of a string (valid UTF-8): '"', '\' and the C0 controls escaped (\b \t \n \f \r, else
// \u00xx), everything else as it is.
void append_js_string(std::string& out, std::string_view text);
// The same without the quotes (a string written in pieces).
void append_js_escaped(std::string& out, std::string_view text);

// A canonical array index ("0", "17"; not "01", "-1", "4294967295"): JavaScript lists these keys first.
bool js_array_index(std::string_view key, std::uint32_t& index);

// JSON.stringify(JSON.parse(text)) where `value` is boost::json's parse of text: keys in JavaScript's
// order (array indexes ascending, then the others in insertion order; boost::json keeps the last of
// duplicate keys at the first one's place, as JavaScript does), doubles as above (the non-finite ones as
// null), integers with all their digits, no whitespace.
void append_js_json(std::string& out, const boost::json::value& value);
// The object without the members whose key `omit` returns true for (when given).
void append_js_json(std::string& out, const boost::json::object& object,
                    bool (*omit)(std::string_view key) = nullptr);

// append_js_json into a new string.
std::string js_json(const boost::json::value& value);

}  // namespace workgate
