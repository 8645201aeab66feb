// main() of e2e_test: starts the shared server around all tests.

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "tests/e2e/shared_server.h"

namespace slimserve {
namespace {

std::unique_ptr<TestServer>& SharedServerSlot() {
  static auto* server = new std::unique_ptr<TestServer>();
  return *server;
}

class SharedServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start();
    // A fatal failure here skips every test.
    ASSERT_TRUE(server.ok()) << server.status();
    SharedServerSlot() = *std::move(server);
  }
  void TearDown() override { SharedServerSlot().reset(); }
};

}  // namespace

TestServer& SharedServer() { return *SharedServerSlot(); }

const v1::GetModelInfoResponse& E2eTest::model_info() {
  static const v1::GetModelInfoResponse* const info = [] {
    absl::StatusOr<v1::GetModelInfoResponse> fetched =
        SharedServer().client().GetModelInfo();
    EXPECT_TRUE(fetched.ok()) << fetched.status();
    return new v1::GetModelInfoResponse(fetched.ok() ? *fetched : v1::GetModelInfoResponse());
  }();
  return *info;
}

void E2eTest::ExpectServerStillWorks() {
  absl::StatusOr<v1::InferResponse> response =
      client().Infer(PngInferRequest(0.5));
  EXPECT_TRUE(response.ok()) << response.status();
}

}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  testing::AddGlobalTestEnvironment(new slimserve::SharedServerEnvironment);
  return RUN_ALL_TESTS();
}
