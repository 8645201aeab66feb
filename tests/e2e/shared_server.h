#ifndef SLIMSERVE_TESTS_E2E_SHARED_SERVER_H_
#define SLIMSERVE_TESTS_E2E_SHARED_SERVER_H_

#include "gtest/gtest.h"
#include "slimserve/v1/slimserve.pb.h"
#include "tests/e2e/test_util.h"

namespace slimserve {

// The server every test of e2e_test shares, started once before the first
// test (by e2e_main.cc) and stopped after the last.
TestServer& SharedServer();

// Tests against the shared server.
class E2eTest : public ::testing::Test {
 protected:
  SlimClient& client() { return SharedServer().client(); }

  // The served model's info, fetched once.
  const v1::GetModelInfoResponse& model_info();

  // Asserts that a valid call still succeeds (after a rejected one).
  void ExpectServerStillWorks();
};

}  // namespace slimserve

#endif  // SLIMSERVE_TESTS_E2E_SHARED_SERVER_H_
