#include "server/stream.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/strings.h"
#include "server/call.h"
#include "server/convert.h"
#include "slimserve/v1/slimserve.pb.h"

namespace slimserve {
namespace {

// INVALID_ARGUMENT unless `ms` is a timeout: finite and >= 0 (0: none).
absl::Status CheckTimeout(absl::string_view field, double ms) {
  if (!(ms >= 0) || !std::isfinite(ms)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": must be a finite number of ms >= 0 (0: none), got ", ms));
  }
  return absl::OkStatus();
}

class StreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(grpc::CallbackServerContext* context, Engine* engine,
                Metrics* metrics, int max_inflight_frames, Rpc rpc,
                std::unique_ptr<StreamCodec> codec)
      : context_(context),
        engine_(engine),
        metrics_(metrics),
        max_inflight_(std::max(1, max_inflight_frames)),
        rpc_(rpc),
        stream_deadline_(DeadlineOf(*context)),
        codec_(std::move(codec)) {
    metrics_->StreamStarted();
    {
      absl::MutexLock lock(&mu_);
      reading_ = true;
    }
    StartRead(&read_buffer_);
  }

  void OnReadDone(bool ok) override {
    if (ok) HandleMessage();
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) read_done_ = true;  // half-close, cancellation or a dead peer
      actions = NextActions();
    }
    Run(actions);
  }

  void OnWriteDone(bool ok) override {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // nobody reads any more: drop the rest
      slots_.pop_front();
      actions = NextActions();
    }
    Run(actions);
  }

  void OnCancel() override { cancelled_->store(true); }

  // Finish() ran only once no frame was unanswered, so no engine callback
  // can still reach this; gRPC calls OnDone after every other reaction has
  // returned.
  void OnDone() override { delete this; }

 private:
  // One frame, from its arrival until its response is written.
  struct Slot {
    std::string id;  // for logs
    absl::Time arrival;
    StreamEncoder encode;
    bool done = false;  // `bytes` holds the serialised response
    grpc::ByteBuffer bytes;
  };

  // What to start once mu_ is released (gRPC may run reactions inline).
  struct Actions {
    grpc::ByteBuffer* write = nullptr;
    bool read = false;
    bool finish = false;
  };

  // The stream's next steps, in order: write the oldest answered frame,
  // read another while there is room, finish when everything is answered.
  Actions NextActions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions actions;
    if (broken_) {
      while (!writing_ && !slots_.empty() && slots_.front()->done) {
        slots_.pop_front();
      }
    } else if (!writing_ && !slots_.empty() && slots_.front()->done) {
      writing_ = true;
      actions.write = &slots_.front()->bytes;
    }
    if (!reading_ && !read_done_ && !broken_ &&
        static_cast<int>(slots_.size()) < max_inflight_) {
      reading_ = true;
      actions.read = true;
    }
    // Broken: no more reads are started, so read_done_ may never come.
    if (!finished_ && (read_done_ || broken_) && !reading_ && !writing_ &&
        slots_.empty()) {
      finished_ = true;
      actions.finish = true;
    }
    return actions;
  }

  // Starts what NextActions decided. After Finish() `this` may be gone.
  void Run(const Actions& actions) {
    if (actions.write != nullptr) StartWrite(actions.write);
    if (actions.read) StartRead(&read_buffer_);
    if (actions.finish) {
      absl::Status status = absl::OkStatus();
      if (cancelled_->load() || context_->IsCancelled()) {
        status = absl::Now() >= stream_deadline_
                     ? absl::DeadlineExceededError("stream deadline passed")
                     : absl::CancelledError("stream cancelled");
      }
      metrics_->StreamFinished(rpc_, status.code());
      Finish(ToGrpcStatus(status));
    }
  }

  // One message from read_buffer_, through the codec. Runs on the reading
  // thread only (one read at a time).
  void HandleMessage() {
    const absl::Time arrival = absl::Now();
    std::optional<StreamFrame> frame = codec_->Decode(read_buffer_);
    if (!frame.has_value()) return;  // no frame in it
    Slot* slot = NewSlot(arrival, std::move(*frame));
    metrics_->FrameStarted();
    absl::StatusOr<InferRequest>& request = frame->request;
    if (!request.ok()) {
      FrameDone(slot, request.status());
      return;
    }
    request->deadline = stream_deadline_;
    if (frame->timeout_ms > 0) {
      request->deadline = std::min(
          request->deadline, arrival + absl::Milliseconds(frame->timeout_ms));
    }
    if (request->deadline <= arrival) {
      FrameDone(slot, absl::DeadlineExceededError(
                          "deadline passed before the frame arrived"));
      return;
    }
    request->cancelled = cancelled_;
    const absl::Status submitted = engine_->Submit(
        *std::move(request), [this, slot](absl::StatusOr<InferResult> result) {
          FrameDone(slot, std::move(result));
        });
    if (!submitted.ok()) FrameDone(slot, submitted);
  }

  // Takes the frame's id and encoder (not its request).
  Slot* NewSlot(absl::Time arrival, StreamFrame&& frame) {
    auto slot = std::make_unique<Slot>();
    slot->arrival = arrival;
    slot->id = std::move(frame.id);
    slot->encode = std::move(frame.encode);
    Slot* raw = slot.get();
    absl::MutexLock lock(&mu_);
    slots_.push_back(std::move(slot));
    return raw;
  }

  // The frame's response into its slot, then the stream's next steps. Any
  // thread; exactly once per slot.
  void FrameDone(Slot* slot, absl::StatusOr<InferResult> result) {
    absl::Status status = result.status();
    std::string plan;  // only when debug lines are written: a hot path
    if (result.ok()) {
      metrics_->RecordAnswer(*result);
      if (DebugLogOn()) plan = DescribePlan(result->plan);
    }
    const absl::Status encoded = slot->encode(
        std::move(result), absl::Now() - slot->arrival, &slot->bytes);
    if (!encoded.ok()) {
      // Too large to serialise: the frame's error instead (small: fits).
      status = encoded;
      slot->encode(status, absl::Now() - slot->arrival, &slot->bytes)
          .IgnoreError();
    }
    const absl::Duration total = absl::Now() - slot->arrival;
    if (status.ok()) {
      SLIM_LOG(DEBUG) << absl::StrFormat("stream frame id=%s OK plan: %s; "
                                         "total %.2f ms",
                                         Bounded(slot->id), plan,
                                         absl::ToDoubleMilliseconds(total));
    } else if (status.code() != absl::StatusCode::kCancelled) {
      LogFailure("stream frame", slot->id, status);
    }
    metrics_->FrameFinished(status.code(), total);
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      slot->done = true;
      actions = NextActions();
    }
    Run(actions);
  }

  // Constant after construction.
  grpc::CallbackServerContext* const context_;
  Engine* const engine_;
  Metrics* const metrics_;
  const int max_inflight_;
  const Rpc rpc_;
  const absl::Time stream_deadline_;
  // Every frame's; set when the client cancels (or the deadline passes).
  const std::shared_ptr<std::atomic<bool>> cancelled_ =
      std::make_shared<std::atomic<bool>>(false);

  // Touched by the reading thread only: one read is outstanding at a time.
  grpc::ByteBuffer read_buffer_;
  const std::unique_ptr<StreamCodec> codec_;

  absl::Mutex mu_;
  // Frames in arrival order, from arrival until written (or dropped).
  std::deque<std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// InferStreamRequest -> a frame with the stream's defaults filled in;
// the answer as an InferStreamResponse.
class V1Codec final : public StreamCodec {
 public:
  std::optional<StreamFrame> Decode(const grpc::ByteBuffer& bytes) override {
    v1::InferStreamRequest message;
    absl::Status status = ParseRequest(bytes, &message);
    if (status.ok() && message.has_defaults()) {
      status = CheckTimeout("defaults.frame_timeout_ms",
                            message.defaults().frame_timeout_ms());
      if (status.ok()) defaults_ = message.defaults();
    }
    if (status.ok() && !message.has_frame()) return std::nullopt;
    if (status.ok()) status = CheckTimeout("timeout_ms", message.timeout_ms());

    StreamFrame frame;
    // An id over the limit is refused (the frame's error) and not echoed.
    if (message.frame().request_id().size() <= kMaxRequestIdBytes) {
      frame.id = message.frame().request_id();
    }
    frame.encode = [id = frame.id](absl::StatusOr<InferResult> result,
                                   absl::Duration total,
                                   grpc::ByteBuffer* out) {
      v1::InferStreamResponse response;
      response.set_request_id(id);
      if (result.ok()) {
        v1::InferResponse* answer = response.mutable_response();
        InferResultToProto(*std::move(result), answer);
        answer->set_request_id(id);
        answer->mutable_timings()->set_total_ms(
            absl::ToDoubleMilliseconds(total));
      } else {
        response.mutable_error()->set_code(
            static_cast<int>(result.status().code()));
        response.mutable_error()->set_message(
            std::string(result.status().message()));
      }
      return SerializeResponse(response, out);
    };
    if (!status.ok()) {
      frame.request = status;
      return frame;
    }
    v1::InferRequest request = std::move(*message.mutable_frame());
    ApplyStreamDefaults(defaults_, &request);
    frame.request = InferRequestFromProto(request);
    frame.timeout_ms = message.timeout_ms() > 0 ? message.timeout_ms()
                                                : defaults_.frame_timeout_ms();
    return frame;
  }

 private:
  v1::StreamDefaults defaults_;
};

}  // namespace

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StartStream(
    grpc::CallbackServerContext* context, Engine* engine, Metrics* metrics,
    int max_inflight_frames, Rpc rpc, std::unique_ptr<StreamCodec> codec) {
  return new StreamReactor(context, engine, metrics, max_inflight_frames, rpc,
                           std::move(codec));
}

std::unique_ptr<StreamCodec> V1StreamCodec() {
  return std::make_unique<V1Codec>();
}

}  // namespace slimserve
