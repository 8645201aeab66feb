#include "base/files.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(ReadFileBytesTest, ReadsEveryByte) {
  std::string bytes(200000, 'a');  // more than one chunk
  bytes[7] = '\0';
  bytes.back() = 'z';
  absl::StatusOr<std::string> read = ReadFileBytes(WriteTemp("big", bytes));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);
  read = ReadFileBytes(WriteTemp("empty", ""));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

TEST(ReadFileBytesTest, MissingFileIsNotFoundNamingIt) {
  const absl::StatusOr<std::string> read = ReadFileBytes("/no/such/file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("/no/such/file"), std::string::npos);
}

TEST(ReadFileBytesTest, RefusesMoreThanTheLimit) {
  const std::string path = WriteTemp("ten", "0123456789");
  EXPECT_TRUE(ReadFileBytes(path, 10).ok());
  EXPECT_EQ(ReadFileBytes(path, 9).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A file without end, cut at the limit.
  EXPECT_EQ(ReadFileBytes("/dev/zero", 1 << 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ReadFlagFileTest, ReadsTheNamedFileOrNothing) {
  std::string out = "kept";
  EXPECT_TRUE(ReadFlagFile("tls_ca_file", "", 10, &out).ok());
  EXPECT_EQ(out, "kept");
  EXPECT_TRUE(ReadFlagFile("tls_ca_file", WriteTemp("pem", "PEM"), 10, &out)
                  .ok());
  EXPECT_EQ(out, "PEM");
}

TEST(ReadFlagFileTest, ErrorsNameTheFlag) {
  std::string out = "kept";
  absl::Status st = ReadFlagFile("tls_key_file", "/no/such.key", 10, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("--tls_key_file: /no/such.key: ", 0), 0u)
      << st;
  st = ReadFlagFile("image", WriteTemp("eleven", "01234567890"), 10, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("larger than 10 bytes"), std::string::npos);
  EXPECT_EQ(out, "kept");
}

}  // namespace
}  // namespace slimserve
