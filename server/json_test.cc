#include "server/json.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(JsonTest, ReadsEveryKindOfValue) {
  absl::StatusOr<Json> j = ParseJson(
      " {\"a\": true, \"b\": null, \"c\": -1.5e2, \"d\": \"x\\\"\\u00e9\\ud83d\\ude00\","
      " \"e\": [\"s\", {\"f\": false}], \"g\": {}} ");
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ(j->type(), Json::Type::kObject);
  EXPECT_TRUE(j->Find("a")->bool_value());
  EXPECT_EQ(j->Find("b")->type(), Json::Type::kNull);
  EXPECT_EQ(j->Find("c")->number(), -150);
  EXPECT_EQ(j->Find("d")->string(), "x\"\xc3\xa9\xf0\x9f\x98\x80");
  const Json& e = *j->Find("e");
  ASSERT_FALSE(e.is_numbers());
  ASSERT_EQ(e.items().size(), 2u);
  EXPECT_EQ(e.items()[0].string(), "s");
  EXPECT_FALSE(e.items()[1].Find("f")->bool_value());
  EXPECT_EQ(j->Find("g")->members().size(), 0u);
  EXPECT_EQ(j->Find("missing"), nullptr);
}

// A tensor's data, flat or nested to its shape, is one flat float array.
TEST(JsonTest, NumberArraysFlatten) {
  absl::StatusOr<Json> j = ParseJson("[[[1, 2], [3, 4]], [[5, 6], [7, 255]]]");
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_TRUE(j->is_numbers());
  EXPECT_THAT(j->numbers(), ElementsAre(1, 2, 3, 4, 5, 6, 7, 255));
  j = ParseJson("[]");
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(j->is_numbers());
  EXPECT_TRUE(j->numbers().empty());
  j = ParseJson("[1e400]");  // beyond float: infinite, refused by its reader
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(std::isinf(j->numbers()[0]));
  EXPECT_EQ(j->Write(), "[null]");  // JSON has no infinity
  j = ParseJson(j->Write());  // and reads it back as a number
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_TRUE(j->is_numbers());
  EXPECT_TRUE(std::isnan(j->numbers()[0]));
  j = ParseJson("[\"a\", null]");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->items()[1].type(), Json::Type::kNull);
}

TEST(JsonTest, RefusesWhatIsNotJsonSayingWhere) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "unexpected end at byte 0"},
      {"{\"a\": 1,}", "a member name expected at byte 8"},
      {"[1, 2", "unterminated array"},
      {"[1, \"a\"]", "array mixes numbers and other values"},
      {"[\"a\", 1]", "array mixes numbers and other values"},
      {"[[1], {}]", "array mixes numbers and other values"},
      {"\"\\x\"", "unknown escape at byte 2"},
      {"\"\\ud800\"", "unpaired surrogate"},
      {"\"a\nb\"", "control character in a string"},
      {"01", "bytes after the value at byte 1"},
      {"1.", "digits expected after '.'"},
      {"-", "not a value"},
      {"nul", "unknown literal"},
      {"{} {}", "bytes after the value"},
      {"NaN", "not a value"},
      {"\"a\xff\"", "invalid UTF-8 in a string at byte 2"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},          // overlong '/'
      {"\"\xed\xa0\x80\"", "invalid UTF-8"},      // a surrogate
      {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},  // past U+10FFFF
      {"\"\xe2\x82\"", "invalid UTF-8"},          // truncated
      {"{\"\x80\": 1}", "invalid UTF-8"},          // in a member name
  };
  for (const auto& [text, message] : cases) {
    absl::StatusOr<Json> j = ParseJson(text);
    ASSERT_FALSE(j.ok()) << text;
    EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(j.status().message(), HasSubstr("body: not JSON: "));
    EXPECT_THAT(j.status().message(), HasSubstr(message)) << text;
  }
}

// No recursion a client can make deep enough to overflow the stack.
TEST(JsonTest, NestingIsBounded) {
  std::string deep(100000, '[');
  absl::StatusOr<Json> j = ParseJson(deep);
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("nested too deep at byte 32"));
  EXPECT_TRUE(ParseJson(std::string(32, '[') + std::string(32, ']')).ok());
  EXPECT_FALSE(ParseJson(std::string(33, '[') + std::string(33, ']')).ok());
}

// "{}," is three bytes of body and a hundred of tree: the values a body
// keeps are counted, the numbers of number arrays (4 bytes each) are not.
TEST(JsonTest, ValuesAreBounded) {
  EXPECT_TRUE(ParseJson(R"({"a": 1, "b": [2], "c": "3"})", 32, 3).ok());
  absl::StatusOr<Json> j =
      ParseJson(R"({"a": 1, "b": [2], "c": "3", "d": {}})", 32, 3);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(),
              HasSubstr("body: more JSON values (objects, arrays, strings, "
                        "numbers outside number arrays) than the limit at "
                        "byte 36"));
  std::string many = "[";
  for (int i = 0; i < 70000; ++i) many += "{},";
  many += "{}]";
  EXPECT_THAT(ParseJson(many).status().message(), HasSubstr("than the limit"));
  // 300x300 RGB pixels, nested: 90,300 arrays, flattened as they are read.
  std::string pixels = "[";
  for (int y = 0; y < 300; ++y) {
    pixels += y ? ",[" : "[";
    for (int x = 0; x < 300; ++x) pixels += x ? ",[1,2,3]" : "[1,2,3]";
    pixels += "]";
  }
  pixels += "]";
  j = ParseJson(pixels);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->numbers().size(), 300u * 300u * 3u);
}

TEST(JsonTest, WritesWhatItReads) {
  Json o = Json::Object();
  o.Add("s", Json::String("a\"b\\\n\x01"));
  o.Add("n", Json::Numbers({1, 0.5f, -2, 1e-3f}));
  o.Add("i", Json::Number(1234567));
  o.Add("d", Json::Number(0.1));
  o.Add("b", Json::Bool(false));
  o.Add("nan", Json::Number(std::nan("")));
  o.Add("a", Json::Array({Json::String("x"), Json()}));
  const std::string text = o.Write();
  EXPECT_EQ(text,
            "{\"s\":\"a\\\"b\\\\\\n\\u0001\",\"n\":[1,0.5,-2,0.00100000005],"
            "\"i\":1234567,\"d\":0.10000000000000001,\"b\":false,\"nan\":null,"
            "\"a\":[\"x\",null]}");
  absl::StatusOr<Json> back = ParseJson(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Find("s")->string(), "a\"b\\\n\x01");
  EXPECT_THAT(back->Find("n")->numbers(), ElementsAre(1, 0.5f, -2, 1e-3f));
  EXPECT_EQ(back->Find("d")->number(), 0.1);
}

TEST(JsonTest, Utf8PassesAndWhatIsNotUtf8IsReplaced) {
  // Two, three and four byte sequences go through in both directions.
  const std::string text = "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"";
  absl::StatusOr<Json> j = ParseJson(text);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->Write(), text);
  // A string that did not come from the reader: each stray byte becomes
  // U+FFFD, so the answer is still JSON the reader takes.
  std::string out;
  AppendJsonString("a\xff\xc3\xa9\xe2\x82", &out);
  EXPECT_EQ(out, "\"a\\ufffd\xc3\xa9\\ufffd\\ufffd\"");
  EXPECT_TRUE(ParseJson(out).ok());
}

}  // namespace
}  // namespace slimserve
