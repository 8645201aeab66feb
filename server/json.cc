#include "server/json.h"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace slimserve {

Json Json::Bool(bool value) {
  Json j;
  j.type_ = Type::kBool;
  j.bool_ = value;
  return j;
}

Json Json::Number(double value) {
  Json j;
  j.type_ = Type::kNumber;
  j.number_ = value;
  return j;
}

Json Json::String(std::string value) {
  Json j;
  j.type_ = Type::kString;
  j.text_ = std::move(value);
  return j;
}

Json Json::Object() {
  Json j;
  j.type_ = Type::kObject;
  return j;
}

Json Json::Numbers(std::vector<float> values) {
  Json j;
  j.type_ = Type::kArray;
  j.numeric_ = true;
  j.numbers_ = std::move(values);
  return j;
}

Json Json::Array(std::vector<Json> items) {
  Json j;
  j.type_ = Type::kArray;
  j.numeric_ = items.empty();
  j.items_ = std::move(items);
  return j;
}

const Json* Json::Find(absl::string_view key) const {
  for (const auto& [name, value] : members_) {
    if (name == key) return &value;
  }
  return nullptr;
}

Json& Json::Add(std::string key, Json value) {
  members_.emplace_back(std::move(key), std::move(value));
  return members_.back().second;
}

namespace {

// The length of the valid UTF-8 sequence starting at text[pos] (RFC 3629: no
// overlong forms, surrogates or code points past U+10FFFF), 0 if none does.
size_t Utf8SequenceLength(absl::string_view text, size_t pos) {
  const auto byte = [&](size_t i) {
    return static_cast<unsigned char>(text[pos + i]);
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (lead >= 0xC2 && lead <= 0xDF) {  // C0 and C1 would be overlong
    n = 2;
    cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    cp = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    cp = lead & 0x07;
  } else {
    return 0;
  }
  if (pos + n > text.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
    return 0;
  }
  return n;
}

}  // namespace

void AppendJsonString(absl::string_view text, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Bytes that are not UTF-8 (a URL's %FF, a name from a client that
      // bypassed the reader) become U+FFFD: the answer stays valid JSON.
      const size_t n = Utf8SequenceLength(text, i);
      if (n == 0) {
        out->append("\\ufffd");
      } else {
        out->append(text.data() + i, n);
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
          out->append(buffer);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

namespace {

// Integers as integers (shapes, sizes: below 2^digits, where T is exact);
// the rest with the digits that read back as the same T.
template <typename T>
void AppendNumber(T value, std::string* out) {
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  constexpr T kExact = T{1} * (int64_t{1} << std::numeric_limits<T>::digits);
  if (value == std::floor(value) && std::fabs(value) < kExact) {
    absl::StrAppend(out, static_cast<int64_t>(value));
    return;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.*g",
                std::numeric_limits<T>::max_digits10, static_cast<double>(value));
  out->append(buffer);
}

}  // namespace

void Json::WriteTo(std::string* out) const {
  switch (type_) {
    case Type::kNull:
      out->append("null");
      return;
    case Type::kBool:
      out->append(bool_ ? "true" : "false");
      return;
    case Type::kNumber:
      AppendNumber(number_, out);
      return;
    case Type::kString:
      AppendJsonString(text_, out);
      return;
    case Type::kArray:
      out->push_back('[');
      if (numeric_) {
        for (size_t i = 0; i < numbers_.size(); ++i) {
          if (i > 0) out->push_back(',');
          AppendNumber(numbers_[i], out);
        }
      } else {
        for (size_t i = 0; i < items_.size(); ++i) {
          if (i > 0) out->push_back(',');
          items_[i].WriteTo(out);
        }
      }
      out->push_back(']');
      return;
    case Type::kObject:
      out->push_back('{');
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendJsonString(members_[i].first, out);
        out->push_back(':');
        members_[i].second.WriteTo(out);
      }
      out->push_back('}');
      return;
  }
}

std::string Json::Write() const {
  std::string out;
  WriteTo(&out);
  return out;
}

// Recursive descent over the bytes; depth bounded by max_depth, the values
// kept (all but the numbers of number arrays) by max_values.
class JsonParser {
 public:
  JsonParser(absl::string_view text, int max_depth, int64_t max_values)
      : text_(text), max_depth_(max_depth), values_left_(max_values) {}

  absl::StatusOr<Json> Parse() {
    Json value;
    if (!ParseValue(0, &value)) return Error();
    SkipSpace();
    if (pos_ != text_.size()) {
      Fail("bytes after the value");
      return Error();
    }
    return value;
  }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(absl::StrCat(
        "body: ", over_limit_ ? "" : "not JSON: ", what_, " at byte ", where_));
  }
  // A kept value is some 150 bytes however few the text took ("{}," is
  // three), so their number is bounded, not only the body's size.
  bool Keep() {
    if (--values_left_ >= 0) return true;
    over_limit_ = true;
    return Fail("more JSON values (objects, arrays, strings, numbers outside "
                "number arrays) than the limit");
  }
  bool Fail(const char* what) {
    what_ = what;
    where_ = pos_;
    return false;
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return Fail("unknown literal");
    pos_ += word.size();
    return true;
  }

  bool ParseValue(int depth, Json* out) {
    SkipSpace();
    if (pos_ >= text_.size()) return Fail("unexpected end");
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= max_depth_) return Fail("nested too deep");
      return c == '{' ? ParseObject(depth + 1, out) : ParseArray(depth + 1, out);
    }
    if (c == '"') {
      out->type_ = Json::Type::kString;
      return ParseString(&out->text_);
    }
    if (c == 't' || c == 'f') {
      out->type_ = Json::Type::kBool;
      out->bool_ = c == 't';
      return Literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') {
      out->type_ = Json::Type::kNull;
      return Literal("null");
    }
    out->type_ = Json::Type::kNumber;
    return ParseNumber(&out->number_);
  }

  bool ParseNumber(double* out) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        ++pos_;
      }
      return pos_ > from;
    };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return Fail("not a value");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return Fail("digits expected after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (!digits()) return Fail("digits expected in the exponent");
    }
    // Overflow gives +-inf, which the protocol's checks refuse by name.
    if (!absl::SimpleAtod(text_.substr(start, pos_ - start), out)) {
      *out = text_[start] == '-' ? -HUGE_VAL : HUGE_VAL;
    }
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return Fail("\\u needs four hex digits");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        v |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        v |= h - 'A' + 10;
      } else {
        return Fail("\\u needs four hex digits");
      }
    }
    *out = v;
    return true;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // the opening quote
    while (true) {
      if (pos_ >= text_.size()) return Fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return Fail("control character in a string");
      }
      if (static_cast<unsigned char>(c) >= 0x80) {
        // RFC 8259 section 8.1: JSON text is UTF-8. Refused here rather than
        // passed on, so an id or a name never comes back as invalid JSON.
        const size_t n = Utf8SequenceLength(text_, pos_);
        if (n == 0) return Fail("invalid UTF-8 in a string");
        out->append(text_.data() + pos_, n);
        pos_ += n;
        continue;
      }
      if (c != '\\') {
        out->push_back(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= text_.size()) return Fail("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
            uint32_t low;
            if (text_.substr(pos_, 2) != "\\u") {
              return Fail("unpaired surrogate");
            }
            pos_ += 2;
            if (!Hex4(&low)) return false;
            if (low < 0xDC00 || low >= 0xE000) {
              return Fail("unpaired surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return Fail("unpaired surrogate");
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          --pos_;
          return Fail("unknown escape");
      }
    }
  }

  bool ParseArray(int depth, Json* out) {
    ++pos_;  // '['
    out->type_ = Json::Type::kArray;
    out->numeric_ = true;  // until an item says otherwise
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size()) return Fail("unterminated array");
      const char c = text_[pos_];
      const bool number = c == '-' || (c >= '0' && c <= '9');
      // null among numbers is NaN: what the writer prints for non-finite
      // numbers, read back as one.
      if (c == 'n' && out->items_.empty()) {
        if (!Literal("null")) return false;
        out->numbers_.push_back(std::nanf(""));
      } else if (number) {
        if (!out->items_.empty()) return Fail("array mixes numbers and other values");
        double value;
        if (!ParseNumber(&value)) return false;
        // Clamped first: a double beyond float's range converts to no float.
        out->numbers_.push_back(
            value > FLT_MAX    ? HUGE_VALF
            : value < -FLT_MAX ? -HUGE_VALF
                               : static_cast<float>(value));
      } else {
        Json item;
        if (!ParseValue(depth, &item)) return false;
        if (item.is_numbers()) {
          // Nested numbers flatten into this array.
          if (!out->items_.empty()) {
            return Fail("array mixes numbers and other values");
          }
          out->numbers_.insert(out->numbers_.end(), item.numbers_.begin(),
                               item.numbers_.end());
        } else {
          if (!out->numbers_.empty()) {
            return Fail("array mixes numbers and other values");
          }
          out->numeric_ = false;
          if (!Keep()) return false;
          out->items_.push_back(std::move(item));
        }
      }
      SkipSpace();
      if (pos_ >= text_.size()) return Fail("unterminated array");
      if (text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      if (text_[pos_] != ',') return Fail("',' or ']' expected");
      ++pos_;
    }
  }

  bool ParseObject(int depth, Json* out) {
    ++pos_;  // '{'
    out->type_ = Json::Type::kObject;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Fail("a member name expected");
      }
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') {
        return Fail("':' expected");
      }
      ++pos_;
      Json value;
      if (!ParseValue(depth, &value)) return false;
      if (!Keep()) return false;
      out->members_.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (pos_ >= text_.size()) return Fail("unterminated object");
      if (text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      if (text_[pos_] != ',') return Fail("',' or '}' expected");
      ++pos_;
    }
  }

  const absl::string_view text_;
  const int max_depth_;
  int64_t values_left_;
  bool over_limit_ = false;
  size_t pos_ = 0;
  const char* what_ = "";
  size_t where_ = 0;
};

absl::StatusOr<Json> ParseJson(absl::string_view text, int max_depth,
                               int64_t max_values) {
  return JsonParser(text, max_depth, max_values).Parse();
}

}  // namespace slimserve
