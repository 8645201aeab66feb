// Writes procedural training samples as PNG files, for looking at and for
// offline use. For each index i in [start_index, start_index + count):
//
//   NNNNNN_rgb.png             8-bit RGB
//   NNNNNN_semantic.png        8-bit gray, class ids (0..7, see scene.h)
//   NNNNNN_semantic_color.png  RGB, ClassColor palette, for humans
//   NNNNNN_depth.png           16-bit gray, millimetres (as NYUD), clamped
//                              to 65535
//   NNNNNN_normals.png         RGB = round((n + 1) * 127.5), camera frame
//                              (x right, y down, z forward)
//   NNNNNN_edges.png           8-bit gray, 0 or 255
//
// where NNNNNN is i, zero-padded to six digits.
//
//   bazel run //tools/datagen:datagen -- --out=/tmp/data --count=16

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "image/codec.h"
#include "tools/datagen/scene.h"

ABSL_FLAG(std::string, out, "", "Output directory (created if missing).");
ABSL_FLAG(uint64_t, seed, 1, "Dataset seed.");
ABSL_FLAG(int64_t, count, 16, "Number of samples to write.");
ABSL_FLAG(uint64_t, start_index, 0, "Index of the first sample.");
ABSL_FLAG(int, height, 96, "Image height in pixels.");
ABSL_FLAG(int, width, 128, "Image width in pixels.");
ABSL_FLAG(int, threads, 0, "Worker threads; 0: one per core.");

namespace slimserve {
namespace datagen {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WritePng(const std::string& path, const void* pixels, int h, int w,
                      int channels, int bit_depth) {
  absl::StatusOr<std::string> png = EncodePng(pixels, h, w, channels, bit_depth);
  if (!png.ok()) return png.status();
  return WriteFile(path, *png);
}

absl::Status WriteSample(const std::string& dir, uint64_t index,
                         const Sample& s) {
  const std::string prefix =
      absl::StrCat(dir, "/", absl::StrFormat("%06d", index), "_");
  const int h = s.height, w = s.width;
  const size_t n = static_cast<size_t>(h) * w;

  absl::Status st = WritePng(prefix + "rgb.png", s.rgb.data(), h, w, 3, 8);
  if (!st.ok()) return st;
  st = WritePng(prefix + "semantic.png", s.semantic.data(), h, w, 1, 8);
  if (!st.ok()) return st;

  std::vector<uint8_t> color(3 * n);
  for (size_t i = 0; i < n; ++i) {
    const std::array<uint8_t, 3> c = ClassColor(s.semantic[i]);
    std::copy(c.begin(), c.end(), color.begin() + 3 * i);
  }
  st = WritePng(prefix + "semantic_color.png", color.data(), h, w, 3, 8);
  if (!st.ok()) return st;

  std::vector<uint16_t> depth_mm(n);
  for (size_t i = 0; i < n; ++i) {
    depth_mm[i] = static_cast<uint16_t>(
        std::clamp(std::round(s.depth[i] * 1000.0), 0.0, 65535.0));
  }
  st = WritePng(prefix + "depth.png", depth_mm.data(), h, w, 1, 16);
  if (!st.ok()) return st;

  std::vector<uint8_t> normals(3 * n);
  for (size_t i = 0; i < 3 * n; ++i) {
    normals[i] = static_cast<uint8_t>(
        std::clamp(std::round((s.normals[i] + 1.0) * 127.5), 0.0, 255.0));
  }
  st = WritePng(prefix + "normals.png", normals.data(), h, w, 3, 8);
  if (!st.ok()) return st;

  std::vector<uint8_t> edges(n);
  for (size_t i = 0; i < n; ++i) edges[i] = s.edges[i] ? 255 : 0;
  return WritePng(prefix + "edges.png", edges.data(), h, w, 1, 8);
}

int Main() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::fprintf(stderr, "datagen: --out is required\n");
    return 2;
  }
  SceneOptions options;
  options.height = absl::GetFlag(FLAGS_height);
  options.width = absl::GetFlag(FLAGS_width);
  if (absl::Status st = ValidateSceneOptions(options); !st.ok()) {
    std::fprintf(stderr, "datagen: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  const int64_t count = absl::GetFlag(FLAGS_count);
  if (count < 0) {
    std::fprintf(stderr, "datagen: --count must be >= 0\n");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "datagen: cannot create %s: %s\n", out.c_str(),
                 ec.message().c_str());
    return 1;
  }
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const uint64_t start = absl::GetFlag(FLAGS_start_index);
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<int>(std::min<int64_t>(threads, std::max<int64_t>(count, 1)));

  // Thread t writes samples t, t + threads, ...; each records its first
  // error.
  std::vector<absl::Status> errors(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Sample sample;
      for (int64_t k = t; k < count && errors[t].ok(); k += threads) {
        const uint64_t index = start + static_cast<uint64_t>(k);
        RenderSample(options, seed, index, &sample);
        errors[t] = WriteSample(out, index, sample);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  for (const absl::Status& st : errors) {
    if (!st.ok()) {
      std::fprintf(stderr, "datagen: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  std::printf("datagen: wrote %lld samples to %s\n",
              static_cast<long long>(count), out.c_str());
  return 0;
}

}  // namespace
}  // namespace datagen
}  // namespace slimserve

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return slimserve::datagen::Main();
}
