// slimbench: load generator for slimserve. Examples:
//   slimbench --target=localhost:50051 --concurrency=16 --duration_s=20
//   slimbench --rate=40 --deadline_ms=200 --budgets=0.25,0.5,1 --weights=random
//   slimbench --concurrency=4 --images=a.png,b.jpg --json_out=report.json
//   slimbench --streams=4 --stream_window=4 --frame_rate=30 --budgets=0.25

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "base/files.h"
#include "client/bench.h"
#include "client/channel_flags.h"
#include "image/codec.h"

ABSL_FLAG(std::string, target, "localhost:50051", "Server address");
ABSL_FLAG(int, concurrency, 0, "Closed loop: calls always outstanding");
ABSL_FLAG(double, rate, 0, "Open loop: Poisson arrivals per second");
ABSL_FLAG(int, streams, 0, "InferStreams: this many, each --stream_window "
          "frames unanswered");
ABSL_FLAG(int, stream_window, 4, "Frames each stream keeps unanswered");
ABSL_FLAG(double, frame_rate, 0,
          "Per stream, frames/s (a camera); 0: as fast as the window allows");
ABSL_FLAG(double, duration_s, 10, "Measured window, seconds");
ABSL_FLAG(double, warmup_s, 1, "Unmeasured warm-up before the window");
ABSL_FLAG(double, deadline_ms, 0, "Per-request deadline and SLO; 0: none");
ABSL_FLAG(std::string, budgets, "0.25,0.5,1.0",
          "Budget fractions, used in turn");
ABSL_FLAG(std::string, weights, "random",
          "\"random\" (per request), \"all\", or task=weight,...");
ABSL_FLAG(std::string, images, "",
          "Comma-separated PNG/JPEG files; empty: generated images");
ABSL_FLAG(std::string, image_size, "480x640",
          "HxW of generated images (when --images is empty)");
ABSL_FLAG(std::string, image_format, "png",
          "generated images as png, jpeg (quality 90) or raw (uint8 RGB "
          "pixels)");
ABSL_FLAG(std::string, output_format, "png", "png or raw");
ABSL_FLAG(bool, keep_freed_memory, false,
          "keep freed large blocks in the heap (glibc mallopt) instead of "
          "returning them to the kernel: RAW responses then cost this client "
          "a tenth of the CPU; the benchmark scripts set it");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the workload");
ABSL_FLAG(bool, retry, false,
          "Retry UNAVAILABLE / RESOURCE_EXHAUSTED / CANCELLED calls with "
          "gRPC's retry policy (client/channel.h); off: count refusals as "
          "the server gave them");
ABSL_FLAG(std::string, json_out, "", "Also write the report as JSON here");

namespace {

// Smooth colour gradients with a few blocks: compresses like a photo more
// than noise does, and is different per index.
std::vector<uint8_t> GeneratedPixels(int h, int w, int index) {
  std::vector<uint8_t> rgb(static_cast<size_t>(h) * w * 3);
  std::mt19937 rng(index);
  const int bx = rng() % w, by = rng() % h;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      const bool block = std::abs(x - bx) < w / 6 && std::abs(y - by) < h / 6;
      p[0] = static_cast<uint8_t>(block ? 200 : 255 * x / w);
      p[1] = static_cast<uint8_t>(block ? 40 : 255 * y / h);
      p[2] = static_cast<uint8_t>((index * 50 + x + y) % 256);
    }
  }
  return rgb;
}

// `format`: png, jpeg or raw; false when it is none of them.
bool GeneratedImage(int h, int w, int index, const std::string& format,
                    slimserve::v1::Image* image) {
  const std::vector<uint8_t> rgb = GeneratedPixels(h, w, index);
  if (format == "png") {
    image->set_encoded(*slimserve::EncodePng(rgb.data(), h, w, 3, 8));
  } else if (format == "jpeg") {
    image->set_encoded(*slimserve::EncodeJpeg(rgb.data(), h, w, 90));
  } else if (format == "raw") {
    auto* raw = image->mutable_raw();
    raw->set_height(h);
    raw->set_width(w);
    raw->set_channels(3);
    raw->set_data(rgb.data(), rgb.size());
  } else {
    return false;
  }
  return true;
}

// SIGTERM and SIGINT end the run early (it still reports): blocked here
// before any thread starts, so every thread inherits the mask, and taken by
// one thread with sigwait, where notifying is safe (not in a handler).
void StopOnSignals(absl::Notification* stop) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals, stop] {
    int signal = 0;
    sigwait(&signals, &signal);
    stop->Notify();
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "slimbench (--concurrency=N | --rate=R | --streams=N) [--duration_s=S] "
      "...\n"
      "SIGTERM/SIGINT stop it early; it reports on the time so far.");
  absl::ParseCommandLine(argc, argv);
  // glibc gives a freed large block (a RAW response is ~0.6 MB) back to the
  // kernel, so the next response's receive buffers page-fault afresh: with
  // RAW outputs that cost this client 3.5 ms of CPU a call on the cores it
  // shares with the server, more than the server's own work
  // (tests/benchmarks/README.md). The flag keeps such blocks in the heap.
  // Off by default, as the process's memory then stays at its peak.
  if (absl::GetFlag(FLAGS_keep_freed_memory)) {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
  }
  static absl::Notification stop;
  StopOnSignals(&stop);
  namespace b = slimserve::bench;
  b::BenchOptions o;
  o.stop = &stop;
  o.target = absl::GetFlag(FLAGS_target);
  o.channel.retry = absl::GetFlag(FLAGS_retry);
  absl::StatusOr<slimserve::ChannelOptions> channel =
      slimserve::ChannelOptionsFromFlags(o.channel);
  if (!channel.ok()) {
    std::cerr << "error: " << channel.status().message() << "\n";
    return 2;
  }
  o.channel = *std::move(channel);
  o.concurrency = absl::GetFlag(FLAGS_concurrency);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.streams = absl::GetFlag(FLAGS_streams);
  o.stream_window = absl::GetFlag(FLAGS_stream_window);
  o.frame_rate = absl::GetFlag(FLAGS_frame_rate);
  o.duration = absl::Seconds(absl::GetFlag(FLAGS_duration_s));
  o.warmup = absl::Seconds(absl::GetFlag(FLAGS_warmup_s));
  o.deadline = absl::Milliseconds(absl::GetFlag(FLAGS_deadline_ms));
  o.seed = absl::GetFlag(FLAGS_seed);
  o.png_outputs = absl::GetFlag(FLAGS_output_format) != "raw";
  auto mix = b::ParseMix(absl::GetFlag(FLAGS_budgets), absl::GetFlag(FLAGS_weights));
  if (!mix.ok()) {
    std::cerr << "error: " << mix.status().message() << "\n";
    return 2;
  }
  o.mix = *mix;
  const std::string images = absl::GetFlag(FLAGS_images);
  if (images.empty()) {
    int h = 0, w = 0;
    std::vector<std::string> hw = absl::StrSplit(absl::GetFlag(FLAGS_image_size), 'x');
    if (hw.size() != 2 || (h = std::atoi(hw[0].c_str())) <= 0 ||
        (w = std::atoi(hw[1].c_str())) <= 0) {
      std::cerr << "error: --image_size must be HxW\n";
      return 2;
    }
    for (int i = 0; i < 4; ++i) {
      if (!GeneratedImage(h, w, i, absl::GetFlag(FLAGS_image_format),
                          &o.images.emplace_back())) {
        std::cerr << "error: --image_format must be png, jpeg or raw\n";
        return 2;
      }
    }
  } else {
    for (const std::string& path :
         std::vector<std::string>(absl::StrSplit(images, ',', absl::SkipEmpty()))) {
      absl::StatusOr<std::string> bytes = slimserve::ReadFileBytes(path);
      if (!bytes.ok()) {
        std::cerr << "error: --images: " << bytes.status().message() << "\n";
        return 1;
      }
      o.images.emplace_back().set_encoded(*std::move(bytes));
    }
  }
  if (auto st = b::ValidateBenchOptions(o); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 2;
  }
  auto report = b::RunBench(o);
  if (!report.ok()) {
    std::cerr << "error: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << b::ReportText(*report) << std::flush;
  const std::string json = absl::GetFlag(FLAGS_json_out);
  if (!json.empty()) std::ofstream(json) << b::ReportJson(*report);
  // Done: skip static destruction and gRPC's shutdown at exit, where gRPC
  // 1.51 tears down callback-API state from its own threads and, after a
  // server was SIGKILLed mid-run, has aborted this process with
  // "ref_counted.h: assertion failed: prior > 0" (replicas_test).
  std::_Exit(0);
}
