#ifndef SLIMSERVE_SERVER_JSON_H_
#define SLIMSERVE_SERVER_JSON_H_

// A small JSON reader and writer for KServe v2's REST protocol
// (server/kserve_rest.h), whose messages protobuf's JSON mapping does not
// describe (parameters are plain values, tensors are "data" arrays).
//
// Built for request bodies from anyone: nesting is bounded, and arrays of
// numbers (a tensor's "data", flat or nested to any shape) are kept as one
// flat float array, 4 bytes a number, not a tree of values. So an array
// mixes no numbers with other values (no message of the protocol does);
// such an array is a parse error. null in an array that has no other
// values yet is NaN (the writer prints non-finite numbers as null). Numbers
// outside arrays stay doubles.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slimserve {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;
  static Json Bool(bool value);
  static Json Number(double value);
  static Json String(std::string value);
  static Json Object();
  // An array of numbers, flat (the writer prints them flat).
  static Json Numbers(std::vector<float> values);
  static Json Array(std::vector<Json> items);

  Type type() const { return type_; }
  bool is_numbers() const { return type_ == Type::kArray && numeric_; }

  bool bool_value() const { return bool_; }
  double number() const { return number_; }
  const std::string& string() const { return text_; }
  // Arrays: numbers (flattened) when is_numbers(), else items. [] is an
  // empty array of numbers.
  const std::vector<float>& numbers() const { return numbers_; }
  const std::vector<Json>& items() const { return items_; }
  // Objects, in the order written; a key may repeat (Find: the first).
  const std::vector<std::pair<std::string, Json>>& members() const {
    return members_;
  }
  const Json* Find(absl::string_view key) const;
  // Objects only.
  Json& Add(std::string key, Json value);

  // Compact JSON. Non-finite numbers (JSON has none) are written as null.
  std::string Write() const;
  void WriteTo(std::string* out) const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool numeric_ = false;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;
  std::vector<float> numbers_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

// INVALID_ARGUMENT "body: not JSON: <what> at byte N" for anything that is
// not one JSON value (RFC 8259, strings in UTF-8; surrounding whitespace
// allowed), nested deeper than max_depth, or an array mixing numbers and
// other values; INVALID_ARGUMENT "body: more JSON values ... than the limit
// at byte N" past max_values values kept apart from the numbers of number
// arrays (members, array items), which bounds the tree (some 150 bytes a
// value, a number in an array 4) whatever the body's size.
absl::StatusOr<Json> ParseJson(absl::string_view text, int max_depth = 32,
                               int64_t max_values = 1 << 16);

// `text` as a JSON string literal, quotes included (UTF-8 passed through,
// each byte that is not part of a valid UTF-8 sequence written as \ufffd;
// control characters, quote and backslash escaped).
void AppendJsonString(absl::string_view text, std::string* out);

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_JSON_H_
