// The HTTP JSON API (server/http.h) over real sockets, on the fake runner:
// concurrent requests, the connection limit, and a shutdown while a
// request is held in the engine (it is answered, then the server is gone).
// Under tools/sanitize.sh --tsan, the acceptor, the connection threads and
// Shutdown() are checked against each other.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http.h"
#include "server/metrics.h"
#include "tests/e2e/test_util.h"

namespace slimserve {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A connection to 127.0.0.1:`port`; -1 if it fails.
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    const ssize_t n =
        ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
}

// Reads until `until` has arrived (empty: until the server closes).
std::string Receive(int fd, const std::string& until = "") {
  std::string answer;
  char buffer[65536];
  while (until.empty() || answer.find(until) == std::string::npos) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  return answer;
}

// Sends `request` on a new connection to 127.0.0.1:`port`, half-closes and
// returns everything the server answered.
std::string Exchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return "connect failed";
  SendAll(fd, request);
  ::shutdown(fd, SHUT_WR);
  std::string answer = Receive(fd);
  ::close(fd);
  return answer;
}

// Reads one response (its head, then Content-Length bytes of body) from
// `fd`, starting with what `buffer` holds and leaving there what follows.
// Empty if the connection closes first.
std::string ReadResponse(int fd, std::string* buffer) {
  char chunk[65536];
  const auto fill = [&] {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  };
  size_t head_end;
  while ((head_end = buffer->find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return "";
  }
  const std::string head = buffer->substr(0, head_end + 4);
  const size_t at = head.find("Content-Length: ");
  if (at == std::string::npos) return "";
  const size_t length = std::stoul(head.substr(at + 16));
  while (buffer->size() < head.size() + length) {
    if (!fill()) return "";
  }
  std::string response = buffer->substr(0, head.size() + length);
  buffer->erase(0, response.size());
  return response;
}

std::string Post(const std::string& path, const std::string& body) {
  return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                      body.size(), "\r\n\r\n", body);
}

std::string InferJson(double fraction) {
  return absl::StrCat(R"({"image": {"encoded": ")",
                      absl::Base64Escape(TestPng()),
                      R"("}, "budget": {"fraction": )", fraction,
                      R"(}, "task_weights": {"depth": 1}})");
}

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> test =
        TestServer::StartWithFakeRunner();
    ASSERT_TRUE(test.ok()) << test.status();
    test_ = *std::move(test);
    Metrics::Options metrics_options;
    metrics_options.grpc_version = "test";
    absl::StatusOr<std::shared_ptr<Metrics>> metrics =
        Metrics::Create(metrics_options);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_ = *std::move(metrics);
    StartHttp(Options());
  }

  static HttpServer::Options Options() {
    HttpServer::Options options;
    options.address = "127.0.0.1:0";
    options.max_connections = 3;
    return options;
  }

  // (Re)starts the HTTP server on the same engine.
  void StartHttp(const HttpServer::Options& options) {
    http_.reset();
    absl::StatusOr<std::unique_ptr<HttpServer>> http =
        HttpServer::Start(options, &test_->engine(), metrics_.get());
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
  }

  std::unique_ptr<TestServer> test_;
  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<HttpServer> http_;
};

TEST_F(HttpTest, ConcurrentInferencesAreAllAnswered) {
  std::vector<std::string> answers(3);
  std::vector<std::thread> clients;
  for (std::string& answer : answers) {
    clients.emplace_back([&] {
      answer = Exchange(http_->port(), Post("/api/infer", InferJson(0.5)));
    });
  }
  for (std::thread& t : clients) t.join();
  for (const std::string& answer : answers) {
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(answer, HasSubstr(R"("task":"depth")"));
  }
  EXPECT_THAT(MetricSample(*metrics_, R"(slimserve_requests_total{code="OK",rpc="HttpInfer"})"),
              ::testing::Optional(3.0));
}

TEST_F(HttpTest, ConnectionsOverTheLimitGet503) {
  // Three requests held in the engine fill the limit; a fourth connection
  // is refused at once.
  FakeModelRunner& runner = *test_->fake_runner();
  runner.HoldRuns();
  std::vector<std::string> held(3);
  std::vector<std::thread> clients;
  for (std::string& answer : held) {
    clients.emplace_back([&] {
      answer = Exchange(http_->port(), Post("/api/infer", InferJson(1.0)));
    });
  }
  test_->engine().AwaitInFlight(3);
  EXPECT_THAT(Exchange(http_->port(), "GET / HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  runner.ReleaseRuns();
  for (std::thread& t : clients) t.join();
  for (const std::string& answer : held) {
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  }
}

TEST_F(HttpTest, ShutdownWaitsForTheRequestInTheEngine) {
  FakeModelRunner& runner = *test_->fake_runner();
  runner.HoldRuns();
  std::string answer;
  std::thread client([&] {
    answer = Exchange(http_->port(), Post("/api/infer", InferJson(1.0)));
  });
  runner.BlockUntilRunsStarted(1);
  std::thread shutdown([&] { http_->Shutdown(); });
  runner.ReleaseRuns();
  shutdown.join();
  client.join();
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  // Gone: nothing listens any more.
  EXPECT_EQ(Exchange(http_->port(), "GET / HTTP/1.1\r\n\r\n"),
            "connect failed");
  http_.reset();
}

TEST_F(HttpTest, HostileRequestsGetTheirStatus) {
  const int port = http_->port();
  EXPECT_THAT(Exchange(port, "nonsense\r\n\r\n"),
              StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(Exchange(port, "GET / HTTP/1.1\r\nX: " +
                                 std::string(20000, 'a') + "\r\n\r\n"),
              StartsWith("HTTP/1.1 431 "));
  EXPECT_THAT(Exchange(port, "POST /api/plan HTTP/1.1\r\nContent-Length: "
                             "99999999999999\r\n\r\n"),
              StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(Exchange(port, Post("/api/plan", std::string(5000, '{'))),
              HasSubstr("not JSON of slimserve.v1.PlanRequest"));
  // An echoed field over its limit is refused, not echoed.
  const std::string long_id = Exchange(
      port, Post("/api/plan", R"({"request_id": ")" + std::string(1000, 'i') +
                                  R"(", "budget": {"fraction": 0.5}})"));
  EXPECT_THAT(long_id, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(long_id, HasSubstr("request_id: 1000 bytes"));
  EXPECT_LT(long_id.size(), 1000u);
  EXPECT_THAT(Exchange(port, "GET /api/infer HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(Exchange(port, "GET /%00%ff HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 "));
  const std::string page = Exchange(port, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_THAT(page, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(page, HasSubstr("text/html"));
  EXPECT_THAT(page, HasSubstr("slimserve: what a budget buys"));
}

// curl sends "Expect: 100-continue" before a body over 1 KiB and waits a
// second for the go-ahead: it comes before the body is sent.
TEST_F(HttpTest, ExpectContinueIsAnsweredBeforeTheBody) {
  const int fd = Connect(http_->port());
  ASSERT_GE(fd, 0);
  const std::string body = InferJson(0.5);
  SendAll(fd, absl::StrCat("POST /api/infer HTTP/1.1\r\nExpect: 100-continue"
                           "\r\nConnection: close\r\nContent-Length: ",
                           body.size(), "\r\n\r\n"));
  EXPECT_EQ(Receive(fd, "\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  SendAll(fd, body);
  EXPECT_THAT(Receive(fd), StartsWith("HTTP/1.1 200 OK\r\n"));
  ::close(fd);
}

// A client's next requests, one after the other and pipelined, are served
// on the same connection until it says "Connection: close".
TEST_F(HttpTest, ConnectionsAreKeptForTheNextRequest) {
  const int fd = Connect(http_->port());
  ASSERT_GE(fd, 0);
  std::string buffer;
  SendAll(fd, "GET /v2/health/live HTTP/1.1\r\n\r\n");
  const std::string first = ReadResponse(fd, &buffer);
  EXPECT_THAT(first, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(first, HasSubstr("\r\nConnection: keep-alive\r\n"
                               "Keep-Alive: timeout=5\r\n"));
  SendAll(fd, Post("/api/infer", InferJson(0.5)));
  EXPECT_THAT(ReadResponse(fd, &buffer), HasSubstr(R"("task":"depth")"));
  // Two requests in one write: two answers, in order.
  SendAll(fd, "GET /v2/health/live HTTP/1.1\r\n\r\n" +
                  Post("/api/plan", R"({"budget": {"fraction": 0.5}})"));
  EXPECT_THAT(ReadResponse(fd, &buffer), HasSubstr("{\"live\":true}"));
  EXPECT_THAT(ReadResponse(fd, &buffer), HasSubstr("\"plan\""));
  // A mistake in a complete request keeps the connection too.
  SendAll(fd, Post("/api/plan", "{"));
  EXPECT_THAT(ReadResponse(fd, &buffer), StartsWith("HTTP/1.1 400 "));
  SendAll(fd, "GET /v2/health/live HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd, &buffer),
              HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_EQ(Receive(fd), "");  // then it closes
  EXPECT_EQ(buffer, "");
  ::close(fd);
  EXPECT_THAT(
      MetricSample(*metrics_,
                   R"(slimserve_requests_total{code="OK",rpc="HttpInfer"})"),
      ::testing::Optional(1.0));
}

// HTTP/1.0 closes unless asked to keep; a connection closes after its
// max_requests_per_connection-th answer.
TEST_F(HttpTest, Http10AndTheRequestLimitClose) {
  HttpServer::Options options = Options();
  options.max_requests_per_connection = 2;
  StartHttp(options);
  std::string buffer;
  int fd = Connect(http_->port());
  SendAll(fd, "GET /v2/health/live HTTP/1.0\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd, &buffer), HasSubstr("Connection: close"));
  EXPECT_EQ(Receive(fd), "");
  ::close(fd);
  fd = Connect(http_->port());
  SendAll(fd, "GET /v2/health/live HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd, &buffer), HasSubstr("Connection: keep-alive"));
  SendAll(fd, "GET /v2/health/live HTTP/1.1\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd, &buffer), HasSubstr("Connection: close"));
  EXPECT_EQ(Receive(fd), "");
  ::close(fd);
}

// When every connection slot is taken, an answer closes its connection, so
// that idle kept-alive clients cannot keep new ones out.
TEST_F(HttpTest, AFullServerClosesEachConnectionAfterItsAnswer) {
  // Accepted in order, so both idle ones count before the third's request.
  const int idle1 = Connect(http_->port());
  const int idle2 = Connect(http_->port());
  const int fd = Connect(http_->port());
  std::string buffer;
  SendAll(fd, "GET /v2/health/live HTTP/1.1\r\n\r\n");
  const std::string answer = ReadResponse(fd, &buffer);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(answer, HasSubstr("Connection: close"));
  EXPECT_EQ(Receive(fd), "");
  for (int c : {fd, idle1, idle2}) ::close(c);
}

// Request bodies (at kBodyCost a byte) and answers being written hold the
// memory bound: a body that could never fit gets 413, one that does not
// fit now 503 before it is read, and what a request held is given back.
TEST_F(HttpTest, BodiesAndAnswersHoldTheMemoryBound) {
  // The JSON parser takes whitespace: a body of ~100 KB.
  const std::string padded = InferJson(1.0) + std::string(100000, ' ');
  const int64_t cost = HttpServer::kBodyCost * padded.size();
  HttpServer::Options options = Options();
  options.max_memory_bytes = cost + 50000;  // one such body and its answer
  StartHttp(options);
  const int port = http_->port();
  const std::string too_large(
      options.max_memory_bytes / HttpServer::kBodyCost + 1, ' ');
  EXPECT_THAT(Exchange(port, Post("/api/plan", too_large)),
              AllOf(StartsWith("HTTP/1.1 413 "),
                    HasSubstr("the HTTP memory bound admits")));
  FakeModelRunner& runner = *test_->fake_runner();
  runner.HoldRuns();
  std::string held;
  std::thread client(
      [&] { held = Exchange(port, Post("/api/infer", padded)); });
  runner.BlockUntilRunsStarted(1);
  EXPECT_THAT(Exchange(port, Post("/api/infer", padded)),
              AllOf(StartsWith("HTTP/1.1 503 "),
                    HasSubstr("hold their memory bound")));
  // Without a body nothing is held.
  EXPECT_THAT(Exchange(port, "GET /v2/health/live HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  runner.ReleaseRuns();
  client.join();
  EXPECT_THAT(held, StartsWith("HTTP/1.1 200 OK\r\n"));
  // Given back: the same body fits again, twice in a row.
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT(Exchange(port, Post("/api/infer", padded)),
                StartsWith("HTTP/1.1 200 OK\r\n"));
  }
  // An answer that does not fit (the page is larger than the bound).
  options.max_memory_bytes = 1000;
  StartHttp(options);
  EXPECT_THAT(Exchange(http_->port(), "GET / HTTP/1.1\r\n\r\n"),
              AllOf(StartsWith("HTTP/1.1 503 "), HasSubstr("answer: ")));
}

// A connection idle between requests does not hold up Shutdown(), however
// long its keep-alive timeout (were it waited for, this test would hang).
TEST_F(HttpTest, ShutdownDoesNotWaitForIdleConnections) {
  HttpServer::Options options = Options();
  options.keep_alive_timeout = absl::Hours(1);
  StartHttp(options);
  const int fd = Connect(http_->port());
  std::string buffer;
  SendAll(fd, "GET /v2/health/live HTTP/1.1\r\n\r\n");
  EXPECT_THAT(ReadResponse(fd, &buffer),
              HasSubstr("Connection: keep-alive\r\nKeep-Alive: timeout=3600"));
  http_->Shutdown();
  EXPECT_EQ(Receive(fd), "");
  ::close(fd);
}

// KServe v2's REST protocol (server/kserve_rest.h) on the same port: a PNG
// file in and outputs out as binary data, JSON numbers, readiness from the
// serving state, and hostile bodies.
TEST_F(HttpTest, KServeRestOverRealSockets) {
  const int port = http_->port();
  EXPECT_THAT(Exchange(port, "GET /v2/health/ready HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 400 "));  // not serving yet
  metrics_->SetServing(true);
  EXPECT_THAT(Exchange(port, "GET /v2/health/ready HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  const ModelInfo& info = test_->engine().model_info();
  const std::string infer = absl::StrCat("/v2/models/", info.name, "/infer");

  const std::string png = TestPng();
  std::string element(4, '\0');
  for (int i = 0; i < 4; ++i) {
    element[i] = static_cast<char>((png.size() >> (8 * i)) & 0xff);
  }
  element += png;
  const std::string header = absl::StrCat(
      R"({"parameters": {"budget_fraction": 0.5, "binary_data_output": true},
          "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                      "parameters": {"binary_data_size": )",
      element.size(), R"(}}], "outputs": [{"name": "depth"}]})");
  const std::string body = header + element;
  const std::string binary = Exchange(
      port, absl::StrCat("POST ", infer, " HTTP/1.1\r\nContent-Length: ",
                         body.size(), "\r\nInference-Header-Content-Length: ",
                         header.size(), "\r\n\r\n", body));
  EXPECT_THAT(binary, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(binary, HasSubstr("Content-Type: application/octet-stream"));
  EXPECT_THAT(binary, HasSubstr("Inference-Header-Content-Length: "));
  EXPECT_THAT(binary, HasSubstr(R"("binary_data_size":)"));

  const std::string json = Exchange(
      port, Post(infer, R"({"inputs": [{"name": "image", "datatype": "UINT8",
                 "shape": [2, 2, 3], "data": [0,0,0, 9,9,9, 50,50,50, 255,0,0]}],
                 "outputs": [{"name": "depth"}]})"));
  EXPECT_THAT(json, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(json, HasSubstr(R"("datatype":"FP32")"));
  EXPECT_THAT(json, HasSubstr(R"("data":[)"));

  EXPECT_THAT(Exchange(port, Post(infer, std::string(100000, '['))),
              HasSubstr("nested too deep"));
  const std::string lying = Exchange(
      port, absl::StrCat("POST ", infer, " HTTP/1.1\r\nContent-Length: 2\r\n"
                         "Inference-Header-Content-Length: 99\r\n\r\n{}"));
  EXPECT_THAT(lying, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(lying, HasSubstr("more than the body's 2 bytes"));
  EXPECT_THAT(Exchange(port, "POST /v2 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
              StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(Exchange(port, "GET /v2/models/other HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 "));
}

}  // namespace
}  // namespace slimserve
