#include "server/http.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "google/protobuf/util/json_util.h"
#include "server/convert.h"
#include "server/json.h"
#include "server/kserve_rest.h"
#include "slimserve/v1/slimserve.pb.h"

// The page, embedded at build time (server/BUILD: web_page).
extern const char kSlimserveTryItPage[];

namespace slimserve {
namespace {

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // KServe's binary extension: the JSON part's length; -1: not sent.
  int64_t inference_header_length = -1;
};

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition: return 400;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

// A JSON string literal of `text` (which may be anything a client sent,
// already bounded).
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

Response ErrorResponse(const absl::Status& status) {
  Response r;
  r.status = HttpStatusFor(status.code());
  r.body = absl::StrCat("{\"code\": ",
                        JsonString(absl::StatusCodeToString(status.code())),
                        ", \"message\": ", JsonString(status.message()), "}\n");
  return r;
}

Response ErrorResponse(int http_status, absl::string_view message) {
  Response r;
  r.status = http_status;
  r.body = absl::StrCat("{\"code\": ", JsonString(Reason(http_status)),
                        ", \"message\": ", JsonString(message), "}\n");
  return r;
}

template <typename M>
absl::Status ParseJson(const std::string& body, M* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      google::protobuf::util::JsonStringToMessage(body, message, options);
  if (!status.ok()) {
    // protobuf's message may quote the input: bounded, escaped.
    return absl::InvalidArgumentError(absl::StrCat(
        "request: not JSON of ", M::descriptor()->full_name(), ": ",
        Bounded(std::string(status.message()), 160)));
  }
  return absl::OkStatus();
}

Response JsonResponse(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  Response r;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &r.body, options);
  if (!status.ok()) {
    return ErrorResponse(absl::InternalError(
        absl::StrCat("cannot write JSON: ", std::string(status.message()))));
  }
  return r;
}

// One request: method, path, body. Errors are HTTP statuses to send.
struct Request {
  std::string method;
  std::string path;
  std::string body;
  // Inference-Header-Content-Length (KServe's binary extension); -1: none.
  int64_t inference_header_length = -1;
  // What the client asked for: HTTP/1.1 keeps the connection unless it
  // sends "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive = false;
};

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// `keep_alive_seconds` > 0: the connection stays open for another request
// (the client may wait that long at most); otherwise it closes after this.
void Send(int fd, const Response& r, int64_t keep_alive_seconds = 0) {
  const std::string head = absl::StrCat(
      "HTTP/1.1 ", r.status, " ", Reason(r.status),
      "\r\nContent-Type: ", r.content_type,
      "\r\nContent-Length: ", r.body.size(),
      r.inference_header_length >= 0
          ? absl::StrCat("\r\nInference-Header-Content-Length: ",
                         r.inference_header_length)
          : std::string(),
      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff",
      keep_alive_seconds > 0
          ? absl::StrCat("\r\nConnection: keep-alive\r\nKeep-Alive: timeout=",
                         keep_alive_seconds)
          : std::string("\r\nConnection: close"),
      "\r\n\r\n");
  if (WriteAll(fd, head)) WriteAll(fd, r.body);
}

// Reads one request, starting with what an earlier read left in `pending`
// (a pipelining client's next request) and leaving there what follows this
// one. On failure returns the response to send instead.
absl::StatusOr<Request> ReadRequest(
    int fd, const HttpServer::Options& o, std::string* pending,
    const std::function<absl::optional<Response>(int64_t length)>& admit,
    Response* error) {
  std::string data = std::move(*pending);
  pending->clear();
  size_t header_end = data.find("\r\n\r\n");
  char buffer[8192];
  const auto too_large = [&] {
    *error = ErrorResponse(431, absl::StrCat("request line and headers: more "
                                             "than ",
                                             o.max_header_bytes, " bytes"));
    return absl::InvalidArgumentError("headers too large");
  };
  while (header_end == std::string::npos) {
    if (static_cast<int64_t>(data.size()) > o.max_header_bytes) {
      return too_large();
    }
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("connection closed");
    // The blank line may straddle the last read: look from just before it.
    const size_t from = data.size() < 3 ? 0 : data.size() - 3;
    data.append(buffer, static_cast<size_t>(n));
    header_end = data.find("\r\n\r\n", from);
  }
  if (static_cast<int64_t>(header_end) > o.max_header_bytes) return too_large();
  const absl::string_view head(data.data(), header_end);
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  std::vector<absl::string_view> first =
      absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  if (first.size() != 3 || !absl::StartsWith(first[2], "HTTP/1.")) {
    *error = ErrorResponse(400, "request line: not \"METHOD PATH HTTP/1.x\"");
    return absl::InvalidArgumentError("bad request line");
  }
  Request request;
  request.method = std::string(first[0]);
  request.path = std::string(first[1]);
  request.keep_alive = first[2] != "HTTP/1.0";
  int64_t length = 0;
  bool expect_continue = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(lines[i].substr(0, colon)));
    const absl::string_view value =
        absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (name == "content-length") {
      if (!absl::SimpleAtoi(value, &length) || length < 0) {
        *error = ErrorResponse(400, "Content-Length: not a byte count");
        return absl::InvalidArgumentError("bad length");
      }
    } else if (name == "inference-header-content-length") {
      if (!absl::SimpleAtoi(value, &request.inference_header_length) ||
          request.inference_header_length < 0) {
        *error = ErrorResponse(400, "Inference-Header-Content-Length: not a "
                                    "byte count");
        return absl::InvalidArgumentError("bad inference header length");
      }
    } else if (name == "connection") {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = absl::StripAsciiWhitespace(token);
        if (absl::EqualsIgnoreCase(token, "close")) request.keep_alive = false;
        if (absl::EqualsIgnoreCase(token, "keep-alive")) {
          request.keep_alive = true;
        }
      }
    } else if (name == "expect") {
      expect_continue = absl::EqualsIgnoreCase(value, "100-continue");
    } else if (name == "transfer-encoding") {
      *error = ErrorResponse(501, "Transfer-Encoding: not supported (send "
                                  "Content-Length)");
      return absl::InvalidArgumentError("chunked");
    }
  }
  if (length > o.max_body_bytes) {
    *error = ErrorResponse(413, absl::StrCat("body: ", length,
                                             " bytes, more than the limit of ",
                                             o.max_body_bytes));
    return absl::InvalidArgumentError("body too large");
  }
  // Before the body is read (and before 100 Continue invites it).
  if (absl::optional<Response> refused = admit(length)) {
    *error = *std::move(refused);
    return absl::ResourceExhaustedError("not admitted");
  }
  request.body = data.substr(header_end + 4);
  if (static_cast<int64_t>(request.body.size()) > length) {
    pending->assign(request.body, static_cast<size_t>(length));
    request.body.resize(static_cast<size_t>(length));
  }
  // curl asks before sending a body over 1 KiB and waits a second for the
  // answer: give it at once (the size is within the limit).
  if (expect_continue && static_cast<int64_t>(request.body.size()) < length) {
    WriteAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");
  }
  // No reserve(length): a client announcing 64 MiB and sending nothing
  // must not hold 64 MiB.
  while (static_cast<int64_t>(request.body.size()) < length) {
    const size_t want = std::min<size_t>(
        sizeof(buffer), static_cast<size_t>(length) - request.body.size());
    const ssize_t n = ::recv(fd, buffer, want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("connection closed in the body");
    request.body.append(buffer, static_cast<size_t>(n));
  }
  return request;
}

// After an answer to a request that was not read to its end: stop
// writing, then read (and drop) what the client still sends, briefly, so
// that closing with unread data does not reset the connection before the
// client has read the answer.
void LingeringClose(int fd) {
  ::shutdown(fd, SHUT_WR);
  timeval tv = absl::ToTimeval(absl::Seconds(1));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buffer[8192];
  for (size_t total = 0; total < (1u << 20);) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    total += static_cast<size_t>(n);
  }
}

void SetTimeouts(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// An inference through the engine, waited for on this thread.
absl::StatusOr<InferResult> RunInfer(Engine* engine, InferRequest request,
                                     absl::Duration timeout) {
  struct State {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::StatusOr<InferResult> result ABSL_GUARDED_BY(mu);
  };
  auto state = std::make_shared<State>();
  request.deadline = absl::Now() + timeout;
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  request.cancelled = cancelled;
  const absl::Status submitted = engine->Submit(
      std::move(request), [state](absl::StatusOr<InferResult> result) {
        absl::MutexLock lock(&state->mu);
        state->result = std::move(result);
        state->done = true;
      });
  if (!submitted.ok()) return submitted;
  // The engine answers every accepted request (at the latest when the
  // deadline drops it, or its batch ends).
  absl::MutexLock lock(&state->mu);
  state->mu.Await(absl::Condition(&state->done));
  return std::move(state->result);
}

Response RestResponse(int http_status, std::string body) {
  Response r;
  r.status = http_status;
  r.body = std::move(body);
  return r;
}

Response RestErrorResponse(const absl::Status& status) {
  return RestResponse(HttpStatusFor(status.code()),
                      RestError(status.message()));
}

// KServe v2's REST protocol (server/kserve_rest.h).
Response ServeRest(const Request& request, absl::string_view path,
                   Engine* engine, Metrics* metrics,
                   const HttpServer::Options& options, absl::Time arrival) {
  absl::StatusOr<RestRoute> route = ParseRestRoute(path);
  if (!route.ok()) return RestErrorResponse(route.status());
  const ModelInfo& info = engine->model_info();
  const bool infer = route->kind == RestRoute::Kind::kModelInfer;
  if (infer != (request.method == "POST")) {
    return RestResponse(405, RestError(infer ? "POST a JSON request"
                                             : "GET only"));
  }
  const bool ready = metrics->Serving();
  switch (route->kind) {
    case RestRoute::Kind::kServerMetadata:
      return RestResponse(200, RestServerMetadata());
    case RestRoute::Kind::kLive:
      return RestResponse(200, "{\"live\":true}");
    case RestRoute::Kind::kReady:
      // The protocol: 200 is true, a 4xx false.
      return RestResponse(ready ? 200 : 400,
                          ready ? "{\"ready\":true}" : "{\"ready\":false}");
    default:
      break;
  }
  if (absl::Status st = CheckKServeModel("path: model", route->model,
                                         "path: version", route->version, info);
      !st.ok()) {
    return RestErrorResponse(st);
  }
  if (route->kind == RestRoute::Kind::kModelMetadata) {
    return RestResponse(200, RestModelMetadata(info));
  }
  if (route->kind == RestRoute::Kind::kModelReady) {
    std::string body;
    AppendJsonString(info.name, &body);
    body = absl::StrCat("{\"name\":", body, ",\"ready\":",
                        ready ? "true" : "false", "}");
    return RestResponse(ready ? 200 : 400, std::move(body));
  }
  metrics->RpcStarted(Rpc::kHttpModelInfer);
  absl::StatusOr<RestInfer> mapped = RestInferFromHttp(
      request.body, request.inference_header_length, *route, info);
  absl::StatusOr<InferResult> result =
      mapped.ok() ? RunInfer(engine, std::move(mapped->call.request),
                             std::min(options.infer_timeout,
                                      mapped->call.timeout))
                  : absl::StatusOr<InferResult>(mapped.status());
  Response response;
  if (result.ok()) {
    metrics->RecordAnswer(*result);
    RestBody body = RestInferResponse(*std::move(result), *mapped, info,
                                      absl::Now() - arrival);
    response.body = std::move(body.body);
    response.inference_header_length = body.header_length;
    if (body.header_length >= 0) {
      response.content_type = "application/octet-stream";
    }
  } else {
    response = RestErrorResponse(result.status());
    SLIM_LOG(WARNING) << "http " << Bounded(path, 80)
                      << " failed: " << result.status();
  }
  metrics->RpcFinished(Rpc::kHttpModelInfer, result.status().code(),
                       absl::Now() - arrival);
  return response;
}

// The answer to one request.
Response Handle(const Request& request, Engine* engine, Metrics* metrics,
                const HttpServer::Options& options) {
  const absl::Time arrival = absl::Now();
  const std::string path = request.path.substr(0, request.path.find('?'));
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  Response response;
  if (path == "/" || path == "/index.html") {
    if (!get) {
      response = ErrorResponse(405, "GET only");
    } else {
      response.content_type = "text/html; charset=utf-8";
      response.body = kSlimserveTryItPage;
    }
  } else if (path == "/api/model_info") {
    metrics->RpcStarted(Rpc::kHttpModelInfo);
    response = get ? JsonResponse(ModelInfoToProto(engine->model_info()))
                   : ErrorResponse(405, "GET only");
    metrics->RpcFinished(Rpc::kHttpModelInfo,
                         response.status == 200
                             ? absl::StatusCode::kOk
                             : absl::StatusCode::kInvalidArgument,
                         absl::Now() - arrival);
  } else if (path == "/api/plan" || path == "/api/infer") {
    const bool infer = path == "/api/infer";
    const Rpc rpc = infer ? Rpc::kHttpInfer : Rpc::kHttpPlan;
    metrics->RpcStarted(rpc);
    absl::Status status;
    if (!post) {
      status = absl::InvalidArgumentError("POST a JSON request");
    } else if (infer) {
      v1::InferRequest message;
      status = ParseJson(request.body, &message);
      absl::StatusOr<InferRequest> engine_request =
          status.ok() ? InferRequestFromProto(message)
                      : absl::StatusOr<InferRequest>(status);
      absl::StatusOr<InferResult> result =
          engine_request.ok()
              ? RunInfer(engine, *std::move(engine_request),
                         options.infer_timeout)
              : absl::StatusOr<InferResult>(engine_request.status());
      status = result.status();
      if (result.ok()) {
        metrics->RecordAnswer(*result);
        v1::InferResponse out;
        InferResultToProto(*std::move(result), &out);
        out.set_request_id(message.request_id());
        out.mutable_timings()->set_total_ms(
            absl::ToDoubleMilliseconds(absl::Now() - arrival));
        response = JsonResponse(out);
      }
    } else {
      v1::PlanRequest message;
      status = ParseJson(request.body, &message);
      absl::StatusOr<PlanRequest> plan_request =
          status.ok() ? PlanRequestFromProto(message)
                      : absl::StatusOr<PlanRequest>(status);
      absl::StatusOr<ArchPlan> plan = plan_request.ok()
                                          ? engine->PlanFor(*plan_request)
                                          : plan_request.status();
      status = plan.status();
      if (plan.ok()) {
        v1::PlanResponse out;
        out.set_request_id(message.request_id());
        PlanToProto(*plan, out.mutable_plan());
        response = JsonResponse(out);
      }
    }
    if (!status.ok()) {
      response = ErrorResponse(status);
      SLIM_LOG(WARNING) << "http " << path << " failed: " << status;
    }
    metrics->RpcFinished(rpc, status.code(), absl::Now() - arrival);
  } else if (path == "/v2" || absl::StartsWith(path, "/v2/")) {
    response = ServeRest(request, path, engine, metrics, options, arrival);
  } else {
    response = ErrorResponse(404, absl::StrCat("no page ", Bounded(path)));
  }
  return response;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const Options& options, Engine* engine, Metrics* metrics) {
  if (options.max_connections < 1 || options.max_header_bytes < 1 ||
      options.max_body_bytes < 1 || options.io_timeout <= absl::ZeroDuration() ||
      options.infer_timeout <= absl::ZeroDuration() ||
      options.keep_alive_timeout <= absl::ZeroDuration() ||
      options.max_requests_per_connection < 1 ||
      options.max_memory_bytes < 0) {
    return absl::InvalidArgumentError(
        "HttpServer::Options: max_connections, max_header_bytes, "
        "max_body_bytes, io_timeout, infer_timeout, keep_alive_timeout and "
        "max_requests_per_connection must be > 0, max_memory_bytes >= 0");
  }
  const size_t colon = options.address.rfind(':');
  if (colon == std::string::npos || colon + 1 == options.address.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http_address: want host:port, got \"", Bounded(options.address),
        "\""));
  }
  std::string host = options.address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = options.address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(),
                    &hints, &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http_address: cannot resolve \"", Bounded(options.address), "\""));
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", Bounded(options.address)));
  }
  sockaddr_storage bound{};
  socklen_t bound_size = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_size);
  const int port =
      bound.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
          : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0) {
    ::close(fd);
    return absl::InternalError("pipe2 failed");
  }
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, engine, metrics, fd, port, wake[0], wake[1]));
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

HttpServer::HttpServer(const Options& options, Engine* engine,
                       Metrics* metrics, int listen_fd, int port,
                       int wake_read, int wake_write)
    : options_(options),
      engine_(engine),
      metrics_(metrics),
      listen_fd_(listen_fd),
      port_(port),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

HttpServer::~HttpServer() {
  Shutdown();
  ::close(wake_read_);
  ::close(wake_write_);
}

void HttpServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  const char byte = 0;
  (void)!::write(wake_write_, &byte, 1);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);  // new connections are refused from here on
  // Connections finish their request (bounded by the socket timeouts and
  // the inference timeout).
  absl::MutexLock lock(&connections_->mu);
  connections_->mu.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &connections_->open));
}

void HttpServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the listener stays readable, so wait a little
      // instead of spinning until some connection ends.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        absl::SleepFor(absl::Milliseconds(10));
      }
      continue;
    }
    SetTimeouts(fd, options_.io_timeout);
    bool admit;
    {
      absl::MutexLock lock(&connections_->mu);
      admit = connections_->open < options_.max_connections;
      if (admit) ++connections_->open;
    }
    if (!admit) {
      Send(fd, ErrorResponse(503, "too many connections; retry later"));
      ::close(fd);
      continue;
    }
    // Detached: the count lives in a shared block, so the thread's last
    // step (the unlock after the decrement) never touches a destroyed
    // server.
    std::thread([this, fd, connections = connections_] {
      Serve(fd);
      ::close(fd);
      absl::MutexLock lock(&connections->mu);
      --connections->open;
    }).detach();
  }
}

void HttpServer::Serve(int fd) {
  std::string pending;
  for (int served = 0;; ++served) {
    // Between requests: wait for the next one's first byte, for a kept-alive
    // connection at most keep_alive_timeout, and not past Shutdown().
    if (pending.empty()) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {wake_read_, POLLIN, 0}};
      const absl::Duration wait =
          served == 0 ? options_.io_timeout : options_.keep_alive_timeout;
      int ready;
      do {
        ready = ::poll(fds, 2,
                       static_cast<int>(std::min<int64_t>(
                           absl::ToInt64Milliseconds(wait), 1 << 30)));
      } while (ready < 0 && errno == EINTR);
      if (ready <= 0 || fds[1].revents != 0 || fds[0].revents == 0) return;
    }
    // What this request holds against max_memory_bytes: its body until it
    // has been handled, then its answer until it has been written.
    int64_t held = 0;
    const auto hold = [&](int64_t bytes) {
      if (options_.max_memory_bytes <= 0 || bytes <= 0) return true;
      absl::MutexLock lock(&connections_->mu);
      if (connections_->memory + bytes > options_.max_memory_bytes) {
        return false;
      }
      connections_->memory += bytes;
      held += bytes;
      return true;
    };
    const auto release = [&] {
      if (held == 0) return;
      absl::MutexLock lock(&connections_->mu);
      connections_->memory -= held;
      held = 0;
    };
    const auto admit = [&](int64_t length) -> absl::optional<Response> {
      const int64_t cost = length * kBodyCost;
      if (options_.max_memory_bytes > 0 && cost > options_.max_memory_bytes) {
        return ErrorResponse(
            413, absl::StrCat("body: ", length, " bytes, more than the ",
                              options_.max_memory_bytes / kBodyCost,
                              " the HTTP memory bound admits "
                              "(--max_http_memory_bytes / ",
                              kBodyCost, ")"));
      }
      if (!hold(cost)) {
        return ErrorResponse(503, "HTTP requests in progress hold their "
                                  "memory bound (--max_http_memory_bytes); "
                                  "retry later");
      }
      return absl::nullopt;
    };
    Response error;
    absl::StatusOr<Request> request =
        ReadRequest(fd, options_, &pending, admit, &error);
    if (!request.ok()) {
      release();
      if (error.status != 200) {
        Send(fd, error);
        LingeringClose(fd);
      }
      return;
    }
    Response response = Handle(*request, engine_, metrics_, options_);
    request->body.clear();
    request->body.shrink_to_fit();
    release();
    if (!hold(static_cast<int64_t>(response.body.size()))) {
      response = ErrorResponse(503, absl::StrCat(
          "answer: ", response.body.size(), " bytes, more than the HTTP "
          "memory bound (--max_http_memory_bytes) has free; retry later"));
    }
    // Keep the connection for the client's next request unless it asked
    // not to, it has had its share, or the server is full or stopping (an
    // idle connection must not hold the slot a new client needs).
    bool keep = request->keep_alive &&
                served + 1 < options_.max_requests_per_connection;
    if (keep) {
      absl::MutexLock lock(&connections_->mu);
      keep = connections_->open < options_.max_connections;
    }
    if (keep) {
      absl::MutexLock lock(&mu_);
      keep = !shut_down_;
    }
    Send(fd, response,
         keep ? std::max<int64_t>(
                    1, absl::ToInt64Seconds(options_.keep_alive_timeout))
              : 0);
    release();
    if (!keep) return;
  }
}


}  // namespace slimserve
